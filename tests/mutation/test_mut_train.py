"""`lmv_cli.core.train` helpers pinned where mutation testing would find them unpinned (docs/testing.md "Mutation
testing"), without running a training loop:

- `schedule`: `cosine_lr` at both ends, a quarter of the way, past the end and for totals of 0 and 1;
  `draw_pattern`'s strict comparison and lengths; `sequence_probs`' strict threshold;
  `sequence_rng`'s seed words.
- `validate`: `validate` over two fake scenes (store and `evaluate_scene` replaced by recorders): the
  arguments passed, the `frames` limit, means over every scene's predicted frames, only psnr/ssim kept,
  the preview hook (first predicted frame of the first scene, once per N); `selection_psnr`.
- `logs`: the exact JSONL lines (non-finite floats as strings, tuples as lists), the TensorBoard
  scalars (tags, steps, which values), images, close, and the preview image layout.
- `rundir`: the run directory layout, names and `_2` suffixes, `config.yaml`, refusals and their exact
  messages, `is_run` and `find_run`.
- `checkpoint`: the payload fields, RNG state round trip, `read_checkpoint`'s refusals word for word,
  `restore`'s architecture and optimizer checks, `keep_history`'s names and pruning.
"""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from lmv_cli.core.data.index import SceneRef
from lmv_cli.core.evaluate import FrameRecord
from lmv_cli.core.train import validate as val
from lmv_cli.core.train.schedule import cosine_lr, draw_pattern, sequence_probs, sequence_rng

# --- schedule --------------------------------------------------------------------------------------------

RNG0 = (0.6369616873214543, 0.2697867137638703, 0.04097352393619469)  # default_rng(0).random(3)


def test_cosine_lr_values():
    assert cosine_lr(0, 100, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(50, 100, 3.0, 1.0) == pytest.approx(2.0)
    assert cosine_lr(100, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(25, 100, 1.0, 0.0) == pytest.approx(0.5 * (1 + math.sqrt(0.5)))
    assert cosine_lr(75, 100, 3.0, 1.0) == pytest.approx(1.0 + (1 - math.sqrt(0.5)))


def test_cosine_lr_past_the_end_and_tiny_totals():
    assert cosine_lr(150, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(1, 1, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(0, 1, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(0, 0, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(5, 0, 3.0, 1.0) == pytest.approx(3.0)


def test_draw_pattern_draws_one_number_per_slot():
    both = ((True, True),) * 3
    assert draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), both) == (False, True, True)
    # the comparison is strict: a draw equal to the probability is not taken
    assert draw_pattern(np.random.default_rng(0), RNG0, both) == (False, False, False)
    assert draw_pattern(np.random.default_rng(0), (1.0, 1.0, 1.0), ((True, False),) * 3) == (False,) * 3
    out = draw_pattern(np.random.default_rng(0), (0.0, 0.0), ((True, True),) * 2)
    assert out == (False, False) and all(type(v) is bool for v in out)


def test_draw_pattern_lengths_must_match():
    with pytest.raises(ValueError):
        draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), ((True, True),) * 2)


def test_sequence_probs_threshold():
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 1.0) == (0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2, 0.3], 1.0) == (0.5, 0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.0) == (0.1, 0.2)
    kept = sequence_probs(np.random.default_rng(0), [0.1, 0.2], RNG0[0])  # draw == random_prob: kept
    assert kept == (0.1, 0.2) and type(kept) is tuple
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.7) == (0.5, 0.5)


def test_sequence_rng_seed_words():
    a = sequence_rng(3, 1, 5).random(4)
    np.testing.assert_array_equal(a, np.random.default_rng([3, 1, 5, 7]).random(4))
    assert sequence_rng(3, 1, 5).random() != sequence_rng(3, 1, 6).random()


# --- validate --------------------------------------------------------------------------------------------

PSNR = {("a", 1): [30.0, 33.0], ("b", 1): [24.0], ("a", 2): [20.0, 22.0], ("b", 2): [18.0]}


class _Scene:
    def __init__(self, store, name, frames):
        self.store, self.name, self.frames = store, name, frames


