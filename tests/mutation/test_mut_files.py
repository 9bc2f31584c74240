"""`lmv_cli.core.model.files` and `lmv_cli.core.model.bundle` pinned where mutation testing would find them
unpinned (docs/testing.md "Mutation testing"):

- `save_model`: every payload field (format, version, lmv version, config dict, state dict, meta) and
  `half` (float16 on CPU, else the tensors' own dtype);
- `atomic_torch_save`: parent folders created, the hidden temp file beside the target, fsync, permissions
  `0o666 & ~umask` (umask restored), no temp file left on success or on any failure (KeyboardInterrupt
  included), the original error propagated, an old file untouched by a failed write;
- `safe_torch_load`: CPU / `weights_only` loading and its message (first line of the reason, the
  exception's type name when the reason is blank), the path and the suppressed context;
- `read_model_file`: each error message and hint, in order;
- `load_model`: eval mode, the device, the meta copy, config errors as `CheckpointError`;
- `load_state_dict_strict`: each message (first offending key, shapes), float32 conversion;
- `resolve_model`: `bundled` (present and missing, via a monkeypatched `BUNDLED_PATH`), files, run
  directories (best over last), job directories (the newest run that holds a model), the errors;
- `_looks_like_state_dict`;
- `bundle()`: an fp16 model file with `bundled_from`/`stored_as` in its meta that loads back as float32
  equal to the fp16-rounded weights; `main()`'s arguments, default output and printed line (always into
  tmp_path: the real `lmv_cli/assets/bundled_model.pt` is never written).
"""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest
import torch
from torch import nn

import lmv_cli.core.model.bundle as bundle_mod
import lmv_cli.core.model.files as files
from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import (
    _looks_like_state_dict,
    atomic_torch_save,
    load_model,
    load_state_dict_strict,
    read_model_file,
    resolve_model,
    safe_torch_load,
    save_model,
)

LITE = {
    "preset": "fsnet_lite",
    "mv_gather": "bilinear",
    "clamp": "batch",
    "warp": "exact",
    "compat": "none",
    "init": "random",
    "demodulate": False,
}


def _raw(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.register_buffer("count", torch.tensor([7], dtype=torch.int64))


def _tiny() -> Tiny:
    torch.manual_seed(0)
    return Tiny()


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(1)
    cfg = ModelConfig(**LITE)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 1e-3 + 1e-4)  # values that are not float16-exact
    return model, cfg


@pytest.fixture
def lite_file(lite, tmp_path):
    model, cfg = lite
    return save_model(tmp_path / "m.pt", model, cfg, {"step": 5, "val": {"psnr": 30.5}})


# --- save_model ----------------------------------------------------------------------------------------------


def test_save_model_without_meta_stores_an_empty_dict(tmp_path):
    p = _raw(save_model(tmp_path / "a.pt", _tiny(), ModelConfig()))
    assert p["meta"] == {}
    assert p["model"]["preset"] == "fsnet"


def test_save_model_half_stores_float16(tmp_path):
    model = _tiny()
    p = _raw(save_model(tmp_path / "h.pt", model, ModelConfig(), half=True))
    sd = p["state_dict"]
    assert {v.dtype for v in sd.values()} == {torch.float16}
    assert sd["lin.weight"].device.type == "cpu"
    assert torch.equal(sd["lin.weight"], model.lin.weight.detach().half())
    assert torch.equal(sd["count"], torch.tensor([7.0], dtype=torch.float16))


def test_save_model_tensors_are_detached(tmp_path):
    p = _raw(save_model(tmp_path / "a.pt", _tiny(), ModelConfig()))
    assert not p["state_dict"]["lin.weight"].requires_grad


