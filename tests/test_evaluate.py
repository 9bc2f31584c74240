"""The streaming evaluation: R/P pattern, predicted history feeding back, baselines on the same frames,
summaries, and the model/store agreement check (real synth store, tiny trained model)."""

from __future__ import annotations

import copy
import dataclasses
import math
import shutil

import pytest
import torch

from helpers_export import set_root_attr
from lmv_cli.core import baselines
from lmv_cli.core.compat import DATA_META_KEY, check_model_store, data_signature
from lmv_cli.core.errors import CheckpointError, InputError
from lmv_cli.core.evaluate import (
    METRICS,
    OVERALL,
    FrameRecord,
    evaluate_scene,
    read_frame,
    summarize,
)
from lmv_cli.core.inputs import assemble_targets
from lmv_cli.core.metrics import frame_metrics
from lmv_cli.core.model.files import load_model
from lmv_cli.core.rollout import Rollout, rp_schedule
from lmv_cli.core.store import open_store


@pytest.fixture(scope="module")
def net(tiny_model):
    return load_model(tiny_model)[0]


@pytest.fixture(scope="module")
def scene(eval_store):
    return open_store(eval_store).scene("occlusion")


class PerturbAt(torch.nn.Module):
    """The real network, with its `call`-th prediction (1-based) brightened by 50 % (light and colour)."""

    def __init__(self, net: torch.nn.Module, call: int):
        super().__init__()
        self.net, self.call, self.calls, self.warp = net, call, 0, net.warp

    def step(self, inputs, state):
        out, state = self.net.step(inputs, state)
        self.calls += 1
        if self.calls == self.call:
            out = dataclasses.replace(out, light_no_st=out.light_no_st * 1.5, color_no_st=out.color_no_st * 1.5,
                                      color=out.color * 1.5)
        return out, state


@pytest.mark.parametrize("n", [1, 2, 3])
def test_rp_pattern_and_scored_frames(scene, net, n):
    records = evaluate_scene(scene, n, {"tiny": net}, start=1)
    assert [r.frame for r in records] == list(range(1, scene.frames))
    assert [r.predicted for r in records] == rp_schedule(scene.frames - 1, n)
    expected_source, sources = 0, []
    for r in records:
        expected_source = expected_source + 1 if r.predicted else 0
        sources.append(expected_source)
    assert [r.source for r in records] == sources
    assert max(sources) == n
    for r in records:
        assert set(r.metrics) == ({"tiny", "warp", "repeat"} if r.predicted else set())
        for values in r.metrics.values():
            assert set(values) == set(METRICS)


def test_baselines_scored_on_the_same_frames(scene, net):
    records = evaluate_scene(scene, 2, {"tiny": net})
    second = next(r for r in records if r.source == 2)  # frame 4: last rendered frame is 2
    t = second.frame
    recent = [read_frame(scene, t - k) for k in range(4)]
    targets = assemble_targets(recent[0])
    warp = frame_metrics(baselines.warp(recent, 2), targets)
    repeat = frame_metrics(baselines.repeat(recent, 2), targets)
    assert second.metrics["warp"]["psnr"] == pytest.approx(float(warp["psnr"][0]), abs=1e-5)
    assert second.metrics["repeat"]["ssim_no_st"] == pytest.approx(float(repeat["ssim_no_st"][0]), abs=1e-6)
    assert second.metrics["warp"]["psnr"] != second.metrics["repeat"]["psnr"]


def test_predicted_history_feeds_back(scene, net):
    """N = 3: perturbing the first prediction of a group changes the next two predictions of it."""
    records = evaluate_scene(scene, 3, {"base": net, "perturbed": PerturbAt(copy.deepcopy(net), call=1)})
    predicted = [r for r in records if r.predicted]
    first, second, third = predicted[:3]
    assert (first.source, second.source, third.source) == (1, 2, 3)
    assert first.metrics["base"]["psnr"] != first.metrics["perturbed"]["psnr"]  # the perturbation itself
    for later in (second, third):
        assert later.metrics["base"]["psnr"] != pytest.approx(later.metrics["perturbed"]["psnr"], abs=1e-4)


