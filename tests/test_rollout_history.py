"""The rolling history behind extrapolation (`lmv_cli.core.rollout`): `rp_schedule` (which frames are
predicted for a given N and warmup, its argument checks), the missing-buffer refusals (what is missing, what
the frame has), `Slot.half`'s choice and errors, `History` (default convention, newest-first order and the
3-slot cap, `reset`, what `advance_rendered` / `advance_predicted` keep per half, `pattern`'s default and
checks, what `inputs` hands the network: fields, merged MVs built from [current, slot 0, slot 1], chosen
halves, streamed features and cached encodings per chosen half, `remember_encodings`' k+1 shift) and
`Rollout` (convention from the model or the argument; the state and inputs it hands the model, with and
without reused encodings).

The network is a stub that keeps what it is handed (`Rollout` accepts any object with FSNet's
`forward(inputs, state)` / `step(inputs, state)` contract); tensors are 1x?x4x4 constants so expected
values are written by hand."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.errors import ConfigError, InputError
from lmv_cli.core.inputs import merged_motion_vectors
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.streaming import StreamedFeatures, StreamState
from lmv_cli.core.rollout import History, Rollout, Slot, rp_schedule

H = W = 4

F, T = False, True


def _c(value: float, channels: int = 3, dtype=torch.float32) -> torch.Tensor:
    return torch.full((1, channels, H, W), value)


def _mv(value: float, dtype=torch.float32) -> torch.Tensor:
    return _c(value, 2, dtype)


def _rendered(mv: float = 0.0, brdf: float = 0.5, no_st: float = 0.25) -> dict:
    return {
        "scene_color_no_st": _c(no_st),
        "sky_color": _c(0.1),
        "st_color": _c(0.2),
        "st_alpha": _c(0.75, 1),
        "brdf_color": _c(brdf),
        "motion_vector": _mv(mv),
    }


def _current(mv: float = 0.0, brdf: float = 0.5) -> dict:
    return {
        "world_normal": _c(0.0),
        "depth": _c(0.0, 1),
        "roughness": _c(0.3, 1),
        "metallic": _c(0.6, 1),
        "brdf_color": _c(brdf),
        "skybox_mask": _c(1.0, 1),
        "motion_vector": _mv(mv),
    }


def _stream(tag: float) -> StreamedFeatures:
    return StreamedFeatures(decoder=(torch.full((1,), tag),), gbuffer=(torch.full((1,), tag),))


def _outputs(no_st: float = 0.4, stream: StreamedFeatures | None = None) -> NetOutputs:
    return NetOutputs(
        color=_c(no_st),
        color_no_st=_c(no_st),
        light_no_st=_c(0.8),
        sky=_c(0.05),
        st_color=_c(0.0),
        st_alpha=_c(1.0, 1),
        stream=stream,
    )


# --- rp_schedule -------------------------------------------------------------------------------------------


def test_rp_schedule_patterns():
    assert rp_schedule(10, 2) == [F, F, F, T, T, F, T, T, F, T]
    assert rp_schedule(9, 3) == [F, F, F, T, T, T, F, T, T]
    assert rp_schedule(6, 1) == [F, F, F, T, F, T]
    assert rp_schedule(5, 0) == [F] * 5
    assert rp_schedule(5, 1, warmup=0) == [T, F, T, F, T]
    assert rp_schedule(0, 2) == []
    assert rp_schedule(2, 2) == [F, F]


def test_rp_schedule_rejects_negative_arguments():
    with pytest.raises(InputError, match=r">= 0, got 5, -1"):
        rp_schedule(5, -1)
    with pytest.raises(InputError, match=r">= 0, got -1, 2"):
        rp_schedule(-1, 2)


# --- _require messages -------------------------------------------------------------------------------------


def test_missing_buffer_messages():
    h = History()
    frame = _rendered()
    del frame["st_color"], frame["st_alpha"]
    # which frame, what is missing, then what the frame has
    with pytest.raises(InputError, match=r"rendered.*st_color, st_alpha.*brdf_color, motion_vector, scene_color_no_st, "
                                         r"sky_color"):
        h.advance_rendered(frame)
    with pytest.raises(InputError, match=r"predicted.*brdf_color, motion_vector.*nothing"):
        h.advance_predicted({}, _outputs())
    with pytest.raises(InputError, match=r"predicted.*brdf_color\b.*\bmotion_vector\)?$"):
        h.advance_predicted({"motion_vector": _mv(0.0)}, _outputs())
    with pytest.raises(InputError, match=r"current.*world_normal, roughness, metallic, brdf_color, skybox_mask, "
                                         r"motion_vector.*depth, zz"):
        h.inputs({"depth": _c(0.0, 1), "zz": _c(0.0)})
    assert h.slots == []


# --- Slot.half ---------------------------------------------------------------------------------------------


def test_slot_half_choice_and_errors():
    h = History()
    h.advance_rendered(_rendered(), prediction=_outputs(stream=_stream(1.0)))
    slot = h.slots[0]
    assert slot.half(False) == (slot.rendered, None)
    frame, streamed = slot.half(True)
    assert frame is slot.predicted and streamed is slot.streamed
    with pytest.raises(InputError, match="predicted half.*not predicted"):
        Slot(_mv(0.0), rendered=slot.rendered).half(True)
    with pytest.raises(InputError, match="rendered half.*not rendered"):
        Slot(_mv(0.0), predicted=slot.predicted).half(False)


# --- History -----------------------------------------------------------------------------------------------


def test_history_default_convention_and_reset():
    h = History()
    assert h.convention == "exact"
    assert h.slots == []
    assert History("original").convention == "original"
    for k in range(3):
        h.advance_rendered(_rendered(mv=0.01 * k))
    assert h.full
    h.reset()
    assert h.slots == []
    assert not h.full
    assert h.available == ()


def test_history_push_keeps_three_newest_first():
    h = History()
    for k in range(2):
        h.advance_rendered(_rendered(mv=0.01 * (k + 1)))
    assert len(h.slots) == 2 and not h.full
    for k in range(2, 5):
        h.advance_rendered(_rendered(mv=0.01 * (k + 1)))
    assert len(h.slots) == 3 and h.full
    firsts = [round(float(s.motion_vector[0, 0, 0, 0]), 4) for s in h.slots]
    assert firsts == [0.05, 0.04, 0.03]


def test_advance_rendered_keeps_rendered_half():
    h = History()
    h.advance_rendered({**_rendered(brdf=0.0, no_st=-1.0), "motion_vector": _mv(0.125, torch.float16)})
    slot = h.slots[0]
    assert slot.motion_vector.dtype == torch.float32
    assert torch.equal(slot.motion_vector, _mv(0.125))
    assert slot.predicted is None and slot.streamed is None and slot.encodings == {}
    assert torch.equal(slot.rendered.color_no_st, _c(0.0))  # clamped at 0
    assert torch.allclose(slot.rendered.brdf_color, _c(0.01))  # floored
    assert torch.equal(slot.rendered.st_alpha, _c(0.75, 1))
    assert h.available == ((True, False),)


def test_advance_rendered_with_prediction_keeps_both_halves():
    h = History()
    stream = _stream(2.0)
    h.advance_rendered(_rendered(brdf=0.005), prediction=_outputs(no_st=-0.5, stream=stream))
    slot = h.slots[0]
    assert slot.rendered is not None and slot.predicted is not None
    assert slot.streamed is stream
    assert torch.equal(slot.predicted.color_no_st, _c(0.0))  # the prediction's, clamped
    assert torch.equal(slot.rendered.color_no_st, _c(0.25))
    assert torch.allclose(slot.predicted.brdf_color, _c(0.01))  # the rendered half's floored BRDF
    assert torch.equal(slot.predicted.st_alpha, _c(1.0, 1))
    assert h.available == ((True, True),)


def test_advance_predicted_keeps_predicted_half():
    h = History()
    stream = _stream(3.0)
    frame = {"brdf_color": _c(0.0, dtype=torch.float16), "motion_vector": _mv(-0.25, torch.float16)}
    h.advance_predicted(frame, _outputs(no_st=0.4, stream=stream))
    slot = h.slots[0]
    assert slot.rendered is None
    assert slot.streamed is stream
    assert slot.motion_vector.dtype == torch.float32
    assert torch.equal(slot.motion_vector, _mv(-0.25))
    assert slot.predicted.brdf_color.dtype == torch.float32
    assert torch.allclose(slot.predicted.brdf_color, _c(0.01))
    assert torch.allclose(slot.predicted.color_no_st, _c(0.4))
    h.advance_predicted({"brdf_color": _c(0.5), "motion_vector": _mv(0.0)}, _outputs())
    assert torch.equal(h.slots[1].motion_vector, _mv(-0.25))
    assert torch.allclose(h.slots[0].predicted.brdf_color, _c(0.5))
    assert h.slots[0].streamed is None
    assert h.available == ((False, True), (False, True))


def _mixed_history() -> tuple[History, list[StreamedFeatures]]:
    """slot 2: rendered only; slot 1: rendered + predicted; slot 0: predicted only."""
    h = History()
    streams = [_stream(1.0), _stream(2.0)]
    h.advance_rendered(_rendered(mv=0.04))
    h.advance_rendered(_rendered(mv=0.02), prediction=_outputs(stream=streams[0]))
    h.advance_predicted({"brdf_color": _c(0.5), "motion_vector": _mv(0.01)}, _outputs(stream=streams[1]))
    return h, streams


def test_pattern_default_and_checks():
    h = History()
    h.advance_rendered(_rendered())
    h.advance_rendered(_rendered())
    with pytest.raises(InputError, match="2 of 3 frames"):
        h.pattern()
    with pytest.raises(InputError, match="2 of 3 frames"):
        h.pattern((T, F, F))
    h, _ = _mixed_history()
    assert h.available == ((False, True), (True, True), (True, False))
    assert h.pattern() == (T, F, F)
    assert h.pattern([1, 1, 0]) == (T, T, F)
    assert all(type(p) is bool for p in h.pattern([1, 0, 1]))
    assert h.pattern([0, 0, 1]) == (F, F, T)
    for bad in ((T, F), (T, F, F, F)):
        with pytest.raises(InputError, match=rf"3 entries.*got {len(bad)}"):
            h.pattern(bad)


def test_inputs_fields_and_halves():
    h, streams = _mixed_history()
    h.slots[0].encodings = {T: "e0p"}
    h.slots[1].encodings = {T: "e1p", F: "e1r"}
    h.slots[2].encodings = {F: "e2r"}
    inputs, state = h.inputs(_current(mv=0.001, brdf=0.0), (T, T, F))
    assert torch.equal(inputs.gbuffer[:, :3], _c(0.5))
    assert torch.equal(inputs.gbuffer[:, 3:4], _c(0.0, 1))
    assert torch.allclose(inputs.gbuffer[:, 4:5], _c(0.3, 1))
    assert torch.allclose(inputs.gbuffer[:, 5:6], _c(0.6, 1))
    assert torch.allclose(inputs.brdf_color, _c(0.01))
    assert torch.equal(inputs.sky_mask, _c(1.0, 1))
    # merged MVs from [current, slot 0, slot 1] (sub-pixel motions: the nearest gather reads in place)
    assert len(inputs.merged_mv) == 3
    assert torch.allclose(inputs.merged_mv[0], _mv(0.001))
    assert torch.allclose(inputs.merged_mv[1], _mv(0.011))
    assert torch.allclose(inputs.merged_mv[2], _mv(0.031))
    assert inputs.history[0] is h.slots[0].predicted
    assert inputs.history[1] is h.slots[1].predicted
    assert inputs.history[2] is h.slots[2].rendered
    assert state.streams[0] is streams[1] and state.streams[1] is streams[0] and state.streams[2] is None
    assert state.encodings == ("e0p", "e1p", "e2r")

    inputs, state = h.inputs(_current(brdf=0.5))  # default: rendered wherever rendered
    assert inputs.history[1] is h.slots[1].rendered
    assert inputs.history[0] is h.slots[0].predicted
    assert state.streams[0] is streams[1] and state.streams[1] is None and state.streams[2] is None
    assert state.encodings == ("e0p", "e1r", "e2r")
    assert torch.allclose(inputs.brdf_color, _c(0.5))

    with pytest.raises(InputError, match="predicted half.*not predicted"):
        h.inputs(_current(), (T, F, T))
    with pytest.raises(InputError, match="rendered half.*not rendered"):
        h.inputs(_current(), (F, F, F))


def test_inputs_use_the_history_convention():
    g = torch.Generator().manual_seed(0)
    fields = [torch.rand(1, 2, H, W, generator=g) * 0.8 - 0.4 for _ in range(4)]  # up to 0.8 px: gathers differ

    def build(convention):
        h = History(convention)
        for mv in fields[1:]:
            h.advance_rendered({**_rendered(), "motion_vector": mv})
        return h

    current = {**_current(), "motion_vector": fields[0]}
    h = build("original")
    inputs, _ = h.inputs(current)
    mvs = [current["motion_vector"], h.slots[0].motion_vector, h.slots[1].motion_vector]
    original = merged_motion_vectors(mvs, convention="original")
    exact = merged_motion_vectors(mvs, convention="exact")
    assert not all(torch.equal(a, b) for a, b in zip(original, exact))
    assert all(torch.equal(a, b) for a, b in zip(inputs.merged_mv, original))
    with pytest.raises(ConfigError, match="got 'bogus'"):
        build("bogus").inputs(current)


def test_remember_encodings_shift():
    h, _ = _mixed_history()
    h.remember_encodings((T, F, T), StreamState(encodings=("A", "B", "C")))
    assert h.slots[0].encodings == {T: "B"}
    assert h.slots[1].encodings == {F: "C"}
    assert h.slots[2].encodings == {}
    h.remember_encodings((F, T, F), StreamState(encodings=("A", None, "D")))
    assert h.slots[0].encodings == {T: "B"}  # None is not remembered
    assert h.slots[1].encodings == {F: "C", T: "D"}
    assert h.slots[2].encodings == {}


# --- Rollout -----------------------------------------------------------------------------------------------


class _Stub:
    """FSNet's call contract; records every call."""

    def __init__(self, warp: str | None = None):
        if warp is not None:
            self.warp = warp
        self.calls = []
        self.out = _outputs(stream=_stream(9.0))

    def __call__(self, inputs, state):
        self.calls.append(("forward", inputs, state))
        return self.out

    def step(self, inputs, state):
        self.calls.append(("step", inputs, state))
        return self.out, StreamState(state.streams, ("n0", "n1", "n2")).push(self.out.stream)