class _Moved:
    """A state-dict entry that records where `save_model` moves it."""

    def __init__(self, tensor: torch.Tensor, calls: list):
        self.tensor, self.calls = tensor, calls
        self.dtype = tensor.dtype

    def detach(self):
        return self

    def to(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.tensor.to(*args, **kwargs)


def test_save_model_moves_tensors_to_cpu(tmp_path, monkeypatch):
    calls: list = []
    model = _tiny()
    monkeypatch.setattr(model, "state_dict", lambda: {"w": _Moved(torch.ones(2), calls)})
    save_model(tmp_path / "a.pt", model, ModelConfig())
    save_model(tmp_path / "h.pt", model, ModelConfig(), half=True)
    assert [torch.device(a[0]) for a, _ in calls] == [torch.device("cpu")] * 2
    assert [a[1] for a, _ in calls] == [torch.float32, torch.float16]


# --- atomic_torch_save -------------------------------------------------------------------------------------


def test_atomic_save_creates_parents_and_leaves_only_the_file(tmp_path):
    target = tmp_path / "a" / "b" / "m.pt"
    assert atomic_torch_save({"x": torch.ones(2)}, target) == target
    assert torch.equal(_raw(target)["x"], torch.ones(2))
    assert sorted(os.listdir(target.parent)) == ["m.pt"]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_save_permissions_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_torch_save({"x": 1}, tmp_path / "m.pt")
        assert os.umask(umask) == umask  # the umask is left as it was
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.pt").stat().st_mode) == mode


def test_atomic_save_temp_file_is_hidden_beside_the_target_and_fsynced(tmp_path, monkeypatch):
    seen = {}
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        seen["src"], seen["dst"] = Path(src), Path(dst)
        seen["size"] = Path(src).stat().st_size
        return real_replace(src, dst)

    def fsync(fd):
        seen["fsync"] = fd
        return real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "model.pt"
    atomic_torch_save({"x": torch.zeros(100)}, target)
    assert seen["dst"] == target
    assert seen["src"].parent == tmp_path
    assert seen["src"].name.startswith(".model.pt.") and seen["src"].name.endswith(".tmp")
    assert seen["size"] == target.stat().st_size > 400
    assert isinstance(seen["fsync"], int)


def test_atomic_save_failure_leaves_no_temp_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "m.pt"
    atomic_torch_save({"x": 1}, target)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        atomic_torch_save({"f": lambda: 0}, target)
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]
    assert _raw(target) == {"x": 1}


def test_atomic_save_keyboard_interrupt_leaves_no_temp(tmp_path, monkeypatch):
    def interrupted(payload, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"x": 1}, tmp_path / "m.pt")
    assert os.listdir(tmp_path) == []


def test_atomic_save_failure_after_the_temp_vanished_raises_the_original_error(tmp_path, monkeypatch):
    def replace(src, dst):
        os.unlink(src)
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_torch_save({"x": 1}, tmp_path / "m.pt")
    assert os.listdir(tmp_path) == []


# --- safe_torch_load ---------------------------------------------------------------------------------------


def _raising(exc):
    def load(*args, **kwargs):
        raise exc

    return load


def test_safe_load_reads_on_cpu_with_weights_only(tmp_path, monkeypatch):
    torch.save({"x": torch.arange(3)}, tmp_path / "a.pt")
    seen = {}
    real = torch.load

    def load(path, **kwargs):
        seen.update(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    got = safe_torch_load(tmp_path / "a.pt", "bad: {}")
    assert torch.equal(got["x"], torch.arange(3))
    assert seen == {"map_location": "cpu", "weights_only": True}


def test_safe_load_refuses_pickled_code(tmp_path):
    with open(tmp_path / "evil.pt", "wb") as f:
        torch.save({"cls": Tiny}, f)
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "evil.pt", "unsafe <{}>")
    assert e.value.message.startswith("unsafe <") and e.value.message.endswith(">")
    assert "\n" not in e.value.message


def test_safe_load_message_takes_the_first_line_of_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", _raising(ValueError("  \n first line  \nsecond line\n")))
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "x.pt", "cannot read ({})")
    assert e.value.message == "cannot read (first line  )"
    assert e.value.path == tmp_path / "x.pt"
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_safe_load_message_names_the_type_when_the_reason_is_blank(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", _raising(EOFError(" \n ")))
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "x.pt", "cannot read ({})")
    assert e.value.message == "cannot read (EOFError)"
    monkeypatch.setattr(torch, "load", _raising(RuntimeError()))
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "x.pt", "r: {}")
    assert e.value.message == "r: RuntimeError"


# --- read_model_file ---------------------------------------------------------------------------------------


def _msg(fn, *args) -> CheckpointError:
    with pytest.raises(CheckpointError) as e:
        fn(*args)
    return e.value


def test_read_missing_and_folder(tmp_path):
    e = _msg(read_model_file, str(tmp_path / "nope.pt"))
    assert e.message == "no such model file" and e.path == tmp_path / "nope.pt"
    e = _msg(read_model_file, tmp_path)
    assert e.message == "is not a file" and e.path == tmp_path


