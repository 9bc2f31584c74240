"""Differentiable warp primitives (study §2.6) in lmv's convention (see `lmv_cli.core.conventions`).

`backward_warp(x, mv)` gathers `out(p) = x(p − mv(p))` with `mv` in NDC, y down, full width = 2, so a
motion of `mv_x` moves `mv_x · W/2` pixels exactly (`grid_sample(align_corners=False)`). The numpy
`conventions.backward_warp` is the reference this is tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def base_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised pixel-centre coordinates (1, H, W, 2), x then y, in (−1, 1) (align_corners=False)."""
    ys = (torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).unsqueeze(0)


def backward_warp(
    x: torch.Tensor, mv: torch.Tensor, *, mode: str = "bilinear", padding: str = "border"
) -> torch.Tensor:
    """Warp x (B, C, H, W) by mv (B, 2, H, W), NDC y down: `out(p) = x(p − mv(p))`.

    `mode` is "bilinear" or "nearest" (nearest has no gradient w.r.t. mv, study §4.5); `padding` is
    "border" (colours, features) or "zeros" (motion-vector gathers, study §2.5).
    """
    b, _, h, w = x.shape
    grid = base_grid(h, w, device=x.device, dtype=mv.dtype) - mv.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode=padding, align_corners=False)
