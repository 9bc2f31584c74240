"""`lmv_cli.core.train.loop.Trainer` pinned with every heavy part replaced by recorders (docs/testing.md "Mutation
testing"): a one-weight linear "network", a fake rollout/history, fake targets, loss, psnr, validation,
checkpoint writer, model writer and run log. Every window holds the frame index t as its pixel value, the
weight is 1 and the target is 2t, so the loss of frame t is t² and its gradient -2t² (hand-computed).

Pinned: the "no full batch" refusal word for word; the total step count (epochs, max_steps); the order and
reasons of checkpoints (start, every `checkpoint_every` steps between sequences, epoch end, end, Ctrl-C);
validation cadence (`val_every`), best-model selection and the final validation; the exact "train"
records (steps, means, terms, lr, samples, window indices) and the `log_every` cadence; the learning rate
given to the optimizer each step; gradient clipping (and none at grad_clip 0); the divergence message; the
already-finished path; `restore`; the checkpoint/model metadata passed to the writers; the preview hook; the
arguments given to the dataset, batching, DataLoader (collate, workers, pin_memory on CUDA only), load_batch and
autocast (bf16 only when train.precision is bf16); samples_per_s/data_wait/seconds under a fake clock; the
sample and batch counts of a two-process world (distributed calls replaced).
"""

from __future__ import annotations

import dataclasses
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from lmv_cli.core.config import load_config
from lmv_cli.core.errors import LmvError
from lmv_cli.core.train import loop
from lmv_cli.core.train import state as loop_state
from lmv_cli.core.train.distributed import World

_ROOT = Path(__file__).resolve().parents[2]
# under `make mutate` this file runs from mutants/tests/mutation, a copy of the tests without configs/
TINY_YAML = str(next(root / "configs" / "tiny.yaml" for root in (_ROOT, _ROOT.parent) if (root / "configs").is_dir()))


class FakeHistory:
    def __init__(self, rec):
        self.rec = rec
        self.available = ((True, False),) * 3

    def reset(self):
        self.rec.append(("reset",))

    def advance_rendered(self, frame, prediction=None):
        self.rec.append(("advance", int(frame["x"][0, 0]), prediction is not None))


class FakeRollout:
    def __init__(self, net, reuse_encodings, convention, rec):
        rec.append(("rollout", reuse_encodings, convention))
        self.net = net
        self.history = FakeHistory(rec)

    def predict(self, frame, pattern):
        self.history.rec.append(("pattern", pattern))
        return types.SimpleNamespace(color=self.net(frame["x"]))


class FakeDataset(torch.utils.data.Dataset):
    def __init__(self, length):
        self.length = length

    def __len__(self):
        return 1000

    def __getitem__(self, key):
        return {"x": np.arange(self.length, dtype=np.float32).reshape(self.length, 1)}


class FakeOptimizer:
    def __init__(self, params, rec):
        self.params = list(params)
        self.param_groups = [{"lr": None}, {"lr": None}]
        self.rec = rec

    def zero_grad(self, set_to_none=False):
        self.rec.append(("zero_grad", set_to_none))
        for p in self.params:
            p.grad = None if set_to_none else torch.zeros_like(p)

    def step(self):
        self.rec.append(("opt", [g["lr"] for g in self.param_groups], float(self.params[0].grad)))


class FakeLog:
    def __init__(self, path, writer, rec):
        rec.append(("runlog", path, writer))
        self.rec = rec
        self.written = []

    def write(self, record):
        self.written.append(record)

    def image(self, tag, image, step):
        self.rec.append(("image", tag, image, step))

    def close(self):
        self.rec.append(("close",))