def _fake_validation(monkeypatch):
    calls = []
    frames = {"a": 12, "b": 3}

    class Store:
        def __init__(self, path):
            self.path = path

        def scene(self, name):
            return _Scene(self.path, name, frames[name])

    def evaluate_scene(scene, n, models, *, device, end, on_frame):
        calls.append((scene.store, scene.name, n, models, device, end))
        records = [FrameRecord(scene.name, 0, False, 0)]
        if on_frame is not None:
            on_frame(records[0], {}, f"tgt-{scene.name}-{n}-0")
        for i, psnr in enumerate(PSNR[(scene.name, n)], start=1):
            metrics = {"model": {"psnr": psnr, "ssim": 0.75, "lpips": 0.5},
                       "warp": {"psnr": psnr - 10, "ssim": 0.5, "lpips": 0.5},
                       "repeat": {"psnr": psnr - 20, "ssim": 0.25, "lpips": 0.5}}
            rec = FrameRecord(scene.name, i, True, 1, metrics)
            records.append(rec)
            if on_frame is not None:
                on_frame(rec, f"out-{scene.name}-{n}-{i}", f"tgt-{scene.name}-{n}-{i}")
        return records

    import lmv_cli.core.store as store_mod

    monkeypatch.setattr(store_mod, "open_store", Store)
    monkeypatch.setattr(val, "evaluate_scene", evaluate_scene)
    scenes = [SceneRef("sa", "a", 12, 8, 8), SceneRef("sb", "b", 3, 8, 8)]
    return calls, scenes


def test_validate_means_over_every_scene(monkeypatch):
    calls, scenes = _fake_validation(monkeypatch)
    model, device = object(), object()
    result = val.validate(model, scenes, device)
    assert result == {
        "n1": {"model": {"psnr": 29.0, "ssim": 0.75}, "warp": {"psnr": 19.0, "ssim": 0.5},
               "repeat": {"psnr": 9.0, "ssim": 0.25}},
        "n2": {"model": {"psnr": 20.0, "ssim": 0.75}, "warp": {"psnr": 10.0, "ssim": 0.5},
               "repeat": {"psnr": 0.0, "ssim": 0.25}},
    }
    assert [c[:3] for c in calls] == [("sa", "a", 1), ("sb", "b", 1), ("sa", "a", 2), ("sb", "b", 2)]
    assert all(c[3] == {"model": model} and c[3]["model"] is model and c[4] is device and c[5] is None
               for c in calls)
    assert val.selection_psnr(result) == pytest.approx(24.5)


@pytest.mark.parametrize(("frames", "ends"), [(5, [5, 3]), (2, [2, 2]), (0, [None, None]), (None, [None, None])])
def test_validate_frames_limit(monkeypatch, frames, ends):
    calls, scenes = _fake_validation(monkeypatch)
    val.validate(object(), scenes, "cpu", frames=frames)
    assert [c[5] for c in calls] == ends * 2


def test_validate_preview_first_predicted_frame_of_first_scene(monkeypatch):
    calls, scenes = _fake_validation(monkeypatch)
    seen = []
    val.validate(object(), scenes, "cpu", preview=lambda *args: seen.append(args))
    assert seen == [("a", 1, "out-a-1-1", "tgt-a-1-1"), ("a", 2, "out-a-2-1", "tgt-a-2-1")]


def test_selection_psnr_is_the_mean_of_the_model_psnr():
    result = {"n1": {"model": {"psnr": 30.0, "ssim": 0.1}, "warp": {"psnr": 1.0}},
              "n2": {"model": {"psnr": 20.0, "ssim": 0.2}, "warp": {"psnr": 2.0}}}
    assert val.selection_psnr(result) == 25.0


# --- logs ------------------------------------------------------------------------------------------------

from lmv_cli.core.train import logs as logs_mod  # noqa: E402
from lmv_cli.core.train.logs import RunLog, preview_image  # noqa: E402


