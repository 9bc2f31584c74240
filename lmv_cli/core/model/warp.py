"""Differentiable warp primitives (docs/capture.md#conventions) in two conventions (see `lmv_cli.core.conventions`).

`backward_warp(x, mv)` gathers `out(p) = x(p − mv(p))` with `mv` in NDC, y down, full width = 2.

- `convention="exact"` (lmv's default): sample points are pixel centres and a motion of `mv_x` moves
  `mv_x · W/2` pixels (`grid_sample(align_corners=False)`), the exact meaning of UE4 velocity. The numpy
  `conventions.backward_warp_np` is the reference this is tested against.
- `convention="original"` (the released network, docs/deviations.md): the base grid is `linspace(−1, 1, W)`,
  sampled with `align_corners=True`, so the first and last pixel centres sit at ±1 and a motion of
  `mv_x` moves `mv_x · (W−1)/2` pixels. At a pyramid level of width w the same NDC value moves
  `mv_x · (w−1)/2` there, so the two conventions differ most at the coarse levels.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F

from lmv_cli.core.errors import ConfigError

WarpConvention = Literal["exact", "original"]
WARP_CONVENTIONS: tuple[str, ...] = ("exact", "original")


def base_grid(
    height: int, width: int, *, device=None, dtype=torch.float32, convention: WarpConvention = "exact"
) -> torch.Tensor:
    """Normalised pixel-centre coordinates (1, H, W, 2), x then y: in (−1, 1) for "exact"
    (align_corners=False), `linspace(−1, 1, ·)` for "original" (align_corners=True)."""
    if convention == "original":
        ys, xs = _linspace_pm1(height, device, dtype), _linspace_pm1(width, device, dtype)
    else:
        ys = (torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1
        xs = (torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).unsqueeze(0)


def _linspace_pm1(n: int, device, dtype: torch.dtype) -> torch.Tensor:
    """`torch.linspace(−1, 1, n)` bit for bit in float32, written with `arange` so that exported graphs
    keep n dynamic (linspace specialises it to the traced size). torch's kernel takes the float32 step
    2/(n−1) and computes `−1 + step·i` up to the middle and `1 − step·(n−1−i)` after it, each with one
    rounding (a fused multiply-add); float64 arithmetic is exact here, so rounding it once matches."""
    step = (torch.tensor(2.0, dtype=torch.float32, device=device) / max(n - 1, 1)).double()
    i = torch.arange(n, device=device, dtype=torch.float64)
    return torch.where(i < max(n // 2, 1), step * i - 1.0, 1.0 - step * (n - 1 - i)).to(dtype)


def backward_warp(
    x: torch.Tensor,
    mv: torch.Tensor,
    *,
    mode: str = "bilinear",
    padding: str = "border",
    convention: WarpConvention = "exact",
) -> torch.Tensor:
    """Warp x (B, C, H, W) by mv (B, 2, H, W), NDC y down: `out(p) = x(p − mv(p))`.

    `mode` is "bilinear" or "nearest" (nearest has no gradient w.r.t. mv, docs/model.md#learnable-motion-vectors); `padding` is
    "border" (colours, features) or "zeros" (motion-vector gathers, docs/model.md#merged-motion-vectors); `convention` is
    "exact" or "original" (module docstring).
    """
    if convention not in WARP_CONVENTIONS:
        raise ConfigError(f"warp: expected one of {WARP_CONVENTIONS}, got {convention!r}")
    _, _, h, w = x.shape
    grid = _base_grid(h, w, mv.device, mv.dtype, convention) - mv.permute(0, 2, 3, 1)
    return F.grid_sample(
        x, grid.to(x.dtype), mode=mode, padding_mode=padding, align_corners=convention == "original"
    )


def _base_grid(height: int, width: int, device: torch.device, dtype: torch.dtype, convention: str) -> torch.Tensor:
    """`base_grid`, built once per size when running eagerly (building a 720p grid costs about a quarter of
    sampling a 3-channel map with it); traced or exported graphs build it from `arange` so that H and W
    stay dynamic."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return base_grid(height, width, device=device, dtype=dtype, convention=convention)
    return _cached_grid(height, width, device, dtype, convention)


@functools.lru_cache(maxsize=32)
def _cached_grid(height: int, width: int, device: torch.device, dtype: torch.dtype, convention: str) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():  # a plain tensor, usable under autograd and inference mode
        return base_grid(height, width, device=device, dtype=dtype, convention=convention)