class H:
    """One trainer with recorders."""

    def __init__(self, monkeypatch, tmp_path, sets=(), windows=4, scores=(5.0, 7.0, 6.0, 8.0), val_scenes=("v",),
                 loss_value=None, world=None, on_event=True):
        self.rec = []
        self.events = []
        self.scores = list(scores)
        rec = self.rec
        self.cfg = load_config(TINY_YAML, ["train.max_steps=null", "train.epochs=1", "train.checkpoint_every=1000",
                                           "train.log_every=1", "train.grad_clip=0", "train.lr=0.4",
                                           "train.lr_min=0.2", "data.sequence_length=2", *sets])
        length = 3 + self.cfg.data.sequence_length
        self.index = types.SimpleNamespace(windows=list(range(windows)), length=length, val_scenes=list(val_scenes))
        monkeypatch.setattr(loop, "Rollout", lambda net, reuse_encodings, convention:
                            FakeRollout(net, reuse_encodings, convention, rec))
        monkeypatch.setattr(loop, "WindowDataset", lambda index, crop, flips, seed: rec.append(
            ("dataset", index, crop, flips, seed)) or FakeDataset(length))
        real_bpe, real_eb, real_lb = loop.batches_per_epoch, loop.epoch_batches, loop.load_batch
        monkeypatch.setattr(loop, "batches_per_epoch", lambda *a: rec.append(("bpe", *a)) or real_bpe(*a))
        monkeypatch.setattr(loop, "epoch_batches", lambda *a, **k: rec.append(("eb", *a, k)) or real_eb(*a, **k))
        monkeypatch.setattr(loop, "load_batch", lambda b, d: rec.append(("load", d)) or real_lb(b, d))
        real_dl = torch.utils.data.DataLoader
        monkeypatch.setattr(torch.utils.data, "DataLoader", lambda ds, **k: rec.append(("loader", k)) or real_dl(ds, **k))
        real_autocast = torch.autocast

        def autocast(device_type, **k):
            rec.append(("autocast", device_type, k))
            return real_autocast(device_type, **k)

        monkeypatch.setattr(torch, "autocast", autocast)
        monkeypatch.setattr(loop, "assemble_targets", lambda frame: types.SimpleNamespace(scene_color=2 * frame["x"]))

        def total_loss(outputs, targets, cfg):
            assert cfg is self.cfg.loss
            loss = ((outputs.color - targets.scene_color) ** 2).mean()
            if loss_value is not None:
                loss = loss * 0 + loss_value
            return loss, {"a": loss, "b": 2 * loss}

        monkeypatch.setattr(loop, "total_loss", total_loss)
        monkeypatch.setattr(loop, "psnr", lambda a, b: (b - a).flatten(1).mean(1) + 100)

        def validate(model, scenes, device, frames, preview):
            assert model is self.model
            rec.append(("validate", list(scenes), device, frames))
            self.preview = preview
            return {"n1": {"model": {"psnr": 1.0}}}

        monkeypatch.setattr(loop, "validate", validate)
        monkeypatch.setattr(loop, "selection_psnr", lambda result: self.scores.pop(0) if result["n1"] else None)

        def save_checkpoint(path, model, mcfg, optimizer, progress, total, order):
            assert model is self.model and mcfg is self.cfg.model and optimizer is self.optimizer
            rec.append(("ckpt", path, dict(progress), total, order.tolist()))

        def keep_history(path, history, step, keep):
            rec.append(("keep", path, history, step, keep))

        monkeypatch.setattr(loop, "ckpt", types.SimpleNamespace(save_checkpoint=save_checkpoint,
                                                                 keep_history=keep_history))
        def save_model(path, model, mcfg, meta):
            assert model is self.model and mcfg is self.cfg.model
            rec.append(("model", path, meta))

        monkeypatch.setattr(loop, "save_model", save_model)
        monkeypatch.setattr(loop, "RunLog", lambda path, writer: FakeLog(path, writer, rec))
        self.run = types.SimpleNamespace(path=tmp_path, log=tmp_path / "log", writer=tmp_path / "writer",
                                         checkpoint=tmp_path / "checkpoint.pt", history=tmp_path / "hist",
                                         model=tmp_path / "model")
        self.model = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.model.weight.fill_(1.0)
        self.optimizer = FakeOptimizer(self.model.parameters(), rec)
        self.world = world or World()
        self.trainer = loop.Trainer(self.cfg, self.index, self.model, self.optimizer, self.run, self.world,
                                    self.events.append if on_event else None, {"sig": 1})

    def kinds(self, *names):
        return [r for r in self.rec if r[0] in names]

    def records(self, kind):
        return [e for e in self.events if e["kind"] == kind]


