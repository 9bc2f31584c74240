"""Learnable motion vectors and the motion-field helpers around them (docs/model.md#learnable-motion-vectors).

All motion fields are NDC, y down, full width = full height = 2 (`warp.py`). A field in NDC means the
same displacement relative to the frame at every resolution, so resizing it to a pyramid level changes
only its sampling, never its magnitude. Every warp and gather takes the warp `convention` ("exact" or
"original", `warp.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmv_cli.core.model.warp import WarpConvention, backward_warp

MV_GATHER_MODES = ("nearest", "bilinear")


def resize_mv(mv: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a motion field (B, 2, H, W) to `size` = (h, w), bilinear, values unchanged (NDC).

    Plain bilinear interpolation with `align_corners=False` and no anti-aliasing, as the original's
    `resize` (for a 16× reduction each output samples the 2×2 pixels around its footprint's centre).
    """
    if tuple(mv.shape[-2:]) == tuple(size):
        return mv
    return F.interpolate(mv, size=size, mode="bilinear", align_corners=False)


def upsample_flow(flow: torch.Tensor) -> torch.Tensor:
    """2× bilinear upsampling of a level's flow (B, 2, h, w) → (B, 2, 2h, 2w), NDC so no rescaling."""
    return F.interpolate(flow, scale_factor=2.0, mode="bilinear", align_corners=False)


def learnable_mv(
    mv: torch.Tensor, smv0: torch.Tensor, smv_res: torch.Tensor, *, mode: str, convention: WarpConvention = "exact"
) -> torch.Tensor:
    """`LMV(p) = MV(p − smv0(p)) + smv_res(p)` (docs/model.md#learnable-motion-vectors); all (B, 2, h, w), NDC y down.

    The rendered motion `mv` (already resized to the level) is gathered where the spatial flow `smv0`
    points, with zero padding outside the frame (docs/model.md#merged-motion-vectors), then the residual flow is added. The
    original gathers with `mode="nearest"`, whose gradient w.r.t. the sampling position is zero, so `smv0`
    learns only through its re-injection into the decoder and the zero-flow loss; `"bilinear"` also
    gives it a gradient through the gather.
    """
    smv0 = smv0.to(mv.dtype)
    return backward_warp(mv, smv0, mode=mode, padding="zeros", convention=convention) + smv_res.to(mv.dtype)


def warp_feature(x: torch.Tensor, mv: torch.Tensor, *, convention: WarpConvention = "exact") -> torch.Tensor:
    """Bilinear, border-padded backward warp of a feature or colour map x (B, C, h, w) by mv (B, 2, h, w).

    Sampled in the motion field's precision: under bf16 autocast the feature is upcast first, because
    normalised sampling positions in bf16 would be off by pixels at 720p (8-bit mantissa).
    """
    return backward_warp(x.to(mv.dtype), mv, mode="bilinear", padding="border", convention=convention)
