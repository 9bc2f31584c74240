"""Model files as a user meets them (`lmv_cli.core.model.files`, `lmv_cli.core.model.bundle`):

- `save_model`: every payload field (format, version, lmv version, config dict, state dict, meta) and
  `half` (float16 on CPU);
- `atomic_torch_save`: parent folders created, permissions `0o666 & ~umask` (umask left alone), no temp
  file left on success or on any failure (KeyboardInterrupt included), an old file untouched by a failed
  write;
- `safe_torch_load`: pickled code refused, the first line of the reason (or the exception's type name
  when the reason is blank) in a one-line message naming the file;
- `read_model_file`: each refusal with its facts and hints;
- `load_model`: eval mode, the device, the meta, config errors as `CheckpointError`;
- `load_state_dict_strict`: each refusal (first offending key, shapes), float32 conversion;
- `resolve_model`: `bundled` (present and missing), files, run directories (best over last), job
  directories (the newest run that holds a model), the errors;
- `bundle()`: an fp16 model file with `bundled_from`/`stored_as` in its meta that loads back as float32
  equal to the fp16-rounded weights; `main()`'s arguments, default output and report (always into
  tmp_path: the real `lmv_cli/assets/bundled_model.pt` is never written).
"""

from __future__ import annotations

import os
import re
import pickle
import stat
from pathlib import Path

import pytest
import torch
from torch import nn

import lmv_cli.core.model.bundle as bundle_mod
from lmv_cli import __version__
import lmv_cli.core.model.files as files
from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import (
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
    "flow_unit": "pixels",
    "downscale": "auto",
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


def test_save_model_payload_fields(tmp_path):
    model, cfg = _tiny(), ModelConfig(**LITE)
    out = save_model(str(tmp_path / "a.pt"), model, cfg, {"step": 3})
    assert out == tmp_path / "a.pt" and isinstance(out, Path)
    p = _raw(out)
    assert set(p) == {"format", "format_version", "lmv_version", "model", "state_dict", "meta"}
    assert p["format"] == "lmv-model"
    assert p["format_version"] == 1
    assert p["lmv_version"] == __version__
    assert p["model"] == LITE
    assert p["meta"] == {"step": 3}
    assert list(p["state_dict"]) == ["count", "lin.weight", "lin.bias"]
    assert p["state_dict"]["lin.weight"].dtype == torch.float32
    assert p["state_dict"]["count"].dtype == torch.int64
    assert torch.equal(p["state_dict"]["lin.weight"], model.lin.weight.detach())
    assert torch.equal(p["state_dict"]["count"], torch.tensor([7]))


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


# --- safe_torch_load ---------------------------------------------------------------------------------------


def _raising(exc):
    def load(*args, **kwargs):
        raise exc

    return load


def test_safe_load_refuses_pickled_code(tmp_path):
    with open(tmp_path / "evil.pt", "wb") as f:
        torch.save({"cls": Tiny}, f)
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "evil.pt", "unsafe <{}>")
    assert re.fullmatch(r"unsafe <.+>", e.value.message)  # the caller's wording around the reason, one line


def test_safe_load_message_takes_the_first_line_of_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", _raising(ValueError("  \n first line  \nsecond line\n")))
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "x.pt", "cannot read ({})")
    assert "first line" in e.value.message and "second line" not in e.value.message
    assert "\n" not in e.value.message and e.value.path == tmp_path / "x.pt"


def test_safe_load_message_names_the_type_when_the_reason_is_blank(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", _raising(EOFError(" \n ")))
    with pytest.raises(CheckpointError) as e:
        safe_torch_load(tmp_path / "x.pt", "cannot read ({})")
    assert "EOFError" in e.value.message
    monkeypatch.setattr(torch, "load", _raising(RuntimeError()))
    with pytest.raises(CheckpointError, match="RuntimeError"):
        safe_torch_load(tmp_path / "x.pt", "r: {}")


# --- read_model_file ---------------------------------------------------------------------------------------


def _msg(fn, *args) -> CheckpointError:
    with pytest.raises(CheckpointError) as e:
        fn(*args)
    return e.value


def test_read_missing_and_folder(tmp_path):
    e = _msg(read_model_file, str(tmp_path / "nope.pt"))
    assert "no such model file" in e.message and e.path == tmp_path / "nope.pt"
    e = _msg(read_model_file, tmp_path)
    assert "not a file" in e.message and e.path == tmp_path


def test_read_corrupt_file(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"this is not a torch file")
    e = _msg(read_model_file, tmp_path / "c.pt")
    assert re.search(r"not a model file.*text", e.message) and "weights_only" not in e.message
    assert e.path == tmp_path / "c.pt"


NO_HEADER = None  # no hint: just "no 'lmv-model' header"
FSNET_HINT = "lmv import-checkpoint"  # a checkpoint of the original FSNet code
TRAIN_HINT = "run directory"  # a training checkpoint


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
    assert "'lmv-model' header" in e.message
    for hint in (FSNET_HINT, TRAIN_HINT):
        assert (hint in e.message) == (hint == message), hint
    assert e.path == tmp_path / "f.pt"


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"format_version": 2}, r"version 2\b.*\b1\b"),  # the file's version, then the one this lmv reads
        ({"format_version": 0}, r"version 0\b.*\b1\b"),
        ({}, r"version None\b.*\b1\b"),
        ({"format_version": 1, "model": {}}, r"lacks.*'model'.*'state_dict'"),
        ({"format_version": 1, "state_dict": {}}, r"lacks.*'model'.*'state_dict'"),
        ({"format_version": 1, "state_dict": [], "model": {}}, r"lacks.*'model'.*'state_dict'"),
        ({"format_version": 1, "state_dict": {}, "model": "fsnet"}, r"lacks.*'model'.*'state_dict'"),
    ],
)
def test_read_header_errors(tmp_path, extra, message):
    torch.save({"format": "lmv-model", **extra}, tmp_path / "f.pt")
    e = _msg(read_model_file, tmp_path / "f.pt")
    assert re.search(message, e.message)
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


