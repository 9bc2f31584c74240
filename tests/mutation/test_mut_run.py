"""`lmv_cli.core.train.run` pinned where mutation testing would find it unpinned (docs/testing.md "Mutation testing"):
the glue behind `lmv train` / `lmv resume`. Every collaborator run.py calls (build_index, setup/teardown,
broadcast, create_run, find_run, read_checkpoint/restore, build_model, AdamW, open_store/data_signature,
Trainer) is replaced by a recorder in the `lmv_cli.core.train.run` namespace (or its source module for the
lazy imports of `_trainer`), so the tests pin the arguments passed on, the order of calls (teardown always,
even on error), what `train`/`resume` return, resume's epochs/steps overrides and its world-size message
word for word, `_fit`'s close-on-error, and `with_out_dir`'s result (without mutating its input)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import lmv_cli.core.evaluate as evaluate_mod
import lmv_cli.core.model.build as build_mod
import lmv_cli.core.store as store_mod
from lmv_cli.core.config import load_config
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.train import run as R
from lmv_cli.core.train.distributed import World
from lmv_cli.core.train.rundir import RunDir
from lmv_cli.core.train.state import Progress


class FakeTrainer:
    def __init__(self, *args):
        self.args = args
        self.run = args[4]
        self.world = args[5]
        self.total = 77
        self.restored = None
        self.fail = False
        self.calls = []

    def restore(self, payload):
        self.restored = payload
        self.calls.append("restore")

    def fit(self):
        self.calls.append("fit")
        if self.fail:
            raise RuntimeError("fit failed")
        return Progress(step=5, epoch=2)

    def close(self):
        self.calls.append("close")


class FakeModel:
    def __init__(self):
        self.calls = []

    def to(self, device):
        self.calls.append(("to", device))
        return self

    def train(self):
        self.calls.append("train")
        return self

    def parameters(self):
        return ["p"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    log = []
    st = {"world": World(), "trainers": [], "payload": {"progress": {"step": 3}}, "index": object(),
          "model": FakeModel(), "run_dir": tmp_path / "job" / "run1"}

    def fake_build_index(data):
        log.append(("index", data.stores))
        return st["index"]

    def fake_setup(device):
        log.append(("setup", device))
        return st["world"]

    def fake_teardown(world):
        log.append(("teardown", world))

    def fake_broadcast(obj, world):
        log.append(("broadcast", obj, world))
        return obj if obj is not None else str(tmp_path / "other")

    def fake_create_run(cfg):
        log.append(("create_run", cfg))
        st["run_dir"].mkdir(parents=True, exist_ok=True)
        return RunDir(st["run_dir"])

    def fake_find_run(path):
        log.append(("find_run", path))
        return RunDir(st["run_dir"])

    def fake_read(path):
        log.append(("read_checkpoint", path))
        return st["payload"]

    def fake_restore(payload, path, model, mcfg, opt):
        log.append(("restore", payload, path, model, mcfg, opt))

    def fake_trainer(*args):
        t = FakeTrainer(*args)
        t.fail = st.get("fail", False)
        st["trainers"].append(t)
        log.append("trainer")
        return t

    def fake_adamw(params, lr, betas, weight_decay):
        log.append(("adamw", list(params), lr, betas, weight_decay))
        return "OPT"

    monkeypatch.setattr(R, "build_index", fake_build_index)
    monkeypatch.setattr(R, "setup", fake_setup)
    monkeypatch.setattr(R, "teardown", fake_teardown)
    monkeypatch.setattr(R, "broadcast", fake_broadcast)
    monkeypatch.setattr(R, "create_run", fake_create_run)
    monkeypatch.setattr(R, "find_run", fake_find_run)
    monkeypatch.setattr(R.ckpt, "read_checkpoint", fake_read)
    monkeypatch.setattr(R.ckpt, "restore", fake_restore)
    monkeypatch.setattr(R, "Trainer", fake_trainer)
    monkeypatch.setattr(torch.optim, "AdamW", fake_adamw)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: log.append(("threads", n)))
    monkeypatch.setattr(torch, "manual_seed", lambda s: log.append(("seed", s)))
    monkeypatch.setattr(build_mod, "build_model", lambda mcfg: log.append(("build_model", mcfg)) or st["model"])
    monkeypatch.setattr(store_mod, "open_store", lambda p: log.append(("open_store", p)) or "STORE")
    monkeypatch.setattr(evaluate_mod, "data_signature", lambda s: log.append(("signature", s)) or {"sig": s})
    st["log"] = log
    st["tmp"] = tmp_path
    return st


def _cfg(*extra):
    return load_config(None, ["data.stores=[a.zarr,b.zarr]", "train.device=cpu", "train.seed=11", "train.lr=0.003",
                              "train.lr_min=0.0001", "train.weight_decay=0.25", "train.betas=[0.5,0.75]", *extra])


def _names(log):
    return [e if isinstance(e, str) else e[0] for e in log]


def test_check_data_passes_the_data_config(env):
    cfg = _cfg()
    assert R.check_data(cfg) is env["index"]
    assert env["log"] == [("index", ("a.zarr", "b.zarr"))]


def test_train_passes_on_event_and_non_main_rank(env):
    env["world"] = World(rank=1, size=2)
    ev = lambda e: None  # noqa: E731
    res = R.train(_cfg(), on_event=ev)
    log = env["log"]
    assert "create_run" not in _names(log)
    assert ("broadcast", None, env["world"]) in log
    assert "threads" not in _names(log)
    (t,) = env["trainers"]
    assert t.args[6] is ev
    assert t.args[4] == RunDir(env["tmp"] / "other")
    assert res == R.TrainResult(env["tmp"] / "other", Progress(step=5, epoch=2), 77, 2, False)


def test_train_teardown_on_error(env, monkeypatch):
    def boom(data):
        env["log"].append("index")
        raise ValueError("bad data")

    monkeypatch.setattr(R, "build_index", boom)
    with pytest.raises(ValueError, match="bad data"):
        R.train(_cfg())
    assert _names(env["log"]) == ["setup", "index", "teardown"]
    assert env["log"][-1] == ("teardown", env["world"])


def test_train_fit_error_closes_and_tears_down(env):
    env["fail"] = True
    with pytest.raises(RuntimeError, match="fit failed"):
        R.train(_cfg())
    assert env["trainers"][0].calls == ["fit", "close"]
    assert _names(env["log"])[-1] == "teardown"


def _write_run_config(env, cfg):
    env["run_dir"].mkdir(parents=True, exist_ok=True)
    (env["run_dir"] / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")


def test_resume_without_overrides(env):
    cfg = _cfg("train.epochs=4", "train.threads=2")
    _write_run_config(env, cfg)
    before = (env["run_dir"] / "config.yaml").read_text(encoding="utf-8")
    ev = lambda e: None  # noqa: E731
    res = R.resume("somewhere", on_event=ev)
    log = env["log"]
    assert _names(log) == ["find_run", "read_checkpoint", "setup", "index", "threads", "seed", "build_model",
                           "adamw", "restore", "open_store", "signature", "trainer", "teardown"]
    assert log[0] == ("find_run", "somewhere")
    assert log[1] == ("read_checkpoint", RunDir(env["run_dir"]).checkpoint)
    assert log[2] == ("setup", "cpu")
    assert log[3] == ("index", ("a.zarr", "b.zarr"))
    assert log[4] == ("threads", 2)
    _, payload, path, model, mcfg, opt = log[8]
    assert payload is env["payload"] and path == RunDir(env["run_dir"]).checkpoint
    assert model is env["model"] and mcfg == cfg.model and opt == "OPT"
    assert log[12] == ("teardown", env["world"])
    (t,) = env["trainers"]
    assert t.args[0] == cfg
    assert t.args[1] is env["index"]
    assert t.args[4] == RunDir(env["run_dir"])
    assert t.args[5] is env["world"]
    assert t.args[6] is ev
    assert t.restored is env["payload"]
    assert t.calls == ["restore", "fit", "close"]
    assert res == R.TrainResult(env["run_dir"], Progress(step=5, epoch=2), 77, 1, True)
    assert (env["run_dir"] / "config.yaml").read_text(encoding="utf-8") == before


@pytest.mark.parametrize("epochs,steps,want_epochs,want_steps", [
    (9, None, 9, None), (None, 123, 4, 123), (7, 50, 7, 50), (0, None, 0, None)])
def test_resume_overrides_written_back(env, epochs, steps, want_epochs, want_steps):
    cfg = _cfg("train.epochs=4")
    _write_run_config(env, cfg)
    if epochs == 0:
        with pytest.raises(ConfigError, match="train.epochs"):
            R.resume(env["run_dir"], epochs=0)
        return
    R.resume(env["run_dir"], epochs=epochs, steps=steps)
    t = env["trainers"][0]
    assert t.args[0].train.epochs == want_epochs
    assert t.args[0].train.max_steps == want_steps
    saved = load_config(env["run_dir"] / "config.yaml")
    assert saved.train.epochs == want_epochs
    assert saved.train.max_steps == want_steps
    assert saved == t.args[0]


def test_resume_overrides_not_written_by_other_ranks(env):
    env["world"] = World(rank=1, size=2)
    env["payload"] = {"progress": {"world_size": 2}}
    cfg = _cfg("train.epochs=4")
    _write_run_config(env, cfg)
    before = (env["run_dir"] / "config.yaml").read_text(encoding="utf-8")
    res = R.resume(env["run_dir"], epochs=9)
    assert (env["run_dir"] / "config.yaml").read_text(encoding="utf-8") == before
    assert env["trainers"][0].args[0].train.epochs == 9
    assert res.world_size == 2 and res.main is False


def test_resume_world_size_mismatch(env):
    env["world"] = World(rank=0, size=2)
    cfg = _cfg()
    _write_run_config(env, cfg)
    with pytest.raises(ConfigError) as e:
        R.resume(env["run_dir"])
    assert str(e.value) == (f"{env['run_dir']}: the run trained with 1 process(es), this resume has 2; "
                            "resume under the same torchrun --nproc_per_node/--nnodes")
    assert _names(env["log"]) == ["find_run", "read_checkpoint", "setup", "teardown"]
    assert env["log"][-1] == ("teardown", env["world"])


def test_resume_saved_world_size_mismatch(env):
    env["payload"] = {"progress": {"world_size": 3}}
    _write_run_config(env, _cfg())
    with pytest.raises(ConfigError) as e:
        R.resume(env["run_dir"])
    assert str(e.value) == (f"{env['run_dir']}: the run trained with 3 process(es), this resume has 1; "
                            "resume under the same torchrun --nproc_per_node/--nnodes")


def test_fit_closes_on_error():
    t = FakeTrainer(None, None, None, None, RunDir(Path("r")), World(), None, None)
    t.fail = True
    with pytest.raises(RuntimeError):
        R._fit(t)
    assert t.calls == ["fit", "close"]
    t2 = FakeTrainer(None, None, None, None, RunDir(Path("r")), World(rank=0, size=4), None, None)
    assert R._fit(t2) == R.TrainResult(Path("r"), Progress(step=5, epoch=2), 77, 4, True)


def test_trainer_without_threads_skips_set_num_threads(env):
    cfg = _cfg()
    assert cfg.train.threads is None
    R._trainer(cfg, env["index"], RunDir(env["run_dir"]), env["world"], None)
    assert "threads" not in _names(env["log"])
    assert "restore" not in _names(env["log"])
    assert env["trainers"][0].restored is None


def test_with_out_dir():
    cfg = _cfg()
    assert R.with_out_dir(cfg, None) is cfg
    new = R.with_out_dir(cfg, Path("x/y"))
    assert new.train.out_dir == "x/y"
    assert isinstance(new.train.out_dir, str)
    assert cfg.train.out_dir == "runs"
    assert dataclasses.replace(new, train=cfg.train) == cfg
    assert new.train.seed == 11


class _RecPath(type(Path())):
    """A path that records how `write_text` is called (the encoding must be UTF-8, explicitly)."""

    writes: list = []

    def write_text(self, data, encoding=None, errors=None, newline=None):
        _RecPath.writes.append(encoding)
        return super().write_text(data, encoding=encoding, errors=errors, newline=newline)


def test_resume_writes_config_as_utf8(env, monkeypatch):
    _write_run_config(env, _cfg("train.epochs=4"))
    real = RunDir(env["run_dir"])

    class _Run:
        path = real.path
        config = _RecPath(real.config)
        checkpoint = real.checkpoint

    monkeypatch.setattr(R, "find_run", lambda p: _Run)
    _RecPath.writes = []
    R.resume(env["run_dir"], steps=40)
    assert [str(e).lower().replace("_", "-") for e in _RecPath.writes] == ["utf-8"]
    assert load_config(real.config).train.max_steps == 40
