"""The error contract of every command (docs/architecture.md#error-contract, issue 9): usage errors exit 2, bad data exits 1 with
one line on stderr naming the file, config errors name the config file and the dotted key, and a
failing `--json` command also prints a JSON error object (schema lmv.error/1) on stdout."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers_export import set_root_attr
from lmv_cli.cli.app import app
from lmv_cli.core.model import files
from lmv_cli.core.store import pack

runner = CliRunner()


def one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "0"], "Invalid value for --frames: frames must be between 2 and"),
        (["--frames", "-3"], "got -3"),
        (["--size", "0x0"], "Invalid value for --size: size must be between 16x16 and 8192x8192, got 0x0"),
        (["--size", "wide"], "expected WIDTHxHEIGHT such as 320x180"),
        (["--scene", "nope"], "unknown scene 'nope'; valid scenes: orbit, occlusion, moving_light, translucency, "
                              "flythrough"),
        (["--seed", "-1"], "--seed"),
        (["--workers", "-2"], "--workers"),
    ],
)
def test_synth_option_errors_are_usage_errors(args, message, tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), *args], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "out").exists()  # nothing rendered


@pytest.mark.parametrize("args", [["--workers", "-1"], ["--resume", "--overwrite"]])
def test_pack_usage_errors(args, tmp_path):
    assert runner.invoke(app, ["pack", str(tmp_path), str(tmp_path / "s.zarr"), *args]).exit_code == 2


def test_bad_data_is_one_line_exit_1(tmp_path):
    line = one_line(runner.invoke(app, ["capture-check", str(tmp_path / "missing")]), 1)
    assert line.startswith(f"error: {tmp_path / 'missing'}: ") and "no such folder" in line
    line = one_line(runner.invoke(app, ["pack", str(tmp_path / "missing"), str(tmp_path / "s.zarr")]), 1)
    assert str(tmp_path / "missing") in line


def test_json_failure_prints_an_error_object_on_stdout(tmp_path):
    result = runner.invoke(app, ["capture-check", str(tmp_path / "missing"), "--json"])
    assert one_line(result, 1).startswith(f"error: {tmp_path / 'missing'}: ")
    error = json.loads(result.stdout)
    message = error["error"].pop("message")
    assert "no such folder" in message and error["error"].pop("text") == f"{tmp_path / 'missing'}: {message}"
    assert error == {"schema": "lmv.error/1", "ok": False, "exit_code": 1,
                     "error": {"type": "CaptureError", "path": str(tmp_path / "missing"), "frame": None}}


def test_json_report_of_a_damaged_store_is_a_report_not_an_error(synth_scene, tmp_path):
    from lmv_cli.core.store import layout, pack

    store = tmp_path / "s.zarr"
    pack(synth_scene, store, workers=1)
    (store / synth_scene.name / layout.chunk_key("nov", 4)).unlink()
    result = runner.invoke(app, ["capture-check", str(store), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["schema"] == "lmv.store-check/1" and report["ok"] is False
    assert report["scenes"][0]["damaged_frames"] == [4]
    assert runner.invoke(app, ["capture-check", str(store), "--quick"]).exit_code == 1  # checksums only
    assert "repair: `lmv pack EXPORT" in runner.invoke(app, ["capture-check", str(store)]).stdout


def test_config_errors_name_the_file_and_the_dotted_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  epochs: 1\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lrr: 0.1\n")
    line = one_line(runner.invoke(app, ["train", "--config", str(bad), "--dry-run"]), 1)
    assert line.startswith(f"error: {bad}: unknown key 'train.lrr'")
    line = one_line(runner.invoke(app, ["train", "--config", str(config), "--dry-run", "--set", "train.lr=inf"]), 1)
    assert "--set train.lr=inf: 'train.lr': expected a finite float, got inf (not finite)" in line
    line = one_line(runner.invoke(app, ["train", "--config", str(config), "--dry-run", "--set", "train.lr=-1"]), 1)
    assert f"{config} with --set train.lr=-1: invalid configuration: need 0 < train.lr_min <= train.lr" in line


def test_an_unfinished_store_names_the_pack_command_that_finishes_it(synth_scene, tmp_path):
    store = tmp_path / "s.zarr"
    pack(synth_scene, store, workers=1)
    set_root_attr(store, complete=False)
    line = one_line(runner.invoke(app, ["test", "bundled", "--data", str(store)]), 1)
    assert line.startswith(f"error: {store}: ") and "incomplete" in line
    assert "lmv pack EXPORT STORE --resume" in line and "`pack.resume`" not in line


def test_a_missing_bundled_model_names_the_model_option(eval_store, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "none.pt")
    line = one_line(runner.invoke(app, ["extrapolate", str(eval_store), "--out", str(tmp_path / "out")]), 1)
    assert "no model is bundled" in line and "--model" in line and "`model`" not in line
