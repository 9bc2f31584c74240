"""Image regions of a predicted frame, from its buffers (`lmv test --regions`, docs/regions.md).

Every pixel of a predicted frame t gets exactly one region, the first that applies in this precedence:

1. `sky`: the frame's sky mask (`skybox_mask`);
2. `translucent`: `st_alpha` < `TRANSLUCENT_ALPHA` (some translucency in front of the opaque surface);
3. `disoccluded`: reprojected into the last rendered frame t−s through the merged motion vectors
   (nearest pixel), the point lands outside that frame or on a depth that differs from its own by more
   than `DEPTH_TOLERANCE` (relative) after removing the frame's median depth change (the camera's motion
   along its axis): what it shows was hidden or off-screen when last rendered;
4. `shading_change`: opaque, non-sky, geometry consistent, yet the true colour differs from the last
   rendered colour reprojected to t by more than the data's noise: per channel, how far the true ACES
   colour lies outside the range (min … max) of the last rendered colour's 3×3 neighbourhood at the
   reprojected position, mean over RGB, > the scene's noise threshold (`noise_threshold`). The
   neighbourhood range (the colour clamp of temporal anti-aliasing) keeps texture edges, which bilinear
   resampling blurs but which are still the same shading, out of this region;
5. `static`: everything else (geometry and shading both carried over by the motion vectors).

The regions are computed once per predicted frame and shared by every method scored on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lmv_cli.core.baselines import warp
from lmv_cli.core.color import aces
from lmv_cli.core.inputs import Frame, final_color, merged_motion_vectors, rendered_layers
from lmv_cli.core.metrics import psnr_of_mse
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.warp import backward_warp

REGIONS = ("sky", "translucent", "disoccluded", "shading_change", "static")
"""Region names in precedence order: a pixel belongs to the first that applies; together a partition."""
REGION_COLORS = {"sky": (60, 140, 255), "translucent": (220, 60, 255), "disoccluded": (255, 50, 30),
                 "shading_change": (255, 210, 0), "static": (90, 90, 90)}
"""8-bit RGB of each region in the contact sheet's overlay and legend."""
TRANSLUCENT_ALPHA = 0.99
"""`st_alpha` below this counts as translucent (1 = nothing translucent in front)."""
DEPTH_TOLERANCE = 0.05
"""Relative depth difference above which a reprojected pixel counts as disoccluded: 5 % absorbs the
depth change of a surface point between frames (camera or object motion along z) and the half-pixel of
nearest sampling on slanted surfaces, and is far below the jump at an occlusion edge."""
NOISE_SIGMAS = 3.0
"""Shading change starts at this many standard deviations of the rendering noise."""
MAD_TO_SIGMA = 1.4826
"""σ of a normal distribution per median absolute deviation: the noise estimate is robust to the few
pixels whose shading really changed."""
THRESHOLD_FLOOR = 2.0 / 255.0
"""Lowest shading-change threshold (ACES units): two 8-bit display steps, so noise-free (procedural) data
does not flag bilinear resampling round-off as shading change."""


@dataclass
class RegionStats:
    """Squared error and SSIM of every method over one region, summed over pixels (and frames), so that
    PSNR can be pooled: MSE = Σ squared error / pixels, PSNR = 10·log10(1/MSE)."""

    pixels: int  # pixels of the region
    ssim_pixels: int  # of them where the SSIM map is defined (≥ 5 px from the image border)
    frames: int = 1  # frames the region appears in
    sq_error: dict[str, float] = field(default_factory=dict)  # method → Σ per-pixel MSE (mean over RGB), ACES
    ssim_sum: dict[str, float] = field(default_factory=dict)  # method → Σ SSIM map over the valid pixels

    def merged(self, other: RegionStats) -> RegionStats:
        """The pooled statistics of both (other frames of the same region and methods)."""
        methods = dict.fromkeys([*self.sq_error, *other.sq_error])
        return RegionStats(self.pixels + other.pixels, self.ssim_pixels + other.ssim_pixels, self.frames + other.frames,
                           {m: self.sq_error.get(m, 0.0) + other.sq_error.get(m, 0.0) for m in methods},
                           {m: self.ssim_sum.get(m, 0.0) + other.ssim_sum.get(m, 0.0) for m in methods})

    def metrics(self, method: str) -> dict[str, float]:
        """PSNR (dB, +inf when exact) and SSIM (NaN when no pixel of the region has a defined SSIM)."""
        ssim = self.ssim_sum[method] / self.ssim_pixels if self.ssim_pixels else float("nan")
        return {"psnr": psnr_of_mse(self.sq_error[method] / self.pixels), "ssim": ssim}


