"""Any H×W for a network that needs multiples of 16 (four stride-2 stages, docs/model.md#any-frame-size).

The original required H and W divisible by 16. Here the inputs are padded at the bottom and right by
edge replication to the next multiple of 16, the network runs on the padded frame, and the outputs are
cropped back. Motion vectors need care: NDC units are relative to the frame size, so a displacement of
`mv_x · W/2` pixels becomes `mv_x · W/W'` in the padded frame of width W' (and likewise for y). With
replicate padding, a border-clamped warp on the padded frame equals a border-clamped warp on the
original frame, so padding changes nothing where the network only warps. Under the "original" warp
convention (`warp.py`) a displacement is `mv_x · (W−1)/2` pixels, and the factors follow that.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import torch
import torch.nn.functional as F

from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.warp import WarpConvention

PAD_MULTIPLE = 16


def padded_size(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int]:
    """The smallest (H', W') ≥ (height, width) divisible by `multiple`."""
    return math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple


def mv_scale(
    src: tuple[int, int], dst: tuple[int, int], like: torch.Tensor, convention: WarpConvention = "exact"
) -> torch.Tensor:
    """Factor (1, 2, 1, 1) that converts an NDC motion field of frame size src=(h, w) to frame size dst.

    The same pixel displacement d is `mv · size/2` in both frames ("exact"), so `mv_dst = mv_src ·
    src/dst`; under "original" it is `mv · (size−1)/2`, so the factor is `(src−1)/(dst−1)`.
    """
    (sh, sw), (dh, dw) = src, dst
    if convention == "original":
        (sh, sw), (dh, dw) = (max(sh - 1, 1), max(sw - 1, 1)), (max(dh - 1, 1), max(dw - 1, 1))
    return torch.tensor([sw / dw, sh / dh], dtype=like.dtype, device=like.device).view(1, 2, 1, 1)


def pad_inputs(inputs: NetInputs, multiple: int = PAD_MULTIPLE, convention: WarpConvention = "exact") -> NetInputs:
    """Pad every tensor of `inputs` (replicate, bottom/right) to multiples of `multiple`; MVs rescaled."""
    h, w = inputs.gbuffer.shape[-2:]
    size = padded_size(h, w, multiple)
    if size == (h, w):
        return inputs

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, size[1] - w, 0, size[0] - h), mode="replicate")

    history = tuple(
        HistoryFrame(**{f.name: pad(getattr(frame, f.name)) for f in fields(HistoryFrame)}) for frame in inputs.history
    )
    mvs = tuple(pad(mv) * mv_scale((h, w), size, mv, convention) for mv in inputs.merged_mv)
    return replace(
        inputs,
        gbuffer=pad(inputs.gbuffer),
        brdf_color=pad(inputs.brdf_color),
        sky_mask=pad(inputs.sky_mask),
        merged_mv=mvs,
        history=history,
    )


def crop_flow(
    flow: torch.Tensor,
    level: int,
    size: tuple[int, int],
    padded: tuple[int, int],
    convention: WarpConvention = "exact",
) -> torch.Tensor:
    """A level-L motion field of the padded frame → the part covering the original frame, in its NDC.

    Keeps ceil(h/2^L) × ceil(w/2^L) samples (the last one may straddle the padding) and rescales the
    values from the padded frame's NDC to the original frame's (the full-resolution factor at every
    level, as `pad_inputs` applied it).
    """
    if size == padded:
        return flow
    h, w = (math.ceil(s / 2**level) for s in size)
    return flow[..., :h, :w] * mv_scale(padded, size, flow, convention)