NO_HEADER = "not an lmv model file (no 'lmv-model' header)"
FSNET_HINT = NO_HEADER + "; a checkpoint of the original FSNet code? convert it with `lmv import-checkpoint`"
TRAIN_HINT = NO_HEADER + "; this is a training checkpoint: pass its run directory instead"


@pytest.mark.parametrize(
    "payload,message",
    [
        ([1, 2], NO_HEADER),
        ({}, NO_HEADER),
        ({"format": "other"}, NO_HEADER),
        ({"net": 1}, FSNET_HINT),
        ({"state_dict": 1}, FSNET_HINT),
        ({"conv.weight": torch.ones(1), "conv.bias": torch.zeros(1)}, FSNET_HINT),
        ({"conv.weight": torch.ones(1), "step": 3}, NO_HEADER),
        ({1: torch.ones(1)}, NO_HEADER),
        ({"format": "lmv-checkpoint"}, TRAIN_HINT),
        ({"format": "lmv-checkpoint", "state_dict": {}}, FSNET_HINT),
        ({"format": "LMV-MODEL"}, NO_HEADER),
    ],
)
def test_read_foreign_payloads(tmp_path, payload, message):
    torch.save(payload, tmp_path / "f.pt")
    e = _msg(read_model_file, tmp_path / "f.pt")
    assert e.message == message
    assert e.path == tmp_path / "f.pt"


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"format_version": 2}, "model file format version 2, this lmv reads 1"),
        ({"format_version": 0}, "model file format version 0, this lmv reads 1"),
        ({}, "model file format version None, this lmv reads 1"),
        ({"format_version": 1, "model": {}}, "model file lacks its 'model' configuration or 'state_dict'"),
        ({"format_version": 1, "state_dict": {}}, "model file lacks its 'model' configuration or 'state_dict'"),
        ({"format_version": 1, "state_dict": [], "model": {}}, "model file lacks its 'model' configuration or 'state_dict'"),
        ({"format_version": 1, "state_dict": {}, "model": "fsnet"}, "model file lacks its 'model' configuration or 'state_dict'"),
    ],
)
def test_read_header_errors(tmp_path, extra, message):
    torch.save({"format": "lmv-model", **extra}, tmp_path / "f.pt")
    e = _msg(read_model_file, tmp_path / "f.pt")
    assert e.message == message
    assert e.path == tmp_path / "f.pt"


def test_read_valid_file_returns_the_payload(tmp_path):
    payload = {"format": "lmv-model", "format_version": 1, "state_dict": {}, "model": {"preset": "x"}}
    torch.save(payload, tmp_path / "f.pt")
    assert read_model_file(str(tmp_path / "f.pt")) == payload


# --- load_model -----------------------------------------------------------------------------------------------


def test_load_model_builds_loads_and_returns_meta(lite, lite_file):
    model, cfg = lite
    got, got_cfg, meta = load_model(str(lite_file))
    assert got_cfg == ModelConfig(**LITE)
    assert meta == {"step": 5, "val": {"psnr": 30.5}}
    assert not got.training and all(not m.training for m in got.modules())
    assert got.clamp == "batch" and got.warp == "exact" and got.demodulate is False
    own = model.state_dict()
    for k, v in got.state_dict().items():
        assert v.dtype == torch.float32 and v.device.type == "cpu"
        assert torch.equal(v, own[k])


def test_load_model_device(lite_file):
    got, _, _ = load_model(lite_file, device="meta")
    assert {p.device.type for p in got.parameters()} == {"meta"}
    got, _, _ = load_model(lite_file, torch.device("meta"))
    assert {p.device.type for p in got.parameters()} == {"meta"}


def test_load_model_meta_absent_or_none(lite_file):
    p = _raw(lite_file)
    p.pop("meta")
    torch.save(p, lite_file)
    assert load_model(lite_file)[2] == {}
    p["meta"] = None
    torch.save(p, lite_file)
    assert load_model(lite_file)[2] == {}


def test_load_model_checks_the_weights(lite_file):
    p = _raw(lite_file)
    del p["state_dict"]["history_encoder.input_block.conv1.weight"]
    torch.save(p, lite_file)
    e = _msg(load_model, lite_file)
    assert e.message == "weights lack key 'history_encoder.input_block.conv1.weight' (another architecture or preset?)"
    assert e.path == lite_file


