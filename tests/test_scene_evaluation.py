"""Scoring a scene as `lmv test` does (`lmv_cli.core.evaluate`), on a hand-built in-memory scene (10 frames
of 16x12, float16 colours and a uint8 sky mask like the store, the frame index written into the roughness
G-buffer) and a stub model following `FSNet.step`'s contract (it predicts the exact ground truth of the
frame whose G-buffer it is given and notes the streamed state it is handed):

- `evaluate_scene`: which frames are predicted and scored for N = 1, 2, 3 and a `start`/`end` window, every
  record's fields (rendered frames: no metrics), the history each prediction sees (predicted vs rendered
  slots), the model, `warp` and `repeat` scored on the same frame against its own ground truth (repeat =
  last rendered frame, warp = it reprojected with the rendered MVs), ꟻLIP only when asked, `on_frame` and
  progress, eval mode inside and the mode restored, model names clashing with the baselines;
- `frame_range`: its boundaries and the facts of its refusals;
- `read_frame`: buffers, dtype, shape, device; `score`: keys with and without ꟻLIP;
- `data_signature` / `check_model_store`: signatures of partial attrs and every refusal's facts;
- `summarize`: means per scene (in order of appearance) and over all scenes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lmv_cli.core import baselines
from lmv_cli.core import compat
from lmv_cli.core import evaluate as ev
from lmv_cli.core.errors import CheckpointError, InputError
from lmv_cli.core.evaluate import FrameRecord, Summary
from lmv_cli.core.inputs import CHANNELS
from lmv_cli.core.metrics import flip, frame_metrics
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.streaming import StreamState

H, W, FRAMES = 12, 16, 10
METRICS = {"psnr", "ssim", "psnr_no_st", "ssim_no_st", "psnr_st", "ssim_st"}


def _arrays(t: int) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    no_st = np.stack([0.1 + 0.04 * ((xx + 2 * t) % 7) + 0.05 * c + 0.02 * yy / H for c in range(3)])
    full = lambda c, v: np.full((c, H, W), v, np.float32)  # noqa: E731
    mv = np.stack([np.full((H, W), 0.125 * (1 + t % 2), np.float32), np.zeros((H, W), np.float32)])
    a = {
        "world_normal": full(3, 0.0), "depth": full(1, 100.0), "roughness": full(1, t / 100),
        "metallic": full(1, 0.0), "brdf_color": full(3, 0.5), "motion_vector": mv,
        "scene_color_no_st": no_st, "sky_color": full(3, 0.3), "st_color": full(3, 0.01 + 0.02 * (t % 3)),
        "st_alpha": full(1, 0.9 - 0.05 * (t % 2)), "scene_color": no_st, "base_color": full(3, 0.2),
    }
    out = {k: v.astype(np.float16) for k, v in a.items()}
    out["skybox_mask"] = np.zeros((1, H, W), np.uint8)
    return out


class FakeScene:
    """What `evaluate_scene` uses of a store `Scene`: name, frames, height/width, `frame(t, buffers)`."""

    def __init__(self, name: str = "hall", frames: int = FRAMES):
        self.name, self.frames, self.height, self.width = name, frames, H, W
        self._data = [_arrays(t) for t in range(frames)]

    def frame(self, t, buffers=None):
        data = self._data[t]
        return dict(data) if buffers is None else {b: data[b] for b in buffers}


def _tensors(scene: FakeScene, t: int) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v.astype(np.float32))[None] for k, v in scene._data[t].items()}


def _layers(scene: FakeScene, t: int) -> NetOutputs:
    """Rendered layers of frame t by hand: colour = no_st · alpha + st."""
    f = _tensors(scene, t)
    no_st, st, alpha = f["scene_color_no_st"], f["st_color"], f["st_alpha"]
    return NetOutputs(color=no_st * alpha + st, color_no_st=no_st, light_no_st=no_st / 0.5, sky=f["sky_color"],
                      st_color=st, st_alpha=alpha)


class Stub(torch.nn.Module):
    """`FSNet.step` contract: predicts the ground truth of the frame its G-buffer belongs to (roughness = t/100),
    streams the marker ("stream", t), records (t, streams seen, training flag)."""

    warp = "exact"

    def __init__(self, scene: FakeScene):
        super().__init__()
        self.scene, self.calls = scene, []

    def step(self, inputs, state):
        t = round(float(inputs.gbuffer[0, 4, 0, 0]) * 100)
        self.calls.append((t, state.streams, self.training))
        out = _layers(self.scene, t)
        out.stream = ("stream", t)
        return out, StreamState((None,) * 3, (None,) * 3)


def _run(n=2, **kwargs):
    scene = FakeScene()
    stub = Stub(scene)
    return scene, stub, ev.evaluate_scene(scene, n, {"stub": stub}, **kwargs)


@pytest.fixture(scope="module")
def walked():
    """One whole-scene walk per N (they are the slow part): scene, stub, records and what `on_frame` saw."""
    runs = {}
    for n in (1, 2, 3):
        seen = []
        scene, stub, records = _run(n, on_frame=lambda r, outs, tg, seen=seen: seen.append((r, outs, tg)))
        runs[n] = scene, stub, records, seen
    return runs


# --- evaluate_scene ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "sources"), [
    (1, [0, 0, 0, 1, 0, 1, 0, 1, 0, 1]),
    (2, [0, 0, 0, 1, 2, 0, 1, 2, 0, 1]),
    (3, [0, 0, 0, 1, 2, 3, 0, 1, 2, 3]),
])
def test_records_of_every_frame(walked, n, sources):
    scene, stub, records, _ = walked[n]
    assert [r.frame for r in records] == list(range(10))
    assert [r.scene for r in records] == ["hall"] * 10
    assert [r.source for r in records] == sources
    assert [r.predicted for r in records] == [s > 0 for s in sources]
    for r in records:
        if r.predicted:
            assert set(r.metrics) == {"stub", "warp", "repeat"}
            assert all(set(v) == METRICS for v in r.metrics.values())
            assert r.metrics["stub"]["psnr"] == math.inf and r.metrics["stub"]["ssim"] == pytest.approx(1.0)
        else:
            assert r == FrameRecord("hall", r.frame, False, 0, {})
    assert [c[0] for c in stub.calls] == [t for t, s in enumerate(sources) if s]


def test_window_start_end():
    scene, stub, records = _run(1, start=2, end=9)
    assert [(r.frame, r.source) for r in records] == [(2, 0), (3, 0), (4, 0), (5, 1), (6, 0), (7, 1), (8, 0)]
    assert [c[0] for c in stub.calls] == [5, 7]


def test_history_seen_by_each_prediction(walked):
    """N = 2: a predicted frame enters the history with the stream of its pass, a rendered one with none."""
    _, stub, _, _ = walked[2]
    mark = lambda t: ("stream", t)  # noqa: E731
    assert [(t, streams) for t, streams, _ in stub.calls] == [
        (3, (None, None, None)),
        (4, (mark(3), None, None)),
        (6, (None, mark(4), mark(3))),
        (7, (mark(6), None, mark(4))),
        (9, (None, mark(7), mark(6))),
    ]


def test_baselines_and_model_on_the_same_frame_and_ground_truth(walked):
    scene, _, records, seen = walked[3]  # N = 3: frames 1, 2 and 3 after the last rendered one
    assert [s[0] for s in seen] == records
    for record, outs, targets in seen:
        t = record.frame
        truth = _layers(scene, t)
        assert torch.allclose(targets.scene_color, truth.color)
        assert torch.equal(targets.st_alpha, truth.st_alpha)
        if not record.predicted:
            assert outs == {}
            continue
        s = record.source
        assert set(outs) == {"stub", "warp", "repeat"}
        assert torch.allclose(outs["stub"].color, truth.color)
        shown = _layers(scene, t - s)  # the last rendered frame
        assert torch.allclose(outs["repeat"].color, shown.color)
        assert torch.allclose(outs["repeat"].color_no_st, shown.color_no_st)
        recent = [_tensors(scene, t - k) for k in range(4)]
        warped = baselines.warp(recent, s)
        assert torch.allclose(outs["warp"].color, warped.color)
        assert not torch.allclose(outs["warp"].color, outs["repeat"].color)
        for name in ("warp", "repeat"):
            expected = frame_metrics(warped if name == "warp" else shown, truth_targets(truth))
            for m in ("psnr", "ssim_no_st", "psnr_st"):
                assert record.metrics[name][m] == pytest.approx(float(expected[m][0]), rel=1e-5, abs=1e-6)


def truth_targets(truth: NetOutputs):
    return SimpleNamespace(scene_color=truth.color, no_st=truth.color_no_st, st_color=truth.st_color)


def test_flip_only_when_asked(walked):
    _, _, plain, _ = walked[1]
    assert set(plain[3].metrics["warp"]) == METRICS
    _, _, flipped = _run(1, end=5, flip_metrics=True)
    r = flipped[3]
    assert set(r.metrics["repeat"]) == METRICS | {"flip_hdr", "flip_ldr"}
    assert r.metrics["stub"]["flip_hdr"] == 0.0 and r.metrics["stub"]["flip_ldr"] == 0.0
    assert r.metrics["repeat"]["flip_hdr"] > 0 and r.metrics["repeat"]["flip_ldr"] > 0


def test_progress_calls():
    calls = []
    ev.evaluate_scene(FakeScene(), 1, {}, start=1, end=6, progress=lambda *a: calls.append(a))
    assert calls == [("hall", 1, 5), ("hall", 2, 5), ("hall", 3, 5), ("hall", 4, 5), ("hall", 5, 5)]


def test_baselines_alone():
    records = ev.evaluate_scene(FakeScene(), 1, {}, end=5)
    assert [set(r.metrics) for r in records] == [set(), set(), set(), {"warp", "repeat"}, set()]



def test_scoring_on_a_second_thread_gives_the_same_records_in_order(walked):
    _, _, expected, _ = walked[2]
    threads = torch.get_num_threads()
    seen, progress = [], []
    _, _, records = _run(2, overlap=True, on_frame=lambda r, outs, tg: seen.append(r.frame),
                         progress=lambda *a: progress.append(a[1]))
    assert [(r.frame, r.source, r.metrics) for r in records] == [(r.frame, r.source, r.metrics) for r in expected]
    assert seen == [r.frame for r in records] and progress == list(range(1, len(records) + 1))
    assert torch.get_num_threads() == threads  # the caller's CPU threads given back


def test_an_error_while_scoring_on_the_second_thread_reaches_the_caller():
    def fail(record, outputs, targets):
        if record.predicted:
            raise InputError(f"frame {record.frame} cannot be shown")

    threads = torch.get_num_threads()
    with pytest.raises(InputError, match="frame 3"):
        _run(1, overlap=True, on_frame=fail)
    assert torch.get_num_threads() == threads


def test_eval_mode_inside_and_mode_restored():
    scene = FakeScene()
    training, frozen = Stub(scene).train(), Stub(scene).eval()
    ev.evaluate_scene(scene, 1, {"a": training, "b": frozen}, end=6)
    assert [c[2] for c in training.calls] == [False, False]
    assert training.training is True and frozen.training is False


def test_model_names_clashing_with_the_baselines():
    scene = FakeScene()
    with pytest.raises(InputError, match=r"repeat, warp.*baselines") as e:
        ev.evaluate_scene(scene, 1, {"repeat": Stub(scene), "ok": Stub(scene), "warp": Stub(scene)})
    assert "ok" not in str(e.value)


# --- frame_range ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "start", "end", "expected"), [
    (1, 0, None, (0, 10)), (3, 0, 10, (0, 10)), (2, 6, None, (6, 10)), (1, 3, 7, (3, 7)),
])
def test_frame_range_accepts(n, start, end, expected):
    assert ev.frame_range(FakeScene(), n, start, end) == expected


@pytest.mark.parametrize(("n", "start", "end", "facts"), [
    (0, 0, None, r"1\.\.3, got 0"),
    (4, 0, None, r"1\.\.3, got 4"),
    (1, -1, None, r"hall.* -1\.\.9 .*0\.\.9"),  # the scene, the range asked for, the frames it has
    (1, 0, 11, r"hall.* 0\.\.10 .*0\.\.9"),
    (1, 5, 5, r"hall.* 5\.\.4 .*0\.\.9"),
    (1, 6, 4, r"hall.* 6\.\.3 .*0\.\.9"),
    (1, 7, None, r"hall.* 7\.\.9 are 3, need at least 4"),
    (2, 2, 5, r"hall.* 2\.\.4 are 3, need at least 4"),
])
def test_frame_range_refuses(n, start, end, facts):
    with pytest.raises(InputError, match=facts):
        ev.frame_range(FakeScene(), n, start, end)


# --- read_frame and score ---------------------------------------------------------------------------------


def test_read_frame():
    scene = FakeScene()
    frame = ev.read_frame(scene, 4)
    assert list(frame) == ["world_normal", "depth", "roughness", "metallic", "brdf_color", "skybox_mask",
                           "motion_vector", "scene_color_no_st", "sky_color", "st_color", "st_alpha"]
    for name, x in frame.items():
        assert x.dtype == torch.float32 and x.device.type == "cpu"
        assert x.shape == (1, CHANNELS[name], H, W)
    assert float(frame["roughness"][0, 0, 0, 0]) == pytest.approx(0.04, abs=1e-4)
    assert float(frame["st_color"][0, 0, 0, 0]) == pytest.approx(0.03, abs=1e-4)
    assert ev.read_frame(scene, 4, "meta")["depth"].device.type == "meta"


def _pair():
    scene = FakeScene()
    out, truth = _layers(scene, 3), _layers(scene, 4)
    targets = SimpleNamespace(scene_color=truth.color, no_st=truth.color_no_st, st_color=truth.st_color)
    return out, targets


def test_score_without_and_with_flip():
    out, targets = _pair()
    plain = ev.score(out, targets)
    assert set(plain) == METRICS and all(type(v) is float for v in plain.values())
    assert plain["psnr"] == pytest.approx(float(frame_metrics(out, targets)["psnr"][0]), rel=1e-6)
    both = ev.score(out, targets, True)
    assert set(both) == METRICS | {"flip_hdr", "flip_ldr"}
    assert both["flip_hdr"] == pytest.approx(float(flip(out.color, targets.scene_color, "HDR")[0]), rel=1e-6)
    assert both["flip_ldr"] == pytest.approx(float(flip(out.color, targets.scene_color, "LDR")[0]), rel=1e-6)
    assert both["flip_hdr"] != both["flip_ldr"]


# --- data_signature and check_model_store ----------------------------------------------------------------

FRAME_CHANNELS = {"world_normal": 3, "depth": 1, "roughness": 1, "metallic": 1, "brdf_color": 3, "skybox_mask": 1,
                  "motion_vector": 2, "scene_color_no_st": 3, "sky_color": 3, "st_color": 3, "st_alpha": 1}
STORE_PATH = Path("/data/s.zarr")


def _store(channels=None, **attrs):
    buffers = {name: {"channels": c, "dtype": "float16"} for name, c in (channels or FRAME_CHANNELS).items()}
    buffers["base_color"] = {"channels": 3}
    base = {"format_version": 2, "layout": {"buffers": buffers}, "conversions": {"brdf_floor": 0.01, "lut": "abc"}}
    return SimpleNamespace(path=STORE_PATH, attrs={**base, **attrs})


def test_data_signature():
    sig = compat.data_signature(_store())
    assert sig == {"format_version": 2, "channels": FRAME_CHANNELS,
                   "conversions": {"brdf_floor": 0.01, "lut": "abc"}}
    assert list(sig["channels"]) == list(FRAME_CHANNELS)


def test_data_signature_of_partial_attrs():
    none = dict.fromkeys(FRAME_CHANNELS)
    assert compat.data_signature(SimpleNamespace(attrs={})) == {"format_version": None, "channels": none,
                                                            "conversions": {}}
    assert compat.data_signature(SimpleNamespace(attrs={"layout": {}}))["channels"] == none
    partial = SimpleNamespace(attrs={"layout": {"buffers": {"depth": {"channels": 1}, "st_alpha": {}}}})
    assert compat.data_signature(partial)["channels"] == {**none, "depth": 1}


def _refusal(model, meta, store, path="m/tiny.pt") -> str:
    with pytest.raises(CheckpointError) as e:
        compat.check_model_store(model, meta, store, path)
    assert e.value.path == Path(path)
    return e.value.message


def test_check_model_store_agrees():
    store, sig = _store(), compat.data_signature(_store())
    for model in (object(), SimpleNamespace(gbuffer_channels=6)):
        for meta in ({}, {"data": sig}, {"data": "old"}, {"data": {}}, {"data": {"format_version": 2}},
                     {"data": {"conversions": {"lut": "abc", "brdf_floor": 0.01}}}, {"other": 1}):
            assert compat.check_model_store(model, meta, store, "m.pt") is None


def test_check_model_store_channels():
    msg = _refusal(object(), {}, _store({**FRAME_CHANNELS, "st_color": 4}))
    assert re.search(r"/data/s\.zarr.* 4 channel.*'st_color'.* 3\b", msg)  # the store's count, then the network's
    msg = _refusal(object(), {}, _store({k: v for k, v in FRAME_CHANNELS.items() if k != "sky_color"}))
    assert re.search(r"/data/s\.zarr.* None channel.*'sky_color'.* 3\b", msg)


def test_check_model_store_gbuffer():
    msg = _refusal(SimpleNamespace(gbuffer_channels=7), {}, _store())
    assert re.search(r"7 G-buffer.*/data/s\.zarr.* 6\b", msg)


def test_check_model_store_format_version():
    msg = _refusal(object(), {"data": {"format_version": 1, "conversions": {}}}, _store())
    assert re.search(r"format version 1\b.*/data/s\.zarr.* 2\b", msg)


@pytest.mark.parametrize(("conversions", "facts"), [
    ({"brdf_floor": 0.05, "lut": "xyz"}, r"brdf_floor.*0\.05.*/data/s\.zarr.*0\.01"),  # the key, trained, store
    ({"brdf_floor": 0.01, "lut": "xyz"}, r"lut.*'xyz'.*/data/s\.zarr.*'abc'"),
    ({"brdf_floor": 0.01}, r"lut.*None.*/data/s\.zarr.*'abc'"),
    ({"brdf_floor": 0.01, "lut": "abc", "depth": 2}, r"depth.*2.*/data/s\.zarr.*None"),
])
def test_check_model_store_conversions(conversions, facts):
    msg = _refusal(object(), {"data": {"format_version": 2, "conversions": conversions}}, _store())
    assert re.search(facts, msg)


# --- summarize --------------------------------------------------------------------------------------------


def _rec(scene, frame, **methods):
    return FrameRecord(scene, frame, True, 1, {m: {"psnr": v[0], "ssim": v[1]} for m, v in methods.items()})


def test_summarize_means():
    records = [
        FrameRecord("b", 2, False, 0), _rec("b", 3, warp=(10.0, 0.5), net=(20.0, 0.25)),
        _rec("b", 4, warp=(20.0, 0.75), net=(30.0, 0.75)), _rec("a", 3, warp=(40.0, 1.0), net=(50.0, 0.5)),
        FrameRecord("a", 4, False, 0),
    ]
    table = ev.summarize(records)
    assert list(table) == ["b", "a", "all"]
    assert table["b"] == Summary("b", 2, {"warp": {"psnr": 15.0, "ssim": 0.625}, "net": {"psnr": 25.0, "ssim": 0.5}})
    assert table["a"] == Summary("a", 1, {"warp": {"psnr": 40.0, "ssim": 1.0}, "net": {"psnr": 50.0, "ssim": 0.5}})
    assert table["all"] == Summary("all", 3, {"warp": {"psnr": 70 / 3, "ssim": 0.75},
                                              "net": {"psnr": 100 / 3, "ssim": 1.5 / 3}})


def test_summarize_nothing_scored():
    assert ev.summarize([]) == {"all": Summary("all", 0, {})}
    assert ev.summarize([FrameRecord("a", 0, False, 0)]) == {"all": Summary("all", 0, {})}
