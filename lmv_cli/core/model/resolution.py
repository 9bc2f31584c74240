"""The network's working resolution and the unit of its learned flows (docs/model.md#flow-units-and-working-resolution).

Working resolution. A network with `downscale = k > 1` runs on k×k means of its inputs, while every warp
and the composition stay at full resolution (`FSNet._upsample`). With a `working_height` (the height of
the network's own grid during training: the training frame height / the training factor, from the model
file's "train_resolution"), the factor is chosen per input so that the network sees the pixel density it
was trained at:

    factor(H) = max(1, floor(H / working_height + 0.5))      (nearest integer, halves rounded up)

e.g. trained on 320×180 frames at factor 2 (working height 90): 180 → 2, 360 → 4, 720 → 8, 1080 → 12.
Without a working height (training, or models that do not choose) the factor is the fixed `downscale`.

Flow unit. The decoder's learned flows (smv0, smv_res at every level, the head's increments) are either
"ndc" — NDC of the network's (padded) input, the released design: a value means a different number of
pixels on a crop than on the full frame — or "pixels": a value v moves `v · FLOW_UNIT_PIXELS` pixels of
the network's grid whatever the crop or frame size, so a crop trains exactly the function used on full
frames (exactly under the "exact" warp; under the released "original" grid, where NDC d moves
d·(w−1)/2 px at a level w px wide, within (w−1)/w of that). 64 px per unit keeps the magnitudes (tanh range, zero-flow loss) of NDC on a 128-px grid, the
scale the released loss weights were tuned at.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.padding import crop_flow

FLOW_UNITS = ("ndc", "pixels")
FLOW_UNIT_PIXELS = 64.0
"""Pixels of the network's full-resolution grid that a learned-flow value of 1 moves (flow_unit "pixels")."""


def working_factor(height: int, downscale: int, working_height: int | None) -> int:
    """The integer factor the network runs at for an input `height` px high (module docstring rule);
    the fixed `downscale` when `working_height` is None."""
    if working_height is None:
        return downscale
    return max(1, math.floor(height / working_height + 0.5))


def check_downscale(downscale: int, working_height: int | None, warp: str) -> None:
    """`ConfigError` unless `downscale` is an integer ≥ 1 and `working_height` None or ≥ 1; a factor
    above 1 (fixed or chosen) needs the "exact" warp (NDC ↔ pixels is size/2 at every level)."""
    if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 1:
        raise ConfigError(f"downscale: expected an integer >= 1, got {downscale!r}")
    if working_height is not None and (not isinstance(working_height, int) or working_height < 1):
        raise ConfigError(f"working height: expected an integer >= 1 or None, got {working_height!r}")
    if (downscale > 1 or working_height is not None) and warp != "exact":
        raise ConfigError(f"downscale {downscale} (or a chosen factor) needs warp 'exact', got {warp!r}")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Means of factor×factor pixels of x (B, C, H, W); a last partial row/column averages what it
    covers (ceil size). NDC values keep their meaning, so motion fields need no other change."""
    if factor == 2 and not (x.shape[-2] % 2 or x.shape[-1] % 2):
        # the same 2×2 means (bilinear at scale 1/2 samples each block's centre), 2.7× faster on CPU
        return F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    return F.avg_pool2d(x, factor, ceil_mode=True)


def flow_to_ndc(unit: str, frame: torch.Tensor, pixels_per_net_pixel: int) -> torch.Tensor | None:
    """Factor (1, 2, 1, 1) that turns learned flows into NDC of the frame of the map `frame` (B, C, h, w)
    whose pixels are `1 / pixels_per_net_pixel` of a network pixel (1: the network's own padded frame;
    k: the full frame of a network run at factor k). None for "ndc" flows, which need no conversion.
    The sizes are read as tensors (sums of ones, exact in float32) so a traced graph keeps H×W dynamic."""
    if unit == "ndc":
        return None
    h = torch.ones_like(frame[0, 0, :, 0], dtype=torch.float32).sum()
    w = torch.ones_like(frame[0, 0, 0, :], dtype=torch.float32).sum()
    px = 2.0 * FLOW_UNIT_PIXELS * pixels_per_net_pixel
    return torch.stack((px / w, px / h)).to(frame.dtype).view(1, 2, 1, 1)


def crop_learned_flow(
    flow: torch.Tensor, unit: str, level: int, size: tuple[int, int], padded: tuple[int, int], warp: str
) -> torch.Tensor:
    """A level-L learned flow of the padded network frame, cropped to the unpadded frame `size`: NDC
    values re-expressed in its NDC (`padding.crop_flow`), pixel-unit values unchanged."""
    if unit == "ndc":
        return crop_flow(flow, level, size, padded, warp)
    return flow[..., : -(-size[0] // 2**level), : -(-size[1] // 2**level)]
