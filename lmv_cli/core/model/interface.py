"""What goes into and comes out of one FSNet step (docs/model.md#network-inputs). Input assembly
(`lmv_cli.core.inputs`) fills `NetInputs`; the network returns `NetOutputs`.

Shapes: B batch, H×W frame size (any size; the network pads internally). Colour spaces are named per
field: "gl" = `gamma_log` (docs/model.md#colour-space), "linear" = linear HDR radiance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError

if TYPE_CHECKING:
    from lmv_cli.core.model.streaming import StreamedFeatures



@dataclass
class HistoryFrame:
    """One history frame (rendered, or predicted by an earlier step)."""

    light: torch.Tensor  # (B, 3, H, W) gl, demodulated opaque light (scene_light_no_st)
    sky: torch.Tensor  # (B, 3, H, W) gl, sky colour
    st_color: torch.Tensor  # (B, 3, H, W) gl, premultiplied separate-translucency colour
    st_alpha: torch.Tensor  # (B, 1, H, W) transmittance in [0, 1]
    color_no_st: torch.Tensor  # (B, 3, H, W) linear, opaque colour (residual base, docs/model.md#forward-pass step 9)
    brdf_color: torch.Tensor  # (B, 3, H, W) linear, >= 0.01, this frame's own demodulation colour

    def encoder_input(self) -> torch.Tensor:
        """The 10-channel history-encoder input (B, 10, H, W): light, sky, st_color, st_alpha."""
        return torch.cat((self.light, self.sky, self.st_color, self.st_alpha), dim=1)


@dataclass
class NetInputs:
    """Everything one prediction of frame t needs."""

    gbuffer: torch.Tensor  # (B, 6, H, W): world normal remapped to [0, 1] (3), depth / 65536 (1), roughness, metallic
    brdf_color: torch.Tensor  # (B, 3, H, W) linear, >= 0.01: current frame's demodulation colour
    sky_mask: torch.Tensor  # (B, 1, H, W) in {0, 1}
    merged_mv: tuple[torch.Tensor, ...]  # HISTORY_SLOTS × (B, 2, H, W), NDC y down: M_k maps frame t−1−k to t
    history: tuple[HistoryFrame, ...]  # HISTORY_SLOTS frames, k = 0 is t−1


@dataclass
class NetOutputs:
    """One prediction (all linear HDR unless noted)."""

    color: torch.Tensor  # (B, 3, H, W) final colour: no_st · st_alpha + st_color
    color_no_st: torch.Tensor  # (B, 3, H, W) opaque + sky composite
    light_no_st: torch.Tensor  # (B, 3, H, W) predicted demodulated light (scene_light_no_st)
    sky: torch.Tensor  # (B, 3, H, W) predicted sky colour
    st_color: torch.Tensor  # (B, 3, H, W)
    st_alpha: torch.Tensor  # (B, 1, H, W)
    flows: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (pyramid level L, (B, 2, h, w)) for the zero-flow loss
    lmv1: torch.Tensor | None = None  # (B, 2, H, W) NDC y down: learnable MV that warped the opaque colour and sky
    lmv2: torch.Tensor | None = None  # (B, 2, H, W) NDC y down: learnable MV that warped the translucency layers
    stream: StreamedFeatures | None = None  # detached features this pass streams to passes using its prediction


HISTORY_FIELD_CHANNELS = {"light": 3, "sky": 3, "st_color": 3, "st_alpha": 1, "color_no_st": 3, "brdf_color": 3}
"""Channels of every `HistoryFrame` field."""


def validate_inputs(inputs: NetInputs, *, gbuffer_channels: int = 6, check_values: bool = True) -> tuple[int, int, int]:
    """Check every tensor of `inputs` and return (B, H, W); raise `InputError` naming the first bad tensor.

    Checked: 3 history frames and 3 merged MVs; each tensor 4-D floating point with its channel count;
    batch and H×W equal to the G-buffer's; with `check_values`, no NaN/Inf (this reads the values, one
    host sync, so the model skips it while being traced or exported).
    """
    for name, seq in (("history", inputs.history), ("merged_mv", inputs.merged_mv)):
        if len(seq) != HISTORY_SLOTS:
            raise InputError(f"{name}: expected {HISTORY_SLOTS} entries (t-1, t-2, t-3), got {len(seq)}")
    named = [("gbuffer", inputs.gbuffer, gbuffer_channels), ("brdf_color", inputs.brdf_color, 3)]
    named.append(("sky_mask", inputs.sky_mask, 1))
    named += [(f"merged_mv[{k}]", mv, 2) for k, mv in enumerate(inputs.merged_mv)]
    for k, frame in enumerate(inputs.history):
        named += [(f"history[{k}].{f}", getattr(frame, f), c) for f, c in HISTORY_FIELD_CHANNELS.items()]
    reference = None
    for name, tensor, channels in named:
        reference = _check_shape(name, tensor, channels, reference)
    if check_values:
        _check_finite([(name, tensor) for name, tensor, _ in named])
    return reference


def _check_shape(
    name: str, tensor: object, channels: int, reference: tuple[int, int, int] | None
) -> tuple[int, int, int]:
    """One tensor of `validate_inputs`; returns its (B, H, W)."""
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4 or not tensor.is_floating_point():
        got = type(tensor).__name__
        if isinstance(tensor, torch.Tensor):
            got = f"{tensor.dtype} tensor of shape {tuple(tensor.shape)}"
        raise InputError(f"{name}: expected a floating-point (B, {channels}, H, W) tensor, got {got}")
    b, c, h, w = tensor.shape
    if c != channels:
        raise InputError(f"{name}: expected {channels} channels, got {c} (shape {tuple(tensor.shape)})")
    if reference is not None and (b, h, w) != reference:
        rb, rh, rw = reference
        raise InputError(f"{name}: batch {b} and size {h}x{w} differ from the G-buffer's batch {rb} and size {rh}x{rw}")
    return (b, h, w)


def _check_finite(named: list[tuple[str, torch.Tensor]]) -> None:
    """NaN/Inf anywhere make a tensor's sum non-finite: one reduction per tensor and a single host sync;
    only a suspicious tensor is counted element by element (a sum that overflows is not an error). The
    sums are in the tensors' own precision: a float64 sum is 30× slower on CPU (40 ms per 720p map)."""
    sums = torch.stack([tensor.sum().float() for _, tensor in named])
    if bool(torch.isfinite(sums).all()):
        return
    for name, tensor in named:
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise InputError(f"{name}: {bad} NaN/Inf values")
