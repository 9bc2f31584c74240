"""Screen-space conventions, converted once (docs/capture.md#conventions).

UE4 velocity (VelocityDepth.RG) is `NDC(current) − NDC(previous)` with full width = full height = 2,
x right, **y up**. lmv's `motion_vector` is the same displacement in image orientation: NDC units,
x right, **y down**. Warping is backward (gather): `out(p) = prev(p − mv(p))`; in pixels
`flow_px = (mv_x · W/2, mv_y · H/2)`.

Pinned by tests: a square moving +3 px right gives mv_x = +3/(W/2), and warping frame t−1 with it
reproduces frame t.

This module is numpy-only and array-agnostic where possible; the differentiable torch warp lives in
`lmv_cli.core.model.warp` and is tested against `backward_warp_np` here.
"""

from __future__ import annotations

import numpy as np

DEPTH_NORM_CM = 65536.0
"""Depth normalisation of the original (docs/capture.md#conventions): `min(depth_cm, 65536) / 65536`."""


def velocity_to_motion_vector(velocity: np.ndarray) -> np.ndarray:
    """UE4 velocity (2, H, W), NDC, y up → motion vector (2, H, W), NDC, y down."""
    mv = np.array(velocity, dtype=np.float32, copy=True)
    mv[1] *= -1.0
    return mv


def motion_vector_to_pixels(mv: np.ndarray) -> np.ndarray:
    """Motion vector (2, H, W), NDC y down → pixel displacement (2, H, W), x right, y down."""
    _, h, w = mv.shape
    return np.stack([mv[0] * (w / 2.0), mv[1] * (h / 2.0)])


def pixels_to_motion_vector(flow_px: np.ndarray) -> np.ndarray:
    """Pixel displacement (2, H, W), y down → motion vector (2, H, W), NDC y down."""
    _, h, w = flow_px.shape
    return np.stack([flow_px[0] / (w / 2.0), flow_px[1] / (h / 2.0)]).astype(np.float32)


def normalize_depth(depth_cm):
    """Planar depth in cm → the network's [0, 1] depth `min(d, 65536) / 65536` (docs/capture.md#conventions).

    Written with `.clip` so numpy arrays (result float32) and torch tensors (dtype, device and
    gradient kept) share the one formula.
    """
    if isinstance(depth_cm, (np.ndarray, np.generic)):
        depth_cm = depth_cm.astype(np.float32)  # 65536 does not exist in float16
    return (depth_cm / DEPTH_NORM_CM).clip(max=1.0)  # = min(d, 65536) / 65536 exactly (a power of two)


def backward_warp_np(image: np.ndarray, mv: np.ndarray, convention: str = "exact") -> np.ndarray:
    """Bilinear backward warp with border clamping: `out(p) = image(p − mv(p))`.

    image: (C, H, W); mv: (2, H, W), NDC y down. Sampling positions are pixel centres shifted by
    `mv · (W/2, H/2)` pixels (the same mapping as `grid_sample(align_corners=False)`), or with
    `convention="original"` (the released network's grid, `align_corners=True`) by `mv · ((W−1)/2, (H−1)/2)`.
    """
    c, h, w = image.shape
    if convention == "original":
        flow = np.stack([mv[0] * ((w - 1) / 2.0), mv[1] * ((h - 1) / 2.0)])
    else:
        flow = motion_vector_to_pixels(mv)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    sx = np.clip(xs - flow[0], 0.0, w - 1.0)
    sy = np.clip(ys - flow[1], 0.0, h - 1.0)
    x0 = np.floor(sx).astype(np.int64)
    y0 = np.floor(sy).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (sx - x0)[None]
    fy = (sy - y0)[None]
    top = image[:, y0, x0] * (1 - fx) + image[:, y0, x1] * fx
    bottom = image[:, y1, x0] * (1 - fx) + image[:, y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(image.dtype, copy=False)