def test_no_full_batch_is_refused_word_for_word(monkeypatch, tmp_path):
    with pytest.raises(LmvError) as e:
        H(monkeypatch, tmp_path, windows=1)
    assert str(e.value) == ("1 training window(s) make no full batch of train.batch_size 2 per process "
                            "(1 process(es)): use a smaller batch, more data, or a smaller data.window_stride")


def test_exactly_one_batch_is_enough_and_total_steps(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, windows=2)
    assert h.trainer.batches == 1 and h.trainer.total == 2
    h = H(monkeypatch, tmp_path, ["train.epochs=3"], windows=5)
    assert h.trainer.batches == 2 and h.trainer.total == 12
    h = H(monkeypatch, tmp_path, ["train.epochs=3", "train.max_steps=7"], windows=5)
    assert h.trainer.total == 7
    h = H(monkeypatch, tmp_path, ["train.epochs=3", "train.max_steps=20"], windows=5)
    assert h.trainer.total == 12
    assert h.kinds("rollout") == [("rollout", False, h.cfg.model.warp)]
    assert h.kinds("runlog") == [("runlog", tmp_path / "log", tmp_path / "writer")]
    assert h.trainer.progress == loop.Progress() and h.trainer.order is None and h.trainer.last_checkpoint == 0
    assert h.trainer.data_meta == {"sig": 1} and h.trainer.net is h.model


def test_one_epoch_steps_losses_and_records(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)  # 4 windows, batch 2: 2 sequences of 2 steps, total 4
    progress = h.trainer.fit()
    assert (progress.step, progress.epoch, progress.batch) == (4, 0, 2)  # the last epoch is not closed
    assert progress.best_psnr == 5.0 and progress.best_step == 4 and progress.validated_step == 4
    # per sequence: reset, frames 0..2 rendered, then frames 3 and 4 each after a step, with their prediction
    seq = [("reset",), ("advance", 0, False), ("advance", 1, False), ("advance", 2, False),
           ("advance", 3, True), ("advance", 4, True)]
    assert h.kinds("reset", "advance") == seq * 2
    lrs = [0.4, 0.2 + 0.1 * (1 + math.cos(math.pi / 4)), 0.3, 0.2 + 0.1 * (1 + math.cos(3 * math.pi / 4))]
    opt = h.kinds("opt")
    assert [o[1] for o in opt] == [pytest.approx([lr, lr]) for lr in lrs]
    assert [o[2] for o in opt] == [-18.0, -32.0, -18.0, -32.0]  # no clipping at grad_clip 0
    assert h.kinds("zero_grad") == [("zero_grad", True)] * 4
    train = h.records("train")
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert [r["loss"] for r in train] == [9.0, 16.0, 9.0, 16.0]
    assert [r["psnr"] for r in train] == [103.0, 104.0, 103.0, 104.0]
    assert [r["terms"] for r in train] == [{"a": 9.0, "b": 18.0}, {"a": 16.0, "b": 32.0}] * 2
    assert [r["lr"] for r in train] == pytest.approx(lrs)
    for r in train:
        assert r["epoch"] == 0 and r["total_steps"] == 4 and r["world_size"] == 1
        assert r["samples_per_s"] > 0 and r["data_wait"] >= 0 and isinstance(r["time"], float)
        assert set(r) == {"kind", "step", "epoch", "total_steps", "loss", "psnr", "terms", "lr", "samples_per_s",
                          "data_wait", "world_size", "windows_by_rank", "time"}
    # the windows of a sequence are counted once, in the first log line after they were loaded
    assert sorted(train[0]["windows_by_rank"][0] + train[2]["windows_by_rank"][0]) == [0, 1, 2, 3]
    assert train[1]["windows_by_rank"] == [[]] and train[3]["windows_by_rank"] == [[]]
    start = h.events[0]
    assert start == {"kind": "start", "step": 0, "total_steps": 4, "batches_per_epoch": 2, "windows": 4,
                     "world_size": 1, "run": str(tmp_path)}
    end = h.events[-1]
    assert {k: v for k, v in end.items() if k != "time"} == {"kind": "end", "step": 4, "epoch": 0, "best_psnr": 5.0,
                                                              "best_step": 4, "world_size": 1}
    assert [e["kind"] for e in h.events] == ["start", "checkpoint"] + ["train"] * 4 + ["val", "checkpoint", "end"]
    assert h.trainer.log.written == h.events