class _FakeTB:
    def __init__(self, logdir=None):
        self.logdir, self.scalars, self.images, self.closed = logdir, [], [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_image(self, tag, image, step):
        self.images.append((tag, image, step))

    def close(self):
        self.closed = True


def test_runlog_jsonl_lines_exactly(tmp_path):
    path = tmp_path / "train.jsonl"
    log = RunLog(path, None)
    assert log.path == path
    log.write({"kind": "train", "step": 3, "loss": float("nan"), "lr": 0.5, "name": "é",
               "terms": {"rec": float("inf"), "sky": 1.25}, "pat": (True, False), "bad": [float("-inf"), 2]})
    assert path.read_text(encoding="utf-8") == (  # flushed before close
        '{"kind": "train", "step": 3, "loss": "nan", "lr": 0.5, "name": "\\u00e9", '
        '"terms": {"rec": "inf", "sky": 1.25}, "pat": [true, false], "bad": ["-inf", 2]}\n')
    log.image("x", torch.zeros(3, 2, 2), 1)  # no TensorBoard: nothing, no error
    log.close()
    assert log._file.closed
    log2 = RunLog(path, tmp_path / "writer")  # appends; no tensorboard installed -> no writer
    log2.write({"kind": "end"})
    log2.close()
    assert path.read_text(encoding="utf-8").splitlines()[1:] == ['{"kind": "end"}']


def test_runlog_tensorboard_scalars_and_images(tmp_path):
    log = RunLog(tmp_path / "train.jsonl", None)
    tb = log._tb = _FakeTB()
    log.write({"kind": "val", "step": 7, "loss": 0.5, "n": 2, "ok": True, "name": "x",
               "n1": {"model": {"psnr": 30.0}}})
    log.write({"loss": 1.5})
    assert tb.scalars == [("val/loss", 0.5, 7), ("val/n", 2, 7), ("val/n1.model.psnr", 30.0, 7), ("log/loss", 1.5, 0)]
    img = torch.ones(3, 2, 2)
    log.image("preview/a", img, 5)
    assert len(tb.images) == 1 and tb.images[0][0] == "preview/a" and tb.images[0][1] is img and tb.images[0][2] == 5
    log.close()
    assert tb.closed and log._file.closed


def test_runlog_creates_its_summary_writer(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _FakeTB
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    monkeypatch.setattr(logs_mod, "tensorboard_available", lambda: True)
    log = RunLog(tmp_path / "a.jsonl", tmp_path / "writer")
    assert isinstance(log._tb, _FakeTB) and log._tb.logdir == str(tmp_path / "writer")
    log.close()
    log = RunLog(tmp_path / "b.jsonl", None)
    assert log._tb is None
    log.close()


def test_tensorboard_available_asks_for_tensorboard(monkeypatch):
    import importlib.util

    asked = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: asked.append(name) or (object() if name == "tensorboard" else None))
    assert logs_mod.tensorboard_available() is True
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert logs_mod.tensorboard_available() is False
    assert asked == ["tensorboard"]


def test_preview_image_layout():
    from lmv_cli.core.color import aces, srgb_encode

    pred = torch.zeros(2, 3, 2, 4, dtype=torch.float16)
    pred[1] = 0.5  # only the first batch item is shown
    truth = torch.full((2, 3, 2, 4), 1e6, requires_grad=True)
    warp = torch.full((2, 3, 2, 4), 0.5)
    out = preview_image(pred, truth, warp)
    assert out.shape == (3, 2, 12) and out.dtype == torch.float32
    mid = float(srgb_encode(aces(torch.tensor(0.5))))
    assert torch.equal(out[..., :4], torch.zeros(3, 2, 4))
    assert torch.allclose(out[..., 4:8], torch.full((3, 2, 4), 1.0))
    assert torch.allclose(out[..., 8:], torch.full((3, 2, 4), mid)) and 0.5 < mid < 0.99


# --- rundir ----------------------------------------------------------------------------------------------

import time  # noqa: E402
from pathlib import Path  # noqa: E402

from lmv_cli.core.train import rundir as rd  # noqa: E402
from lmv_cli.core.train.rundir import RunDir, RunDirError, create_run, find_run, is_run  # noqa: E402


def _cfg(out_dir, job="job"):
    return types.SimpleNamespace(train=types.SimpleNamespace(out_dir=str(out_dir), job_name=job),
                                 to_yaml=lambda: "train:\n  job_name: é\n")


@pytest.fixture
def fixed_clock(monkeypatch):
    monkeypatch.setattr(time, "gmtime", lambda *a: time.struct_time((2024, 3, 5, 7, 8, 9, 1, 65, 0)))


def test_create_run_layout_and_names(tmp_path, fixed_clock):
    out = tmp_path / "deep" / "out"  # created with its parents
    run = create_run(_cfg(out))
    assert run == RunDir(out / "job" / "2024-03-05_07-08-09")
    assert sorted(p.name for p in run.path.iterdir()) == sorted(
        ["log", "model", "writer", "checkpoint", "history_checkpoints", "config.yaml"])
    assert all((run.path / s).is_dir() for s in ("log", "model", "writer", "checkpoint", "history_checkpoints"))
    assert (run.path / "config.yaml").read_bytes() == "train:\n  job_name: é\n".encode()
    assert run.config == run.path / "config.yaml" and run.log == run.path / "log" / "train.jsonl"
    assert run.checkpoint == run.path / "checkpoint" / "checkpoint.pt"
    second = create_run(_cfg(out))  # same second: suffixed, job dir reused
    assert second.path == out / "job" / "2024-03-05_07-08-09_2"
    third = create_run(_cfg(out))
    assert third.path == out / "job" / "2024-03-05_07-08-09_3"
    assert sorted(p.name for p in (out / "job").iterdir()) == [
        "2024-03-05_07-08-09", "2024-03-05_07-08-09_2", "2024-03-05_07-08-09_3"]


def test_create_run_refuses_an_unwritable_job_dir(tmp_path, fixed_clock, monkeypatch):
    asked = []
    monkeypatch.setattr(rd.os, "access", lambda p, mode: asked.append((p, mode)) and False)
    with pytest.raises(RunDirError) as err:
        create_run(_cfg(tmp_path))
    job = tmp_path / "job"
    assert asked == [(job, rd.os.W_OK)]
    assert err.value.path == job and err.value.message == "cannot create a run directory there: Permission denied"
    assert str(err.value) == f"{job}: cannot create a run directory there: Permission denied"
    assert list(job.iterdir()) == []


def test_create_run_refuses_an_out_dir_that_is_a_file(tmp_path, fixed_clock):
    (tmp_path / "out").write_text("x")
    with pytest.raises(RunDirError) as err:
        create_run(_cfg(tmp_path / "out"))
    assert err.value.path == tmp_path / "out" / "job"
    assert err.value.message in ("cannot create a run directory there: Not a directory",
                                 "cannot create a run directory there: File exists")


def test_create_run_names_an_oserror_without_strerror(tmp_path, fixed_clock):
    cfg = _cfg(tmp_path)

    def boom():
        raise OSError("disk on fire")

    cfg.to_yaml = boom
    with pytest.raises(RunDirError) as err:
        create_run(cfg)
    assert err.value.message == "cannot create a run directory there: disk on fire"


def _make_run(path: Path) -> Path:
    (path / "checkpoint").mkdir(parents=True)
    (path / "config.yaml").write_text("x")
    return path


def test_is_run(tmp_path):
    assert is_run(_make_run(tmp_path / "r"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.yaml").write_text("x")
    assert not is_run(tmp_path / "c")
    (tmp_path / "k" / "checkpoint").mkdir(parents=True)
    assert not is_run(tmp_path / "k")
    (tmp_path / "d" / "config.yaml").mkdir(parents=True)
    (tmp_path / "d" / "checkpoint").mkdir()
    assert not is_run(tmp_path / "d")


def test_find_run(tmp_path):
    run = _make_run(tmp_path / "job" / "2024-01-02_00-00-00")
    assert find_run(run) == RunDir(run)
    assert find_run(str(run)) == RunDir(run)
    _make_run(tmp_path / "job" / "2024-01-01_00-00-00")
    _make_run(tmp_path / "job" / "2024-01-03_00-00-00")
    (tmp_path / "job" / "zzz").mkdir()  # sorts last, not a run
    (tmp_path / "job" / "zzz" / "config.yaml").write_text("x")
    (tmp_path / "job" / "zzzz").write_text("a file")
    assert find_run(tmp_path / "job") == RunDir(tmp_path / "job" / "2024-01-03_00-00-00")
    assert find_run(str(tmp_path / "job")).path == tmp_path / "job" / "2024-01-03_00-00-00"


def test_find_run_refusals(tmp_path):
    with pytest.raises(RunDirError) as err:
        find_run(tmp_path / "missing")
    assert err.value.path == tmp_path / "missing" and err.value.message == "no such run directory"
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError) as err:
        find_run(str(tmp_path / "f"))
    assert err.value.path == tmp_path / "f" and err.value.message == "is a file, not a run directory"
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunDirError) as err:
        find_run(tmp_path / "empty")
    assert err.value.path == tmp_path / "empty"
    assert err.value.message == ("not a run directory (no config.yaml and checkpoint/) nor a job directory "
                                 "holding runs")


# --- checkpoint ------------------------------------------------------------------------------------------

import os  # noqa: E402
import random  # noqa: E402
from dataclasses import replace  # noqa: E402

from lmv_cli.core.config import ModelConfig  # noqa: E402
from lmv_cli.core.errors import CheckpointError  # noqa: E402
from lmv_cli.core.train.checkpoint import (  # noqa: E402
    keep_history,
    read_checkpoint,
    restore,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

MODEL_FIELDS = {"preset": "fsnet", "mv_gather": "nearest", "clamp": "per_sample", "warp": "exact", "compat": "none",
                "init": "warp", "demodulate": True}


def _linear_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return model, opt


def _saved(tmp_path, **progress):
    model, opt = _linear_and_optimizer()
    path = tmp_path / "run" / "checkpoint" / "checkpoint.pt"
    prog = {"step": 12, "epoch": 1, "batch": 3, "world_size": 1, "best_psnr": 30.5, "best_step": 10, **progress}
    out = save_checkpoint(path, model, ModelConfig(), opt, prog, np.int64(40), torch.tensor([2, 0, 1]))
    return out, path, model, opt, prog


def test_rng_state_fields(monkeypatch):
    state = rng_state()
    assert set(state) == {"torch", "numpy", "python"}
    assert torch.equal(state["torch"], torch.get_rng_state())
    n = state["numpy"]
    assert set(n) == {"kind", "keys", "pos", "has_gauss", "cached"} and n["kind"] == "MT19937"
    assert n["keys"].dtype == torch.int64 and n["keys"].shape == (624,)
    np.testing.assert_array_equal(n["keys"].numpy(), np.random.get_state()[1].astype(np.int64))
    assert n["pos"] == np.random.get_state()[2]
    assert state["python"] == list(random.getstate()[1]) and len(state["python"]) == 625
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["cuda-states"])
    assert rng_state()["cuda"] == ["cuda-states"]


def test_rng_round_trip():
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    state = rng_state()
    assert state["numpy"]["has_gauss"] == 1
    first = (torch.rand(3), np.random.standard_normal(3), np.random.random(), [random.random() for _ in range(3)])
    torch.rand(5), np.random.random(7), random.random()
    set_rng_state(state)
    again = (torch.rand(3), np.random.standard_normal(3), np.random.random(), [random.random() for _ in range(3)])
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2] and first[3] == again[3]