# --- load_state_dict_strict ----------------------------------------------------------------------------------


def _state(**over):
    state = {"lin.weight": torch.ones(3, 2), "lin.bias": torch.zeros(3), "count": torch.tensor([1])}
    state.update(over)
    return state


def test_strict_missing_key(tmp_path):
    state = _state()
    del state["lin.weight"], state["lin.bias"]
    e = _msg(load_state_dict_strict, _tiny(), state, tmp_path / "w.pt")
    assert e.message == "weights lack key 'lin.weight' (another architecture or preset?)"
    assert e.path == tmp_path / "w.pt"
    state = _state()
    del state["count"]
    state["zzz"] = torch.ones(1)  # the missing key is reported before the unexpected one
    e = _msg(load_state_dict_strict, _tiny(), state)
    assert e.message == "weights lack key 'count' (another architecture or preset?)"
    assert e.path is None


def test_strict_unexpected_key():
    e = _msg(load_state_dict_strict, _tiny(), _state(extra=torch.ones(1), more=torch.ones(1)), "p.pt")
    assert e.message == "unexpected key 'extra' in the weights (another architecture or preset?)"
    assert e.path == Path("p.pt")


def test_strict_not_a_tensor():
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.bias": [0.0, 0.0, 0.0]}), "p.pt")
    assert e.message == "key 'lin.bias' is not a tensor"
    assert e.path == Path("p.pt")


def test_strict_wrong_shape():
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.weight": torch.ones(2, 3)}), "p.pt")
    assert e.message == "key 'lin.weight' has shape (2, 3), the model expects (3, 2)"
    assert e.path == Path("p.pt")
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.bias": torch.ones(3, 1)}))
    assert e.message == "key 'lin.bias' has shape (3, 1), the model expects (3,)"


def test_strict_loads_half_weights_as_float32():
    model = _tiny()
    w = torch.tensor([[0.5, -1.25], [2.0, 3.0], [0.1, 0.2]], dtype=torch.float16)
    load_state_dict_strict(model, _state(**{"lin.weight": w, "lin.bias": torch.tensor([1.0, 2.0, 3.0]).half()}))
    assert model.lin.weight.dtype == torch.float32
    assert torch.equal(model.lin.weight, w.float())
    assert model.lin.bias.tolist() == [1.0, 2.0, 3.0]
    assert model.count.tolist() == [1]


# --- resolve_model ---------------------------------------------------------------------------------------------


def _run(root: Path, *names: str) -> Path:
    for name in names:
        (root / "model").mkdir(parents=True, exist_ok=True)
        (root / "model" / name).write_bytes(b"x")
    return root


def test_resolve_bundled(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "none.pt")
    e = _msg(resolve_model, "bundled")
    assert e.message == "no model is bundled with this lmv installation; pass a model with --model"
    assert e.path is None
    (tmp_path / "dir.pt").mkdir()
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "dir.pt")
    assert _msg(resolve_model, Path("bundled")).path is None
    (tmp_path / "b.pt").write_bytes(b"x")
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "b.pt")
    assert resolve_model("bundled") == tmp_path / "b.pt"
    assert resolve_model(Path("bundled")) == tmp_path / "b.pt"


def test_bundled_path_is_the_package_asset():
    assert files.BUNDLED_PATH == Path(files.__file__).resolve().parents[2] / "assets" / "bundled_model.pt"
    assert files.BUNDLED == "bundled" and (files.BEST, files.LAST) == ("best.pt", "last.pt")


def test_resolve_missing_and_file(tmp_path):
    e = _msg(resolve_model, str(tmp_path / "nope"))
    assert e.message == "no such model file or run directory" and e.path == tmp_path / "nope"
    (tmp_path / "f.pt").write_bytes(b"x")
    assert resolve_model(str(tmp_path / "f.pt")) == tmp_path / "f.pt"


def test_resolve_run_directory_prefers_best(tmp_path):
    run = _run(tmp_path / "r", "last.pt", "best.pt")
    assert resolve_model(run) == run / "model" / "best.pt"
    only_last = _run(tmp_path / "l", "last.pt")
    (only_last / "model" / "best.pt").mkdir()  # not a file
    assert resolve_model(str(only_last)) == only_last / "model" / "last.pt"


