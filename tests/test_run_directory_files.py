"""What a training run leaves on disk: the run directory (`lmv_cli.core.train.rundir`: layout, names and
`_2` suffixes, config.yaml, refusals naming the path, `is_run` and `find_run`), the JSONL log lines
(non-finite floats as strings, tuples as lists) and the preview image, and the checkpoint
(`lmv_cli.core.train.checkpoint`: the payload fields, the RNG state round trip, `read_checkpoint`'s
refusals, `restore`'s architecture and optimizer checks, `keep_history`'s names and pruning)."""

from __future__ import annotations

import os
import random
import re
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.train.checkpoint import keep_history, read_checkpoint, restore, rng_state, save_checkpoint, set_rng_state
from lmv_cli.core.train.logs import RunLog, preview_image
from lmv_cli.core.train.rundir import RunDir, RunDirError, create_run, find_run, is_run


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
    log2 = RunLog(path, tmp_path / "writer")  # appends; no tensorboard installed -> no writer
    log2.write({"kind": "end"})
    log2.close()
    assert path.read_text(encoding="utf-8").splitlines()[1:] == ['{"kind": "end"}']


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


def test_create_run_refuses_an_out_dir_that_is_a_file(tmp_path, fixed_clock):
    (tmp_path / "out").write_text("x")
    with pytest.raises(RunDirError) as err:
        create_run(_cfg(tmp_path / "out"))
    assert err.value.path == tmp_path / "out" / "job"
    assert re.search("Not a directory|File exists", err.value.message)


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
    assert err.value.path == tmp_path / "missing" and "no such" in err.value.message
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError) as err:
        find_run(str(tmp_path / "f"))
    assert err.value.path == tmp_path / "f" and "is a file" in err.value.message
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunDirError) as err:
        find_run(tmp_path / "empty")
    assert err.value.path == tmp_path / "empty"
    assert re.search(r"config\.yaml.*checkpoint/.*job directory", err.value.message)  # what a run holds


MODEL_FIELDS = {"preset": "fsnet", "mv_gather": "nearest", "clamp": "per_sample", "warp": "exact", "compat": "none",
                "init": "warp", "demodulate": True, "flow_unit": "pixels", "downscale": "auto"}


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


def test_save_checkpoint_payload(tmp_path):
    out, path, model, opt, prog = _saved(tmp_path)
    assert out == path and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temp file left
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"format", "format_version", "model", "state_dict", "optimizer", "schedule", "progress",
                            "order", "rng"}
    assert payload["format"] == "lmv-checkpoint" and payload["format_version"] == 1
    assert payload["model"] == MODEL_FIELDS
    assert set(payload["state_dict"]) == {"weight", "bias"}
    assert torch.equal(payload["state_dict"]["weight"], model.weight.detach())
    assert payload["optimizer"]["state"][0]["step"] == 1 and payload["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert payload["schedule"] == {"total_steps": 40} and type(payload["schedule"]["total_steps"]) is int
    assert payload["progress"] == prog
    assert torch.equal(payload["order"], torch.tensor([2, 0, 1]))
    assert set(payload["rng"]) >= {"torch", "numpy", "python"}
    assert read_checkpoint(path)["progress"] == prog


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


def test_read_checkpoint_refusals(tmp_path):
    missing = tmp_path / "checkpoint.pt"
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(missing)
    assert err.value.path == missing
    assert "no checkpoint" in err.value.message
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a torch file at all")
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(bad)
    assert err.value.path == bad
    assert re.search(r"not a readable lmv checkpoint \(.+\)", err.value.message)  # with the reason
    for name, payload in (("foreign.pt", {"format": "lmv-model", "format_version": 1}), ("list.pt", [1, 2]),
                          ("bare.pt", {"state_dict": {}})):
        torch.save(payload, tmp_path / name)
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(tmp_path / name)
        assert err.value.path == tmp_path / name
        assert "not an lmv checkpoint" in err.value.message and "'lmv-checkpoint'" in err.value.message
    for version, shown in ((2, "2"), (None, "None"), ("1", "1")):
        payload = {"format": "lmv-checkpoint"} if version is None else {"format": "lmv-checkpoint",
                                                                         "format_version": version}
        torch.save(payload, tmp_path / "v.pt")
        with pytest.raises(CheckpointError) as err:
            read_checkpoint(tmp_path / "v.pt")
        assert err.value.path == tmp_path / "v.pt"
        assert re.search(rf"version {shown}\b.*\b1\b", err.value.message)  # found, then the one this lmv reads
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


def test_restore_refuses_another_architecture(tmp_path):
    _, path, _, _, _ = _saved(tmp_path)
    payload = read_checkpoint(path)
    model, opt = _linear_and_optimizer()
    cfg = replace(ModelConfig(), preset="fsnet_small", init="random")
    with pytest.raises(CheckpointError) as err:
        restore(payload, path, model, cfg, opt)
    assert err.value.path == path
    assert re.search(r"another architecture.*model\.preset 'fsnet'.*'fsnet_small'.*model\.init 'warp'.*'random'",
                     err.value.message)  # every differing key, the checkpoint's value, then config.yaml's
    assert "mv_gather" not in err.value.message  # only the keys that differ
    for saved in (None, {}):
        with pytest.raises(CheckpointError) as err:
            restore({**payload, "model": saved}, path, model, ModelConfig(demodulate=False), opt)
        assert re.search(r"model\.preset None.*'fsnet'.*model\.mv_gather None.*model\.demodulate None.*False",
                         err.value.message)


def test_restore_refuses_other_weights_and_optimizer(tmp_path):
    _, path, _, _, _ = _saved(tmp_path)
    payload = read_checkpoint(path)
    other = torch.nn.Linear(3, 4)
    with pytest.raises(CheckpointError) as err:
        restore(payload, path, other, ModelConfig(), torch.optim.AdamW(other.parameters()))
    assert err.value.path == path and re.search(r"'weight'.*\(2, 3\).*\(4, 3\)", err.value.message)
    model = torch.nn.Linear(3, 2)
    two_groups = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias]}])
    with pytest.raises(CheckpointError) as err:
        restore(payload, path, model, ModelConfig(), two_groups)
    assert err.value.path == path
    assert "optimizer" in err.value.message


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