def test_set_rng_state_restores_cuda_only_when_saved_and_available(monkeypatch):
    state = rng_state()
    seen = []
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: seen.append(s))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    set_rng_state({**state, "cuda": ["c"]})
    assert seen == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    set_rng_state(state)
    assert seen == []
    set_rng_state({**state, "cuda": ["c"]})
    assert seen == [["c"]]


def test_read_checkpoint_refusals(tmp_path):
    missing = tmp_path / "checkpoint.pt"
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(missing)
    assert err.value.path == missing
    assert err.value.message == "no checkpoint in this run yet (it stopped before the first one was written)"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a torch file at all")
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(bad)
    assert err.value.path == bad
    assert err.value.message.startswith("not a readable lmv checkpoint (") and err.value.message.endswith(")")
    assert len(err.value.message) > len("not a readable lmv checkpoint ()")
    for name, payload in (("foreign.pt", {"format": "lmv-model", "format_version": 1}), ("list.pt", [1, 2]),
                          ("bare.pt", {"state_dict": {}})):
        torch.save(payload, tmp_path / name)
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(tmp_path / name)
        assert err.value.path == tmp_path / name
        assert err.value.message == "not an lmv checkpoint (no 'lmv-checkpoint' header)"
    for version, shown in ((2, "2"), (None, "None"), ("1", "1")):
        payload = {"format": "lmv-checkpoint"} if version is None else {"format": "lmv-checkpoint",
                                                                         "format_version": version}
        torch.save(payload, tmp_path / "v.pt")
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(tmp_path / "v.pt")
        assert err.value.path == tmp_path / "v.pt"
        assert err.value.message == f"checkpoint format version {shown}, this lmv reads 1"
    torch.save({"format": "lmv-checkpoint", "format_version": 1, "x": 5}, tmp_path / "ok.pt")
    assert read_checkpoint(tmp_path / "ok.pt") == {"format": "lmv-checkpoint", "format_version": 1, "x": 5}