def test_resolve_job_directory_takes_the_newest_run_with_a_model(tmp_path):
    job = tmp_path / "job"
    _run(job / "2024-01-02_10-00-00", "last.pt")
    _run(job / "2024-01-01_10-00-00", "best.pt")
    _run(job / "2023-12-31_10-00-00", "best.pt")
    (job / "2024-01-03_10-00-00" / "model").mkdir(parents=True)  # newest, but holds no model
    (job / "2024-01-04_10-00-00").write_bytes(b"x")  # a file, not a run
    assert resolve_model(job) == job / "2024-01-02_10-00-00" / "model" / "last.pt"
    _run(job / "2024-01-02_10-00-00", "best.pt")
    assert resolve_model(str(job)) == job / "2024-01-02_10-00-00" / "model" / "best.pt"


def test_resolve_folder_without_runs(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    e = _msg(resolve_model, tmp_path / "empty")
    assert e.message == (
        "is a folder but neither a run directory (with model/best.pt) nor a job directory holding runs"
    )
    assert e.path == tmp_path / "empty"


def test_run_model_helper(tmp_path):
    assert files._run_model(tmp_path) is None
    _run(tmp_path, "last.pt")
    assert files._run_model(tmp_path) == tmp_path / "model" / "last.pt"


# --- _looks_like_state_dict -----------------------------------------------------------------------------------


def test_looks_like_state_dict():
    t = torch.zeros(1)
    assert _looks_like_state_dict({"a": t, "b": t}) is True
    assert _looks_like_state_dict({}) is False
    assert _looks_like_state_dict({"a": t, 2: t}) is False
    assert _looks_like_state_dict({"a": t, "b": 1.0}) is False
    assert _looks_like_state_dict({"a": 1.0, "b": t}) is False


# --- bundle ---------------------------------------------------------------------------------------------------


def _check_bundled(out: Path, source: Path, model: nn.Module) -> None:
    p = _raw(out)
    assert p["format"] == "lmv-model"
    assert {v.dtype for v in p["state_dict"].values()} == {torch.float16}
    assert p["meta"] == {"step": 5, "val": {"psnr": 30.5}, "bundled_from": str(source), "stored_as": "float16"}
    assert p["model"] == LITE
    got, cfg, meta = load_model(out)
    assert cfg == ModelConfig(**LITE) and meta == p["meta"]
    own = model.state_dict()
    for k, v in got.state_dict().items():
        assert v.dtype == torch.float32
        assert torch.equal(v, own[k].half().float())


def test_bundle_default_output_is_the_package_asset(lite_file, monkeypatch, tmp_path):
    seen = {}

    def fake_save(out, model, cfg, meta, *, half=False):
        seen.update(out=out, half=half, meta=meta)
        return tmp_path / "x"

    monkeypatch.setattr(bundle_mod, "save_model", fake_save)
    assert bundle_mod.bundle(lite_file) == tmp_path / "x"
    assert seen["out"] == files.BUNDLED_PATH and seen["half"] is True
    assert seen["meta"]["bundled_from"] == str(lite_file)


@pytest.mark.parametrize("size,shown", [(750_000, "0.8"), (1_050_000, "1.1"), (749_999, "0.7")])
def test_main_size_in_megabytes(tmp_path, monkeypatch, capsys, size, shown):
    written = tmp_path / "w.pt"
    written.write_bytes(b"\0" * size)
    seen = []
    monkeypatch.setattr(bundle_mod, "bundle", lambda source, out: seen.append((source, out)) or written)
    bundle_mod.main(["src", "--out", "o.pt"])
    assert seen == [("src", Path("o.pt"))]
    assert capsys.readouterr().out == f"wrote {written} ({shown} MB)\n"


def test_main_default_out(lite_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bundle_mod, "BUNDLED_PATH", tmp_path / "assets" / "bundled.pt")
    bundle_mod.main([str(lite_file)])
    assert (tmp_path / "assets" / "bundled.pt").is_file()
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'assets' / 'bundled.pt'} (")


def test_main_help_and_missing_source(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside the default path
    with pytest.raises(SystemExit) as e:
        bundle_mod.main(["--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Make the model shipped inside the package" in out
    assert "source run directory, job directory or lmv model file " in out
    assert "--out OUT" in out and "default:" in out and "bundled_model.pt" in out
    with pytest.raises(SystemExit) as e:
        bundle_mod.main([])
    assert e.value.code == 2
    assert "source" in capsys.readouterr().err
