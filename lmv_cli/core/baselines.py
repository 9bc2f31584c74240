"""The two baselines every evaluation reports beside the model (docs/evaluation.md#baselines).

`repeat` shows the last rendered frame again; `warp` reprojects it to frame t with the rendered motion
vectors (bilinear, border padding: the classic "MV-only" frame generation). Both read the same frame
dicts as `inputs.assemble_inputs` (`[frame t, t−1, t−2, t−3]`) and return a `NetOutputs` (without
flows), so losses and metrics treat them exactly like a prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import Frame, check_frame, frame_label, merged_motion_vectors, rendered_layers
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.warp import backward_warp

LAYER_BUFFERS = ("scene_color_no_st", "st_color", "st_alpha", "sky_color", "brdf_color")
"""Buffers of the last rendered frame that a baseline shows."""


def repeat(frames: Sequence[Frame], source: int = 1) -> NetOutputs:
    """Frame t predicted as a copy of rendered frame t−source (source 1..3; 1 = the previous frame)."""
    return rendered_layers(frames[_check_source(frames, source)])


def warp(frames: Sequence[Frame], source: int = 1) -> NetOutputs:
    """Frame t predicted by reprojecting rendered frame t−source with the rendered motion vectors.

    source 1 warps with `mv_t`; further back it uses the merged MV `M_{source−1}` (docs/model.md#merged-motion-vectors), so the
    reprojection chains exactly the rendered vectors a MV-only frame generator would have.
    """
    _check_source(frames, source)
    b, _, h, w = frames[0]["motion_vector"].shape
    for k in range(1, source):
        check_frame(frames[k], ("motion_vector",), frame_label(k), (b, h, w))
    # (B, 2, H, W) NDC y down, from frame t−source to t
    mv = merged_motion_vectors([f["motion_vector"].float() for f in frames[:source]])[-1]
    shown = rendered_layers(frames[source])
    names = ("color_no_st", "light_no_st", "sky", "st_color", "st_alpha")
    fields = {name: backward_warp(getattr(shown, name), mv) for name in names}  # bilinear, border
    return NetOutputs(color=fields["color_no_st"] * fields["st_alpha"] + fields["st_color"], **fields)


def _check_source(frames: Sequence[Frame], source: int) -> int:
    if not 1 <= source <= HISTORY_SLOTS or source >= len(frames):
        last = min(HISTORY_SLOTS, len(frames) - 1)
        raise InputError(f"baseline source frame must be t-1..t-{last}, got t-{source}")
    check_frame(frames[0], ("motion_vector",), "t")
    b, _, h, w = frames[0]["motion_vector"].shape
    check_frame(frames[source], LAYER_BUFFERS, frame_label(source), (b, h, w))
    return source