def test_restore_loads_weights_optimizer_and_rng(tmp_path):
    _, path, model, opt, _ = _saved(tmp_path)
    after_save = torch.rand(4)
    payload = read_checkpoint(path)
    fresh, fresh_opt = _linear_and_optimizer(seed=1)
    restore(payload, path, fresh, ModelConfig(), fresh_opt)
    assert torch.equal(fresh.weight, model.weight) and torch.equal(fresh.bias, model.bias)
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(torch.rand(4), after_save)


def test_restore_refuses_other_weights_and_optimizer(tmp_path):
    _, path, _, _, _ = _saved(tmp_path)
    payload = read_checkpoint(path)
    other = torch.nn.Linear(3, 4)
    with pytest.raises(CheckpointError) as err:
        restore(payload, path, other, ModelConfig(), torch.optim.AdamW(other.parameters()))
    assert err.value.path == path and err.value.message == "key 'weight' has shape (2, 3), the model expects (4, 3)"
    model = torch.nn.Linear(3, 2)
    two_groups = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias]}])
    with pytest.raises(CheckpointError) as err:
        restore(payload, path, model, ModelConfig(), two_groups)
    assert err.value.path == path
    assert err.value.message.startswith("optimizer state does not match the model: loaded state dict ")


def test_keep_history(tmp_path, monkeypatch):
    ckpt = tmp_path / "checkpoint.pt"
    history = tmp_path / "a" / "history"  # created with its parent
    names = []
    for step in (5, 12, 1234567, 2000000000):
        ckpt.unlink(missing_ok=True)
        ckpt.write_bytes(f"step {step}".encode())
        keep_history(ckpt, history, step, 2)
        names.append(sorted(p.name for p in history.iterdir()))
    assert names == [["checkpoint_000000005.pt"], ["checkpoint_000000005.pt", "checkpoint_000000012.pt"],
                     ["checkpoint_000000012.pt", "checkpoint_001234567.pt"],
                     ["checkpoint_001234567.pt", "checkpoint_2000000000.pt"]]
    target = history / "checkpoint_2000000000.pt"
    assert os.stat(target).st_ino == os.stat(ckpt).st_ino  # a hard link
    # the same step again (a rewritten checkpoint file): replaced; other files in history are left alone
    (history / "notes.txt").write_text("keep me")
    ckpt.unlink()
    ckpt.write_bytes(b"rewritten")
    keep_history(ckpt, history, 2000000000, 2)
    assert target.read_bytes() == b"rewritten"
    assert sorted(p.name for p in history.iterdir()) == ["checkpoint_001234567.pt", "checkpoint_2000000000.pt",
                                                         "notes.txt"]


def test_keep_history_copies_when_links_fail(tmp_path, monkeypatch):
    def no_links(self, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(Path, "hardlink_to", no_links)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"weights")
    keep_history(ckpt, tmp_path / "h", 3, 1)
    target = tmp_path / "h" / "checkpoint_000000003.pt"
    assert target.read_bytes() == b"weights" and os.stat(target).st_ino != os.stat(ckpt).st_ino