def region_labels(recent: Sequence[Frame], source: int, truth: torch.Tensor, threshold: float,
                  last_color: torch.Tensor | None = None) -> torch.Tensor:
    """Region index (1, H, W) int64 into `REGIONS` of frame t = `recent[0]` (`[t, t−1, …]`, batch 1, with
    depth, motion_vector, skybox_mask, st_alpha and the last rendered frame's colour layers), predicted
    `source` frames after the last rendered one.

    truth: (1, 3, H, W) the true linear colour of t; threshold: the shading-change threshold, ACES units
    (`noise_threshold`). Shading change: how far the true ACES colour lies outside the per-channel
    min … max of the last rendered colour's 3×3 neighbourhood at the reprojected position, mean over RGB.
    last_color: that frame's final colour (1, 3, H, W) when the caller has it, else recomposed from its
    layer buffers (`inputs.final_color`)."""
    current, last = recent[0], recent[source]
    mv = merged_motion_vectors([f["motion_vector"].float() for f in recent[:source]])[-1]  # (1, 2, H, W) → t
    seen, before, lo, hi = _reproject(last, final_color(last) if last_color is None else last_color, mv)
    t = aces(truth.float().clamp(min=0))
    outside = ((lo - t).clamp(min=0) + (t - hi).clamp(min=0)).mean(dim=1)  # (1, H, W), ACES
    moved = _depth_disagrees(current["depth"].float(), seen, before)[:, 0]
    labels = torch.full_like(outside, REGIONS.index("static"), dtype=torch.int64)
    labels.masked_fill_(outside > threshold, REGIONS.index("shading_change"))
    labels.masked_fill_(moved, REGIONS.index("disoccluded"))
    labels.masked_fill_(current["st_alpha"][:, 0] < TRANSLUCENT_ALPHA, REGIONS.index("translucent"))
    labels.masked_fill_(current["skybox_mask"][:, 0] > 0.5, REGIONS.index("sky"))
    return labels