def test_samples_and_mean_over_a_log_window(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.log_every=3"], windows=6)  # 3 sequences, 6 steps
    h.trainer.fit()
    train = h.records("train")
    assert [r["step"] for r in train] == [3, 6]
    assert [r["loss"] for r in train] == [pytest.approx((9 + 16 + 9) / 3), pytest.approx((16 + 9 + 16) / 3)]
    assert [r["psnr"] for r in train] == [pytest.approx(310 / 3), pytest.approx(311 / 3)]
    assert train[0]["terms"] == {"a": pytest.approx(34 / 3), "b": pytest.approx(68 / 3)}
    assert sorted(train[0]["windows_by_rank"][0] + train[1]["windows_by_rank"][0]) == list(range(6))
    assert len(train[0]["windows_by_rank"][0]) == 4


def test_the_last_step_is_logged_off_cadence(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.log_every=3", "train.max_steps=5"], windows=6)
    h.trainer.fit()
    assert [r["step"] for r in h.records("train")] == [3, 5]
    assert h.records("train")[1]["loss"] == pytest.approx((16 + 9) / 2)
    assert [r[1:3] for r in h.kinds("advance")][-1] == (3, True)  # stopped inside the third sequence


def test_gradient_clipping(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.grad_clip=2.0"])
    h.trainer.fit()
    assert [o[2] for o in h.kinds("opt")] == [pytest.approx(-2.0, rel=1e-5)] * 4
    h = H(monkeypatch, tmp_path, ["train.grad_clip=20.0"])
    h.trainer.fit()
    assert [o[2] for o in h.kinds("opt")] == [-18.0, pytest.approx(-20.0, rel=1e-5)] * 2


def checkpoints(h):
    return [(e["step"], e["reason"]) for e in h.records("checkpoint")]


def test_mid_epoch_checkpoint_saves_the_current_order(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.checkpoint_every=2"], windows=4)
    h.trainer.fit()
    ck = h.kinds("ckpt")
    assert [(c[2]["step"], c[2]["batch"]) for c in ck] == [(0, 0), (2, 1), (4, 2)]
    assert ck[1][4] == loop.epoch_order(4, h.cfg.train.seed, 0).tolist()


def test_validation_cadence_and_best(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.epochs=4", "train.val_every=2"], scores=(5.0, 3.0, 9.0))
    progress = h.trainer.fit()
    vals = h.records("val")
    assert [(v["step"], v["epoch"]) for v in vals] == [(8, 2), (16, 3)]
    assert h.kinds("validate") == [("validate", ["v"], torch.device("cpu"), h.cfg.data.val_frames)] * 2
    assert [v["best"] for v in vals] == [True, False]
    assert vals[0]["selection_psnr"] == 5.0 and vals[0]["n1"] == {"model": {"psnr": 1.0}}
    assert vals[0]["seconds"] >= 0 and vals[0]["world_size"] == 1
    assert progress.best_psnr == 5.0 and progress.best_step == 8
    assert [m[1].name for m in h.kinds("model")].count("best.pt") == 1


def test_equal_score_is_not_better_and_final_validation(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.epochs=2", "train.max_steps=6"], scores=(5.0, 5.0))
    progress = h.trainer.fit()
    vals = h.records("val")
    assert [(v["step"], v["best"]) for v in vals] == [(4, True), (6, False)]  # epoch end, then the end
    assert progress.best_step == 4 and progress.validated_step == 6
    h = H(monkeypatch, tmp_path, ["train.epochs=2", "train.max_steps=6"], scores=(5.0, 6.0))
    assert h.trainer.fit().best_step == 6


def test_no_val_scenes(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, val_scenes=())
    progress = h.trainer.fit()
    assert h.kinds("validate") == [] and progress.validated_step == 4 and progress.best_psnr is None


def test_preview_hook(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    h.trainer.fit()
    calls = []
    monkeypatch.setattr(loop, "preview_image", lambda *a: calls.append(a) or "IMG")
    outputs = {loop.MODEL: types.SimpleNamespace(color="m"), "warp": types.SimpleNamespace(color="w")}
    h.preview("scene", 2, outputs, types.SimpleNamespace(scene_color="t"))
    assert calls == [("m", "t", "w")] and h.kinds("image") == [("image", "preview/scene_n2", "IMG", 4)]
    h.preview("scene", 2, {"warp": 1}, None)
    assert len(calls) == 1


def test_already_finished(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    h.trainer.restore({"progress": {"step": 4, "epoch": 1, "batch": 0, "best_psnr": 2.5}, "order": None})
    progress = h.trainer.fit()
    assert progress.step == 4 and h.kinds("ckpt") == [] and h.kinds("opt") == []
    (end,) = h.events
    assert {k: v for k, v in end.items() if k != "time"} == {
        "kind": "end", "step": 4, "epoch": 1, "best_psnr": 2.5, "best_step": None, "already_finished": True,
        "world_size": 1}


def test_divergence_message(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, loss_value=float("nan"))
    with pytest.raises(loop.TrainingDiverged) as e:
        h.trainer.fit()
    assert str(e.value) == ("training loss is nan at step 1 (epoch 0); stopped: no checkpoint yet. Lower train.lr "
                            "or check the stores for extreme values")
    assert h.kinds("opt") == []
    h = H(monkeypatch, tmp_path, loss_value=float("inf"))
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    h.trainer.progress.step, h.trainer.progress.epoch, h.trainer.last_checkpoint = 7, 2, 5
    with pytest.raises(loop.TrainingDiverged) as e:
        h.trainer._check_finite(torch.tensor(float("inf")))
    assert str(e.value) == (f"training loss is inf at step 8 (epoch 2); stopped: the last good checkpoint is "
                            f"{tmp_path / 'checkpoint.pt'} (step 5). Lower train.lr or check the stores for extreme "
                            "values")
    h.trainer._check_finite(torch.tensor(3.0))


def test_ctrl_c_after_a_step_saves_and_reraises(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.epochs=2"])
    calls = []

    class Stop:
        def __enter__(self):
            return lambda: calls.append(1) or len(calls) >= 3

        def __exit__(self, *a):
            calls.append("exit")

    monkeypatch.setattr(loop, "deferred_interrupt", Stop)
    with pytest.raises(KeyboardInterrupt):
        h.trainer.fit()
    assert checkpoints(h) == [(0, "start"), (3, "interrupted")]
    assert h.trainer.progress.batch == 2 and calls[-1] == "exit"
    assert h.records("end") == [] and len(h.kinds("opt")) == 3


def test_close_and_no_event_hook(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, on_event=False)
    h.trainer.fit()
    assert [r["kind"] for r in h.trainer.log.written][:2] == ["start", "checkpoint"]
    h.trainer.close()
    assert h.kinds("close") == [("close",)]


def test_other_ranks_write_nothing(monkeypatch, tmp_path):
    world = World(rank=1, size=1)
    h = H(monkeypatch, tmp_path, world=world)
    assert h.trainer.log is None and h.kinds("runlog") == []
    h.trainer.fit()
    assert h.events == [] and h.kinds("ckpt", "model", "validate") == []
    h.trainer.close()


def test_arguments_passed_to_the_data_parts(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    assert h.kinds("dataset") == [("dataset", h.index, h.cfg.data.crop, h.cfg.data.flips, h.cfg.train.seed)]
    assert h.kinds("bpe") == [("bpe", 4, 2, 1)]
    h.trainer.fit()
    assert h.kinds("eb") == [("eb", h.trainer.order, 0, 2, 0, 1, {"start": 0})]
    (loader,) = h.kinds("loader")
    assert loader[1]["collate_fn"] is loop.collate and loader[1]["num_workers"] == 0
    assert loader[1]["pin_memory"] is False
    assert h.kinds("load") == [("load", torch.device("cpu"))] * 2
    assert h.kinds("autocast") == [("autocast", "cpu", {"dtype": torch.bfloat16, "enabled": False})] * 4
    patterns = h.kinds("pattern")
    assert len(patterns) == 4 and all(p[1] == (False, False, False) for p in patterns)


def test_bf16_precision_enables_autocast(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.precision=bf16", "train.max_steps=1"])
    h.trainer.fit()
    assert h.kinds("autocast") == [("autocast", "cpu", {"dtype": torch.bfloat16, "enabled": True})]


def test_small_clip_norm(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, ["train.grad_clip=0.5", "train.max_steps=1"])
    h.trainer.fit()
    assert [o[2] for o in h.kinds("opt")] == [pytest.approx(-0.5, rel=1e-5)]


def test_a_sequence_outside_fit_is_not_stopped(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    batch = {"x": torch.arange(5, dtype=torch.float32).reshape(1, 5, 1).repeat(2, 1, 1)}
    h.trainer._sequence(batch)
    assert h.trainer.progress.step == 2 and len(h.kinds("opt")) == 2


def test_checkpoint_keeps_a_restored_order(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    h.trainer.restore({"progress": {"step": 1, "epoch": 0, "batch": 1}, "order": torch.tensor([3, 1, 2, 0])})
    h.trainer._checkpoint()
    assert h.kinds("ckpt")[0][4] == [3, 1, 2, 0]


def test_a_short_loader_is_an_error(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path)
    real_dl = torch.utils.data.DataLoader
    monkeypatch.setattr(torch.utils.data, "DataLoader", lambda ds, batch_sampler, **k: real_dl(
        ds, batch_sampler=batch_sampler[:1], **k))
    with pytest.raises(ValueError):
        h.trainer.fit()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_timing_fields_with_a_fake_clock(monkeypatch, tmp_path):
    clock = Clock()
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=clock, time=lambda: 123.0))
    monkeypatch.setattr(loop, "Window", lambda: loop_state.Window(start=clock()))
    h = H(monkeypatch, tmp_path, ["train.log_every=4"])  # Window start 1
    h.trainer.fit()
    # waited 2, wait += 3 - 2; waited 4, wait += 5 - 4; the log at step 4 reads 6: 5 s, 8 samples, 2 s waited
    (train,) = h.records("train")
    assert train["samples_per_s"] == 8 / 5 and train["data_wait"] == 2 / 5 and train["time"] == 123.0
    (val,) = h.records("val")
    assert val["seconds"] == 1.0 and val["time"] == 123.0
    assert set(val) == {"kind", "step", "epoch", "n1", "selection_psnr", "best", "seconds", "world_size", "time"}


def test_two_process_world_counts(monkeypatch, tmp_path):
    from lmv_cli.core.train import distributed

    monkeypatch.setattr(loop, "wrap", lambda model, world: model)
    monkeypatch.setattr(loop, "mean", lambda x, world: x)
    monkeypatch.setattr(loop, "gather", lambda x, world: [x, "other"])
    monkeypatch.setattr(loop, "barrier", lambda world: None)
    monkeypatch.setattr(distributed, "broadcast", lambda value, world: value)
    clock = Clock()
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=clock, time=lambda: 123.0))
    monkeypatch.setattr(loop, "Window", lambda: loop_state.Window(start=clock()))
    h = H(monkeypatch, tmp_path, ["train.log_every=4"], windows=8, world=World(rank=0, size=2))
    assert h.kinds("bpe") == [("bpe", 8, 2, 2)] and h.trainer.batches == 2 and h.trainer.total == 4
    h.trainer.fit()
    eb = h.kinds("eb")[0]
    assert eb[2:] == (0, 2, 0, 2, {"start": 0})
    (train,) = h.records("train")
    assert train["samples_per_s"] == 16 / 5 and train["world_size"] == 2  # 4 steps x 2 windows x 2 processes
    assert train["windows_by_rank"][1] == "other" and len(train["windows_by_rank"][0]) == 4


def test_pinned_memory_on_cuda(monkeypatch, tmp_path):
    h = H(monkeypatch, tmp_path, world=World(device=torch.device("cuda")))

    class Stop(Exception):
        pass

    def loader(ds, **k):
        h.rec.append(("cuda_loader", k["pin_memory"]))
        raise Stop

    monkeypatch.setattr(torch.utils.data, "DataLoader", loader)
    with pytest.raises(Stop):
        h.trainer.fit()
    assert h.kinds("cuda_loader") == [("cuda_loader", True)]