def test_rendered_frames_reset_the_history(scene, net):
    """Once the perturbed prediction has left the history behind rendered frames, predictions agree again;
    a rendered frame enters the history as rendered, whatever was predicted for it."""
    frames = [read_frame(scene, t) for t in range(8)]
    results = []
    for model in (net, PerturbAt(copy.deepcopy(net), call=1)):
        rollout = Rollout(model)
        for frame in frames[:3]:
            rollout.history.advance_rendered(frame)
        out = rollout.predict(frames[3])
        rollout.history.advance_predicted(frames[3], out)
        after_p = rollout.predict(frames[4]).color
        for frame in frames[4:7]:
            rollout.history.advance_rendered(frame)
        assert rollout.history.available == ((True, False),) * 3
        results.append((after_p, rollout.predict(frames[7]).color))
    (base_p, base_r), (pert_p, pert_r) = results
    assert not torch.allclose(base_p, pert_p, atol=1e-4)  # the perturbation reached the next prediction
    assert torch.equal(base_r, pert_r)  # three rendered frames later it is gone


def test_on_frame_sees_every_frame_with_outputs_of_predicted_ones(scene, net):
    seen = []
    evaluate_scene(scene, 1, {"tiny": net}, end=8, on_frame=lambda r, outs, tg: seen.append((r, set(outs), tg)))
    assert [r.frame for r, _, _ in seen] == list(range(8))
    for record, outputs, targets in seen:
        assert outputs == ({"tiny", "warp", "repeat"} if record.predicted else set())
        assert targets.scene_color.shape == (1, 3, scene.height, scene.width)


def test_eval_mode_inside_and_training_mode_restored(scene, net):
    net.train()
    modes = []
    evaluate_scene(scene, 1, {"tiny": net}, end=5, on_frame=lambda *_: modes.append(net.training))
    assert modes and not any(modes)
    assert net.training
    net.eval()


def test_summarize_means_per_scene_and_overall():
    def rec(scene, frame, psnr):
        return FrameRecord(scene, frame, True, 1, {"warp": {"psnr": psnr}})

    records = [rec("a", 3, 10.0), rec("a", 4, 20.0), FrameRecord("a", 5, False, 0), rec("b", 3, 40.0),
               rec("b", 4, math.inf)]
    table = summarize(records)
    assert list(table) == ["a", "b", OVERALL]
    assert table["a"].frames == 2 and table["a"].methods["warp"]["psnr"] == 15.0
    assert table["b"].methods["warp"]["psnr"] == math.inf
    assert table[OVERALL].frames == 4 and table[OVERALL].methods["warp"]["psnr"] == math.inf
    assert summarize(records[:3])[OVERALL].methods["warp"]["psnr"] == 15.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n=0), "must be 1..3, got 0"),
        (dict(n=4), "must be 1..3, got 4"),
        (dict(n=1, start=9), "frames 9..11 are 3, need at least 4"),
        (dict(n=1, end=13), "frame range 0..12 is outside its frames 0..11"),
    ],
)
def test_bad_arguments(scene, net, kwargs, match):
    n = kwargs.pop("n")
    with pytest.raises(InputError, match=match):
        evaluate_scene(scene, n, {"tiny": net}, **kwargs)


def test_model_named_like_a_baseline_is_refused(scene, net):
    with pytest.raises(InputError, match="clash with the baselines"):
        evaluate_scene(scene, 1, {"warp": net})


def test_model_store_agreement(eval_store, tiny_model, tmp_path):
    model, _, meta = load_model(tiny_model)
    store = open_store(eval_store)
    assert meta[DATA_META_KEY] == data_signature(store)
    check_model_store(model, meta, store, tiny_model)  # agrees
    check_model_store(model, {}, store, tiny_model)  # a model without data record: channels only

    other = {DATA_META_KEY: {**meta[DATA_META_KEY], "format_version": 1}}
    with pytest.raises(CheckpointError, match=r"tiny.pt: trained on store format version 1, store .* has 2"):
        check_model_store(model, other, store, tiny_model)
    conversions = {**meta[DATA_META_KEY]["conversions"], "brdf_floor": 0.05}
    with pytest.raises(CheckpointError, match=r"conversions with brdf_floor = 0.05, store .* has 0.01"):
        check_model_store(model, {DATA_META_KEY: {**meta[DATA_META_KEY], "conversions": conversions}}, store, "m.pt")

    copied = tmp_path / "copy.zarr"
    shutil.copytree(eval_store, copied)
    layout = copy.deepcopy(store.attrs["layout"])
    layout["buffers"]["depth"]["channels"] = 2
    set_root_attr(copied, layout=layout)
    with pytest.raises(CheckpointError, match="has 2 channel\\(s\\) of 'depth', the network reads 1"):
        check_model_store(model, {}, open_store(copied), tiny_model)