def _reproject(last: Frame, color: torch.Tensor, mv: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The last rendered frame (buffers `last`, final colour `color`) gathered at p − mv (nearest, one
    `grid_sample` for everything): whether the point is inside it (B, 1, H, W) bool, its depth (B, 1, H, W)
    cm, and the per-channel min and max (B, 3, H, W) each, ACES, of its colour's 3×3 neighbourhood."""
    lo, hi = _neighbourhood_range(aces(color.float()))
    depth = last["depth"].float()
    stack = torch.cat([torch.ones_like(depth), depth, lo, hi], dim=1)
    moved = backward_warp(stack, mv, mode="nearest", padding="zeros")
    return moved[:, :1] > 0.5, moved[:, 1:2], moved[:, 2:5], moved[:, 5:8]


def _neighbourhood_range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel min and max of each pixel's 3×3 neighbourhood (edges replicated), (B, C, H, W) each:
    separable shifted minimum/maximum — several times faster on CPU than `max_pool2d`."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    result = []
    for pick in (torch.minimum, torch.maximum):
        rows = pick(pick(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])  # (B, C, H + 2, W)
        result.append(pick(pick(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :]))
    return result[0], result[1]


def region_masks(labels: torch.Tensor) -> torch.Tensor:
    """(1, H, W) region indices → (R, H, W) bool masks, one per entry of `REGIONS` (a quarter of float32's
    memory: `metrics.score_methods` converts them band by band)."""
    ids = torch.arange(len(REGIONS), device=labels.device).view(-1, 1, 1)
    return labels == ids


def disoccluded(depth: torch.Tensor, last_depth: torch.Tensor, mv: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) bool: the pixel, moved back by `mv` (B, 2, H, W, NDC y down, last frame → now) to the
    nearest pixel of the last rendered frame, lands outside it or on a depth (cm) that disagrees with its
    own (`_depth_disagrees`, as `region_labels` decides it)."""
    depth = depth.float()
    moved = backward_warp(torch.cat([torch.ones_like(depth), last_depth.float()], dim=1), mv, mode="nearest",
                          padding="zeros")
    return _depth_disagrees(depth, moved[:, :1] > 0.5, moved[:, 1:2])


def _depth_disagrees(depth: torch.Tensor, seen: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) bool: outside the last frame (`seen` False) or |Δ − median Δ| > `DEPTH_TOLERANCE` ·
    depth, where Δ = depth there − depth here (cm). The frame's median Δ is the camera's motion along its
    axis (planar depth changes by the same amount everywhere under that translation), so a camera
    walking forward — 5–10 % of a near wall's depth per frame — does not read as disocclusion."""
    delta = before - depth
    inside = delta[seen]
    shift = inside.median() if inside.numel() else delta.new_zeros(())
    return ~seen | ((delta - shift).abs() > DEPTH_TOLERANCE * depth.abs())


def noise_threshold(newer: Frame, older: Frame, newer_layers: NetOutputs | None = None,
                    older_layers: NetOutputs | None = None) -> float:
    """The scene's shading-change threshold (ACES units) from two consecutive rendered frames: among the
    opaque, non-sky, geometry-consistent pixels of `newer`, the difference to `older` warped with `newer`'s
    motion vector (the `warp` baseline; ACES, mean over RGB) is mostly rendering noise: its σ is estimated
    as `MAD_TO_SIGMA` × its median (robust to the few pixels that really changed). Returns
    `NOISE_SIGMAS` · σ, at least `THRESHOLD_FLOOR`; `region_labels` compares the colour change with it.
    `*_layers`: the frames' `rendered_layers` when the caller has them (else built from their buffers)."""
    mv = newer["motion_vector"].float()
    warped = warp([newer, older], 1, older_layers).color
    truth = (newer_layers or rendered_layers(newer)).color
    diff = (aces(truth.clamp(min=0)) - aces(warped.clamp(min=0))).abs().mean(dim=1, keepdim=True)
    consistent = ~disoccluded(newer["depth"], older["depth"], mv)
    consistent &= (newer["st_alpha"] >= TRANSLUCENT_ALPHA) & (newer["skybox_mask"] <= 0.5)
    values = diff[consistent]
    if values.numel() == 0:
        return THRESHOLD_FLOOR
    return max(THRESHOLD_FLOOR, NOISE_SIGMAS * MAD_TO_SIGMA * float(values.median()))


def unexplained(current: Frame, previous: Frame, before: Frame) -> torch.Tensor:
    """(B, 1, H, W) bool: the pixels of rendered frame t (`current`, batch B) that frame t−1 (`previous`),
    reprojected by t's motion vectors, does not explain: `disoccluded` or `shading_change` as
    `region_labels` decides them, with each window's noise threshold from t−1 and t−2 (`before`,
    `noise_threshold`). The training loss `loss.change` weights them (docs/training.md#losses)."""
    masks = []
    for b in range(current["depth"].shape[0]):
        cur, prev, older = ({k: v[b:b + 1] for k, v in f.items()} for f in (current, previous, before))
        threshold = noise_threshold(prev, older)
        labels = region_labels([cur, prev], 1, final_color(cur), threshold)
        masks.append((labels == REGIONS.index("disoccluded")) | (labels == REGIONS.index("shading_change")))
    return torch.stack(masks)
