"""The one rollout: rendered (R) and predicted (P) history frames, with streamed features (docs/model.md#feature-streaming).

Training (random R/P patterns), `lmv test` and `lmv extrapolate` all drive this module; the R/P logic is
written here once. A history frame has two possible halves, kept together in one `Slot`:

- rendered: its colours as the renderer produced them (unavailable for frames that were never shaded);
- predicted: the colours an earlier pass predicted for it *and* that pass's streamed features.

`History` holds the last three frames, newest first (slot k ↔ frame t−1−k), and builds the network's
inputs for the next frame from any R/P choice per slot. `Rollout` drives a network over a sequence:

    rollout = Rollout(model)                       # inference: cached history encodings, no gradient
    for t, frame in enumerate(frames):
        if schedule[t]:                            # predicted frame (`rp_schedule`)
            out = rollout.predict(frame)
            rollout.history.advance_predicted(frame, out)
        else:
            rollout.history.advance_rendered(frame)

Training keeps both halves (`advance_rendered(frame, prediction=out)`) and draws per step which slots
the network sees as predicted (`predict(frame, pattern)`).

A *frame* maps canonical store buffer names to float tensors (B, C, H, W) of one time step. A rendered
slot reads `RENDERED_BUFFERS`; every slot needs `motion_vector` (for the merged MVs) and `brdf_color`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import (
    CURRENT_BUFFERS,
    gbuffer_input,
    history_frame,
    merged_motion_vectors,
    predicted_history_frame,
)
from lmv_cli.core.color import BRDF_FLOOR
from lmv_cli.core.model.encoder import Encoding
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, NetOutputs
from lmv_cli.core.model.streaming import StreamedFeatures, StreamState

Frame = Mapping[str, torch.Tensor]

RENDERED_BUFFERS = ("scene_color_no_st", "sky_color", "st_color", "st_alpha", "brdf_color", "motion_vector")
"""What a rendered history frame reads."""
PREDICTED_BUFFERS = ("brdf_color", "motion_vector")
"""What a predicted history frame reads from its (always rendered) G-buffer."""


def rp_schedule(frames: int, n: int, warmup: int = HISTORY_SLOTS) -> list[bool]:
    """Which frames are predicted (True) with N predicted after every rendered one (docs/evaluation.md#rendered-and-predicted-frames).

    The first `warmup` frames are rendered (the network needs three history frames), then the pattern
    P…P R repeats: frame t ≥ warmup is predicted when (t − warmup) mod (N+1) < N. N = 0 predicts nothing.
    """
    if n < 0 or frames < 0:
        raise InputError(f"rp_schedule: frames and N must be >= 0, got {frames}, {n}")
    return [t >= warmup and (t - warmup) % (n + 1) < n for t in range(frames)]


@dataclass
class Slot:
    """One history frame: its rendered and/or predicted half, and what every slot needs."""

    motion_vector: torch.Tensor  # (B, 2, H, W) NDC y down: this frame's MV (maps its previous frame → it)
    rendered: HistoryFrame | None = None
    predicted: HistoryFrame | None = None
    streamed: StreamedFeatures | None = None  # features of the pass that predicted this frame
    encodings: dict[bool, Encoding] = field(default_factory=dict)  # cached per half (True = predicted)

    def half(self, predicted: bool) -> tuple[HistoryFrame, StreamedFeatures | None]:
        """The history frame and its streamed features for the chosen half."""
        if predicted:
            if self.predicted is None:
                raise InputError("history slot asked for its predicted half, but this frame was not predicted")
            return self.predicted, self.streamed
        if self.rendered is None:
            raise InputError("history slot asked for its rendered half, but this frame was not rendered")
        return self.rendered, None


class History:
    """The last `HISTORY_SLOTS` frames, newest first, each rendered and/or predicted (module docstring).

    `convention` is the warp convention of the network (`model.warp`), used for the merged MVs.
    """

    def __init__(self, convention: str = "exact"):
        self.convention = convention
        self.slots: list[Slot] = []

    def reset(self) -> None:
        """Forget every frame (start of a new sequence or scene)."""
        self.slots = []

    @property
    def full(self) -> bool:
        """Whether three history frames are present, so a frame can be predicted."""
        return len(self.slots) == HISTORY_SLOTS

    @property
    def available(self) -> tuple[tuple[bool, bool], ...]:
        """Per slot, newest first: (rendered half present, predicted half present)."""
        return tuple((s.rendered is not None, s.predicted is not None) for s in self.slots)

    def advance_rendered(self, frame: Frame, prediction: NetOutputs | None = None) -> None:
        """Frame t was rendered and enters as slot 0. With `prediction` (training: frame t was also
        predicted), its predicted half is kept too, so a later pattern may choose either."""
        _require(frame, RENDERED_BUFFERS, "rendered history frame")
        slot = Slot(frame["motion_vector"].float(), rendered=history_frame(frame))
        if prediction is not None:
            slot.predicted = predicted_history_frame(prediction, slot.rendered.brdf_color)
            slot.streamed = prediction.stream
        self._push(slot)

    def advance_predicted(self, frame: Frame, prediction: NetOutputs) -> None:
        """Frame t was not shaded: its prediction (and the streamed features of the pass that made it)
        enters as slot 0; `frame` gives its G-buffer's BRDF colour and motion vector."""
        _require(frame, PREDICTED_BUFFERS, "predicted history frame")
        brdf = frame["brdf_color"].float().clamp(min=BRDF_FLOOR)
        slot = Slot(frame["motion_vector"].float(), predicted=predicted_history_frame(prediction, brdf))
        slot.streamed = prediction.stream
        self._push(slot)

    def pattern(self, pattern: Sequence[bool] | None = None) -> tuple[bool, ...]:
        """The R/P choice per slot: `pattern` as given, or (None) the prediction wherever the frame was
        not rendered (inference: the network sees exactly what a player would have seen)."""
        if not self.full:
            raise InputError(f"history holds {len(self.slots)} of {HISTORY_SLOTS} frames; render more first")
        if pattern is None:
            return tuple(s.rendered is None for s in self.slots)
        if len(pattern) != HISTORY_SLOTS:
            raise InputError(f"history pattern needs {HISTORY_SLOTS} entries (t-1, t-2, t-3), got {len(pattern)}")
        return tuple(bool(p) for p in pattern)

    def inputs(self, current: Frame, pattern: Sequence[bool] | None = None) -> tuple[NetInputs, StreamState]:
        """Network inputs for predicting `current` (its G-buffer, BRDF colour, sky mask and MV) with the
        history halves chosen by `pattern`, and the matching streaming state (with cached encodings)."""
        _require(current, CURRENT_BUFFERS, "current frame")
        choice = self.pattern(pattern)
        halves = [slot.half(p) for slot, p in zip(self.slots, choice, strict=True)]
        frame = {name: current[name].float() for name in CURRENT_BUFFERS}
        mvs = [frame["motion_vector"], self.slots[0].motion_vector, self.slots[1].motion_vector]
        inputs = NetInputs(
            gbuffer=gbuffer_input(frame),
            brdf_color=frame["brdf_color"].clamp(min=BRDF_FLOOR),
            sky_mask=frame["skybox_mask"],
            merged_mv=merged_motion_vectors(mvs, convention=self.convention),
            history=tuple(h for h, _ in halves),
        )
        encodings = tuple(slot.encodings.get(p) for slot, p in zip(self.slots, choice, strict=True))
        return inputs, StreamState(tuple(s for _, s in halves), encodings)

    def remember_encodings(self, pattern: tuple[bool, ...], state: StreamState) -> None:
        """Keep the history encodings a `FSNet.step` computed (its returned state, already pushed: slot
        k's encoding sits at k+1) for reuse by the next step; slot 2's encoding is never needed again."""
        for k in range(HISTORY_SLOTS - 1):
            encoding = state.encodings[k + 1]
            if encoding is not None:
                self.slots[k].encodings[pattern[k]] = encoding

    def _push(self, slot: Slot) -> None:
        self.slots = [slot, *self.slots[: HISTORY_SLOTS - 1]]


class Rollout:
    """Drives a network over frames with one `History` (module docstring).

    `reuse_encodings` (inference): `FSNet.step` with each history frame encoded once and reused by the
    next two predictions. Off (training): `forward`, which re-encodes every slot so gradients reach the
    history encoder through all three.
    """

    def __init__(self, model: torch.nn.Module, *, reuse_encodings: bool = True, convention: str | None = None):
        self.model = model
        self.reuse_encodings = reuse_encodings
        self.history = History(convention or getattr(model, "warp", "exact"))

    def predict(self, frame: Frame, pattern: Sequence[bool] | None = None) -> NetOutputs:
        """Predict `frame` from its G-buffer and the history (R/P halves chosen by `pattern`; None = what
        was actually rendered). The history does not change: advance it with the result."""
        inputs, state = self.history.inputs(frame, pattern)
        if not self.reuse_encodings:
            return self.model(inputs, state)
        outputs, next_state = self.model.step(inputs, state)
        self.history.remember_encodings(self.history.pattern(pattern), next_state)
        return outputs


def _require(frame: Frame, names: Sequence[str], what: str) -> None:
    missing = [name for name in names if name not in frame]
    if missing:
        have = ", ".join(sorted(frame)) or "nothing"
        raise InputError(f"{what}: buffer(s) {', '.join(missing)} missing (frame has: {have})")
