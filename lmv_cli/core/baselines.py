"""The two baselines every evaluation reports beside the model (docs/evaluation.md#baselines).

`repeat` shows the last rendered frame again; `warp` reprojects it to frame t with the rendered motion
vectors (bilinear, border padding: the classic "MV-only" frame generation). Both read the same frame
dicts as `inputs.assemble_inputs` (`[frame t, t−1, t−2, t−3]`) and return a `NetOutputs` (without
flows), so losses and metrics treat them exactly like a prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import Frame, check_frame, frame_label, merged_motion_vectors, rendered_layers
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.warp import backward_warp

WARPED = ("color_no_st", "light_no_st", "sky", "st_color", "st_alpha")
"""Layers the `warp` baseline reprojects (in one `grid_sample`); its final colour is recomposed from them."""
LAYER_BUFFERS = ("scene_color_no_st", "st_color", "st_alpha", "sky_color", "brdf_color")
"""Buffers of the last rendered frame that a baseline shows."""


def repeat(frames: Sequence[Frame], source: int = 1, shown: NetOutputs | None = None) -> NetOutputs:
    """Frame t predicted as a copy of rendered frame t−source (source 1..3; 1 = the previous frame).
    `shown`: that frame's `rendered_layers`, when the caller already has them."""
    k = _check_source(frames, source, shown)
    return shown if shown is not None else rendered_layers(frames[k])


def warp(frames: Sequence[Frame], source: int = 1, shown: NetOutputs | None = None) -> NetOutputs:
    """Frame t predicted by reprojecting rendered frame t−source with the rendered motion vectors.

    source 1 warps with `mv_t`; further back it uses the merged MV `M_{source−1}` (docs/model.md#merged-motion-vectors), so the
    reprojection chains exactly the rendered vectors a MV-only frame generator would have. `shown`: the
    source frame's `rendered_layers`, when the caller already has them.
    """
    _check_source(frames, source, shown)
    b, _, h, w = frames[0]["motion_vector"].shape
    for k in range(1, source):
        check_frame(frames[k], ("motion_vector",), frame_label(k), (b, h, w))
    # (B, 2, H, W) NDC y down, from frame t−source to t
    mv = merged_motion_vectors([f["motion_vector"].float() for f in frames[:source]])[-1]
    shown = shown if shown is not None else rendered_layers(frames[source])
    layers = [getattr(shown, name) for name in WARPED]
    moved = backward_warp(torch.cat(layers, dim=1), mv).split([x.shape[1] for x in layers], dim=1)  # bilinear, border
    fields = dict(zip(WARPED, moved))
    return NetOutputs(color=fields["color_no_st"] * fields["st_alpha"] + fields["st_color"], **fields)


def _check_source(frames: Sequence[Frame], source: int, shown: NetOutputs | None = None) -> int:
    """Check `source` and frame t's motion vector, and the source frame's layer buffers unless its layers
    are `shown` already (the caller built them from checked buffers); returns `source`."""
    if not 1 <= source <= HISTORY_SLOTS or source >= len(frames):
        last = min(HISTORY_SLOTS, len(frames) - 1)
        raise InputError(f"baseline source frame must be t-1..t-{last}, got t-{source}")
    check_frame(frames[0], ("motion_vector",), "t")
    b, _, h, w = frames[0]["motion_vector"].shape
    if shown is None:
        check_frame(frames[source], LAYER_BUFFERS, frame_label(source), (b, h, w))
    elif shown.color.shape[-2:] != (h, w):
        raise InputError(f"baseline source frame t-{source}: layers of {tuple(shown.color.shape[-2:])} px, "
                         f"frame t has {(h, w)}")
    return source