def test_load_model_config_errors_are_checkpoint_errors(lite_file):
    p = _raw(lite_file)
    p["model"] = {**LITE, "preset": "nope"}
    torch.save(p, lite_file)
    e = _msg(load_model, lite_file)
    assert re.search(r"model configuration.*model\.preset.*'nope'.*fsnet, fsnet_lite, fsnet_small", e.message)
    assert e.path == lite_file
    p["model"] = {**LITE, "colour": 1}
    torch.save(p, lite_file)
    e = _msg(load_model, lite_file)
    assert "model configuration" in e.message and "colour" in e.message
    assert e.path == lite_file
    p["model"] = {**LITE, "warp": "original"}  # refused by the network itself (build_model)
    torch.save(p, lite_file)
    e = _msg(load_model, lite_file)
    assert re.search(r"model configuration.*downscale.*warp 'exact'.*'original'", e.message)


def test_load_model_checks_the_weights(lite_file):
    p = _raw(lite_file)
    del p["state_dict"]["history_encoder.input_block.conv1.weight"]
    torch.save(p, lite_file)
    e = _msg(load_model, lite_file)
    assert "'history_encoder.input_block.conv1.weight'" in e.message and "lack" in e.message
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
    assert re.search(r"lack.*'lin\.weight'", e.message)
    assert e.path == tmp_path / "w.pt"
    state = _state()
    del state["count"]
    state["zzz"] = torch.ones(1)  # the missing key is reported before the unexpected one
    e = _msg(load_state_dict_strict, _tiny(), state)
    assert re.search(r"lack.*'count'", e.message) and "zzz" not in e.message
    assert e.path is None


def test_strict_unexpected_key():
    e = _msg(load_state_dict_strict, _tiny(), _state(extra=torch.ones(1), more=torch.ones(1)), "p.pt")
    assert re.search(r"unexpected.*'extra'", e.message)
    assert e.path == Path("p.pt")


def test_strict_not_a_tensor():
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.bias": [0.0, 0.0, 0.0]}), "p.pt")
    assert re.search(r"'lin\.bias'.*not a tensor", e.message)
    assert e.path == Path("p.pt")


def test_strict_wrong_shape():
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.weight": torch.ones(2, 3)}), "p.pt")
    assert re.search(r"'lin\.weight'.*\(2, 3\).*\(3, 2\)", e.message)  # the file's shape, then the model's
    assert e.path == Path("p.pt")
    e = _msg(load_state_dict_strict, _tiny(), _state(**{"lin.bias": torch.ones(3, 1)}))
    assert re.search(r"'lin\.bias'.*\(3, 1\).*\(3,\)", e.message)


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
    assert "bundled" in e.message and e.option == "model"
    assert e.path is None
    (tmp_path / "dir.pt").mkdir()
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "dir.pt")
    assert _msg(resolve_model, Path("bundled")).path is None
    (tmp_path / "b.pt").write_bytes(b"x")
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "b.pt")
    assert resolve_model("bundled") == tmp_path / "b.pt"
    assert resolve_model(Path("bundled")) == tmp_path / "b.pt"


def test_resolve_missing_and_file(tmp_path):
    e = _msg(resolve_model, str(tmp_path / "nope"))
    assert "no such" in e.message and e.path == tmp_path / "nope"
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
    assert re.search(r"run directory.*model/best\.pt.*job directory", e.message)  # what it looked for
    assert e.path == tmp_path / "empty"


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


def test_bundle_run_directory(lite, tmp_path):
    model, cfg = lite
    run = tmp_path / "run"
    save_model(run / "model" / "best.pt", model, cfg, {"step": 5, "val": {"psnr": 30.5}})
    out = tmp_path / "o" / "b.pt"
    assert bundle_mod.bundle(str(run), out) == out
    _check_bundled(out, run / "model" / "best.pt", model)


def test_main_writes_and_reports(lite, lite_file, tmp_path, capsys):
    model, _ = lite
    out = tmp_path / "out.pt"
    bundle_mod.main([str(lite_file), "--out", str(out)])
    _check_bundled(out, lite_file, model)
    size = out.stat().st_size
    assert 0.5e6 < size < 0.9e6  # 352,241 fp16 parameters
    line = capsys.readouterr().out
    assert str(out) in line and "0.7 MB" in line  # the file and its size


def test_main_default_out(lite_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bundle_mod, "BUNDLED_PATH", tmp_path / "assets" / "bundled.pt")
    bundle_mod.main([str(lite_file)])
    assert (tmp_path / "assets" / "bundled.pt").is_file()
    assert str(tmp_path / "assets" / "bundled.pt") in capsys.readouterr().out


def test_main_help_and_missing_source(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside the default path
    with pytest.raises(SystemExit) as e:
        bundle_mod.main(["--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "source" in out and "--out" in out and "bundled_model.pt" in out  # the argument, the option, its default
    with pytest.raises(SystemExit) as e:
        bundle_mod.main([])
    assert e.value.code == 2
    assert "source" in capsys.readouterr().err