def test_rollout_convention():
    assert Rollout(_Stub()).history.convention == "exact"
    assert Rollout(_Stub("original")).history.convention == "original"
    assert Rollout(_Stub("original"), convention="exact").history.convention == "exact"
    r = Rollout(_Stub())
    assert r.reuse_encodings is True
    assert r.history.slots == []


def test_rollout_predict_steps_and_remembers_encodings():
    stub = _Stub()
    r = Rollout(stub)
    assert r.model is stub
    h, streams = _mixed_history()
    r.history = h
    out = r.predict(_current(), (T, T, F))
    assert out is stub.out
    [(_, inputs, state)] = stub.calls
    assert inputs.history[1] is h.slots[1].predicted
    assert state.streams == (streams[1], streams[0], None)
    assert state.encodings == (None, None, None)
    assert h.slots[0].encodings == {T: "n0"}
    assert h.slots[1].encodings == {T: "n1"}
    assert h.slots[2].encodings == {}
    assert len(h.slots) == 3  # predict does not advance

    r.history.advance_predicted({"brdf_color": _c(0.5), "motion_vector": _mv(0.0)}, out)
    assert r.history.slots[0].streamed is out.stream
    out = r.predict(_current())  # default pattern (T, T, F): slot 1 is the former predicted-only slot 0
    _, inputs, state = stub.calls[-1]
    assert state.encodings == (None, "n0", None)
    assert state.streams == (out.stream, streams[1], None)


def test_rollout_without_reuse_calls_forward():
    stub = _Stub()
    r = Rollout(stub, reuse_encodings=False)
    h, streams = _mixed_history()
    h.slots[0].encodings = {T: "old"}
    r.history = h
    out = r.predict(_current(), (T, T, F))
    assert out is stub.out
    [(_, inputs, state)] = stub.calls
    assert inputs.history[1] is h.slots[1].predicted
    assert state.streams == (streams[1], streams[0], None)
    assert state.encodings == ("old", None, None)
    assert h.slots[0].encodings == {T: "old"}
    assert h.slots[1].encodings == {}
