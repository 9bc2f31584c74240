"""Input assembly: store frames → `NetInputs` and `Targets` (docs/model.md#network-inputs).

A *frame dict* maps canonical store buffer names to tensors (B, C, H, W) of one frame; `frames` is the
sequence `[frame t, frame t−1, frame t−2, frame t−3]`. Everything the network sees is derived here, in
one place: demodulation by the BRDF colour, merged motion vectors, the `gamma_log` colour space, the
normal and depth remaps. Inputs are validated first (`check_frames`): a missing buffer, a wrong shape or
a NaN/Inf is an `InputError` naming the buffer and the frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from lmv_cli.core.color import gamma_log
from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.conventions import normalize_depth
from lmv_cli.core.color import BRDF_FLOOR
from lmv_cli.core.errors import InputError
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, NetOutputs
from lmv_cli.core.model.warp import backward_warp
from lmv_cli.core.store import layout

Frame = Mapping[str, torch.Tensor]

CHANNELS: dict[str, int] = {b.name: b.channels for b in layout.BUFFERS}
"""Channel count of every canonical store buffer (docs/store.md#arrays), from the store layout."""

CURRENT_BUFFERS = ("world_normal", "depth", "roughness", "metallic", "brdf_color", "skybox_mask", "motion_vector")
"""What the current frame t needs: its G-buffer, BRDF colour, sky mask and motion vector (docs/model.md#network-inputs)."""

HISTORY_BUFFERS = ("scene_color_no_st", "sky_color", "st_color", "st_alpha", "brdf_color")
"""What every history frame needs; t−1 and t−2 also need `motion_vector` for the merged MVs."""

TARGET_BUFFERS = ("scene_color_no_st", "st_color", "st_alpha", "sky_color", "skybox_mask", "brdf_color")
"""Ground truth of frame t for losses and metrics (scene_color is recomposed from these, docs/store.md#derived-buffers)."""


@dataclass
class Targets:
    """Ground truth of frame t, linear HDR (B, C, H, W), matching the fields of `NetOutputs`."""

    scene_color: torch.Tensor  # (B, 3, H, W) recomposed: no_st · st_alpha + st_color (docs/store.md#derived-buffers)
    no_st: torch.Tensor  # (B, 3, H, W) scene_color_no_st
    light_no_st: torch.Tensor  # (B, 3, H, W) no_st demodulated by the frame's BRDF colour
    sky: torch.Tensor  # (B, 3, H, W) sky colour
    sky_mask: torch.Tensor  # (B, 1, H, W) in {0, 1}
    st_color: torch.Tensor  # (B, 3, H, W) premultiplied translucency colour
    st_alpha: torch.Tensor  # (B, 1, H, W) transmittance in [0, 1]


def window_frames(
    window: Mapping[str, object], device: torch.device | str | None = None
) -> list[dict[str, torch.Tensor]]:
    """A store window → `[frame t, t−1, t−2, t−3]` of batch 1, float32.

    `window` maps buffer names to (1 + HISTORY_SLOTS, C, H, W) arrays or tensors in time order
    t−3 … t, as `store.Scene.window(t − 3, 4)` returns them (colours float16, masks uint8).
    """
    frames: list[dict[str, torch.Tensor]] = [{} for _ in range(1 + HISTORY_SLOTS)]
    for name, arr in window.items():
        x = torch.as_tensor(arr, device=device).float()  # (T, C, H, W)
        if x.dim() != 4 or x.shape[0] != 1 + HISTORY_SLOTS:
            raise InputError(f"store window '{name}': expected ({1 + HISTORY_SLOTS}, C, H, W), got {tuple(x.shape)}")
        for k in range(1 + HISTORY_SLOTS):
            frames[k][name] = x[HISTORY_SLOTS - k].unsqueeze(0)
    return frames


def frame_label(k: int) -> str:
    """Human name of position k of `frames`: 0 → "t", 1 → "t-1", …"""
    return "t" if k == 0 else f"t-{k}"


def check_frame(frame: Frame, names: Sequence[str], label: str, size: tuple[int, int, int] | None = None) -> None:
    """Check that `frame` holds every buffer of `names` as a finite (B, C, H, W) float tensor with the
    canonical channel count and, if given, the (B, H, W) `size`; raise `InputError` naming the buffer.

    Shapes are checked per buffer (no device work); finiteness with one reduction per buffer and a single
    host sync for the whole frame, and only a frame that fails is counted buffer by buffer."""
    for name in names:
        if name not in frame:
            have = ", ".join(sorted(frame)) or "nothing"
            raise InputError(f"frame {label}: input buffer '{name}' is missing (frame has: {have})")
        x = frame[name]
        where = f"frame {label}: input buffer '{name}'"
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"{where}: expected a float tensor (B, C, H, W), got {got}")
        if x.shape[1] != CHANNELS[name]:
            raise InputError(f"{where}: expected {CHANNELS[name]} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
        if size is not None and (x.shape[0], x.shape[2], x.shape[3]) != size:
            raise InputError(f"{where}: expected (B, H, W) = {size}, got shape {tuple(x.shape)}")
    if not names:
        return
    # NaN/Inf anywhere make a sum non-finite; a float32 sum overflowing to inf only sends the frame to the
    # exact count below (no float64 copy of every buffer: that cost 40 ms per 1080p frame)
    sums = torch.stack([frame[name].sum() for name in names])
    if bool(torch.isfinite(sums).all()):
        return
    for name in names:
        bad = int((~torch.isfinite(frame[name])).sum())
        if bad:
            raise InputError(f"frame {label}: input buffer '{name}': {bad} NaN/Inf value(s)")


def check_pair(name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
    """Check that a prediction and its target have the same (B, C, H, W) shape (no silent broadcasting)."""
    if pred.dim() != 4 or pred.shape != target.shape:
        raise InputError(f"'{name}': prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")


def check_frames(frames: Sequence[Frame]) -> None:
    """Validate `[frame t, t−1, t−2, t−3]` for `assemble_inputs` (all tensors of one (B, H, W))."""
    if len(frames) != 1 + HISTORY_SLOTS:
        raise InputError(f"expected {1 + HISTORY_SLOTS} frames (t, t-1, t-2, t-3), got {len(frames)}")
    check_frame(frames[0], CURRENT_BUFFERS[:1], "t")
    b, _, h, w = frames[0][CURRENT_BUFFERS[0]].shape
    check_frame(frames[0], CURRENT_BUFFERS, "t", (b, h, w))
    for k in range(1, 1 + HISTORY_SLOTS):
        names = HISTORY_BUFFERS + (("motion_vector",) if k < HISTORY_SLOTS else ())
        check_frame(frames[k], names, frame_label(k), (b, h, w))


def as_float32(frame: Frame) -> dict[str, torch.Tensor]:
    """The frame with every tensor in float32 (stores keep colours in float16; docs/model.md#network-inputs)."""
    return {name: x.float() for name, x in frame.items()}


def demodulate(color: torch.Tensor, brdf: torch.Tensor) -> torch.Tensor:
    """Scene light (docs/model.md#scene-light-and-demodulation): `color / max(brdf, 0.01)`, and 0 where the BRDF colour sums to 0.

    color, brdf: (B, 3, H, W) linear. The floor keeps dark materials from amplifying noise; the zero
    case marks pixels without any BRDF information.
    """
    light = color / brdf.clamp(min=BRDF_FLOOR)
    return torch.where(brdf.sum(dim=1, keepdim=True) == 0, torch.zeros_like(light), light)


def merged_motion_vectors(mvs: Sequence[torch.Tensor], *, convention: str = "exact") -> tuple[torch.Tensor, ...]:
    """Merged MVs (docs/model.md#merged-motion-vectors) from `mvs = [mv_t, mv_{t−1}, mv_{t−2}]` (each (B, 2, H, W), NDC y down,
    `mv_s` maps frame s−1 → s): `M_0 = mv_t`, `M_k = gather(mv_{t−k} at p − M_{k−1}) + M_{k−1}`, so `M_k`
    maps frame t−1−k → t. The gather is nearest with zero padding, as in the original. `convention` is
    the network's warp convention (`model.warp`: "exact" or "original", `model/warp.py`)."""
    merged = [mvs[0]]
    for mv in mvs[1:]:
        prev = merged[-1]
        merged.append(backward_warp(mv, prev, mode="nearest", padding="zeros", convention=convention) + prev)
    return tuple(merged)


def gbuffer_input(frame: Frame) -> torch.Tensor:
    """The 6-channel G-buffer encoder input (B, 6, H, W): normal·0.5+0.5, depth/65536, roughness, metallic."""
    depth = normalize_depth(frame["depth"])  # cm → [0, 1] (docs/capture.md#conventions)
    return torch.cat((frame["world_normal"] * 0.5 + 0.5, depth, frame["roughness"], frame["metallic"]), dim=1)


def history_frame(frame: Frame) -> HistoryFrame:
    """One rendered history frame in network form (colours clamped like the original loader, docs/model.md#network-inputs)."""
    no_st = frame["scene_color_no_st"].clamp(min=0)
    brdf = frame["brdf_color"].clamp(min=BRDF_FLOOR)
    return HistoryFrame(
        light=gamma_log(demodulate(no_st, frame["brdf_color"])),
        sky=gamma_log(frame["sky_color"].clamp(min=0)),
        st_color=gamma_log(frame["st_color"].clamp(min=0)),
        st_alpha=frame["st_alpha"].clamp(0, 1),
        color_no_st=no_st,
        brdf_color=brdf,
    )


def assemble_inputs(frames: Sequence[Frame]) -> NetInputs:
    """Validate `[frame t, t−1, t−2, t−3]` and build the network inputs for predicting frame t.

    Only the current frame's G-buffer, BRDF colour, sky mask and motion vector are used from frame t,
    so this works for frames whose colour was never rendered.
    """
    check_frames(frames)
    frames = [as_float32(f) for f in frames]
    current = frames[0]
    return NetInputs(
        gbuffer=gbuffer_input(current),
        brdf_color=current["brdf_color"].clamp(min=BRDF_FLOOR),
        sky_mask=current["skybox_mask"],
        merged_mv=merged_motion_vectors([f["motion_vector"] for f in frames[:HISTORY_SLOTS]]),
        history=tuple(history_frame(f) for f in frames[1:]),
    )


def assemble_targets(frame: Frame) -> Targets:
    """Validate frame t's ground-truth buffers and build the `Targets` of losses and metrics."""
    return targets_of(frame, frame_layers(frame))


def frame_layers(frame: Frame, label: str = "t") -> NetOutputs:
    """Check a rendered frame's ground-truth buffers (`TARGET_BUFFERS`: present, one size, finite; errors
    name frame `label`) and return its `rendered_layers`."""
    check_frame(frame, TARGET_BUFFERS[:1], label)
    b, _, h, w = frame[TARGET_BUFFERS[0]].shape
    check_frame(frame, TARGET_BUFFERS, label, (b, h, w))
    return rendered_layers(frame)


def targets_of(frame: Frame, layers: NetOutputs) -> Targets:
    """The `Targets` of a frame whose `rendered_layers` are already computed (and checked)."""
    return Targets(
        scene_color=layers.color,
        no_st=layers.color_no_st,
        light_no_st=layers.light_no_st,
        sky=layers.sky,
        sky_mask=frame["skybox_mask"].float(),
        st_color=layers.st_color,
        st_alpha=layers.st_alpha,
    )


def final_color(frame: Frame) -> torch.Tensor:
    """A rendered frame's final colour recomposed from its layers, float32: no_st · st_alpha + st_color
    (docs/store.md#derived-buffers), each clamped like the original loader. Reads scene_color_no_st,
    st_color and st_alpha only."""
    return (frame["scene_color_no_st"].float().clamp(min=0) * frame["st_alpha"].float().clamp(0, 1)
            + frame["st_color"].float().clamp(min=0))


def rendered_layers(frame: Frame) -> NetOutputs:
    """A rendered frame's layers as a `NetOutputs` without flows, float32, clamped like the original
    loader (docs/model.md#network-inputs): final colour recomposed as no_st · st_alpha + st_color (docs/store.md#derived-buffers), light
    demodulated by the frame's own BRDF colour. Reads scene_color_no_st, st_color, st_alpha, sky_color
    and brdf_color, unchecked (`check_frame` them first)."""
    frame = as_float32(frame)
    no_st = frame["scene_color_no_st"].clamp(min=0)
    st_color = frame["st_color"].clamp(min=0)
    st_alpha = frame["st_alpha"].clamp(0, 1)
    return NetOutputs(
        color=no_st * st_alpha + st_color,
        color_no_st=no_st,
        light_no_st=demodulate(no_st, frame["brdf_color"]),
        sky=frame["sky_color"].clamp(min=0),
        st_color=st_color,
        st_alpha=st_alpha,
    )


def substitute_prediction(inputs: NetInputs, k: int, outputs: NetOutputs) -> NetInputs:
    """Return `inputs` with history slot k (0 ↔ t−1) replaced by an earlier prediction (docs/model.md#feature-streaming).

    The predicted light, sky, translucency and opaque colour replace the rendered ones (detached: no
    back-propagation through time); motion vectors, BRDF colour and G-buffers stay rendered. Feature
    streaming state is the network's business and travels separately.
    """
    if not 0 <= k < len(inputs.history):
        raise InputError(f"history slot must be in 0..{len(inputs.history) - 1}, got {k}")
    rendered = inputs.history[k]
    if outputs.light_no_st.shape != rendered.light.shape:
        raise InputError(
            f"prediction for history slot {k} (frame t-{k + 1}) has shape {tuple(outputs.light_no_st.shape)}, "
            f"the rendered history has {tuple(rendered.light.shape)}"
        )
    predicted = predicted_history_frame(outputs, rendered.brdf_color)
    history = inputs.history[:k] + (predicted,) + inputs.history[k + 1 :]
    return dataclasses.replace(inputs, history=history)


def predicted_history_frame(outputs: NetOutputs, brdf_color: torch.Tensor) -> HistoryFrame:
    """A predicted frame in history form (docs/model.md#feature-streaming): the predicted light, sky, translucency and opaque
    colour (detached: no back-propagation through time) with the frame's own rendered BRDF colour
    (B, 3, H, W, linear, floored at 0.01), which G-buffer rendering always provides."""
    return HistoryFrame(
        light=gamma_log(outputs.light_no_st.detach().clamp(min=0)),
        sky=gamma_log(outputs.sky.detach().clamp(min=0)),
        st_color=gamma_log(outputs.st_color.detach().clamp(min=0)),
        st_alpha=outputs.st_alpha.detach().clamp(0, 1),
        color_no_st=outputs.color_no_st.detach().clamp(min=0),
        brdf_color=brdf_color,
    )
