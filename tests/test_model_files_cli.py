"""MODEL files on the command line (issue 22): a file that is not a PyTorch file is named in lmv's own
words (no PyTorch advice, no bare numbers), and a model used on frames far from its training resolution
gets one warning naming both sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.model.files import load_model, save_model

runner = CliRunner()


def _bytes_file(tmp_path, content: bytes):
    path = tmp_path / "MODEL.pt"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "facts"),
    [
        (b"\x01" + np.random.default_rng(3).integers(0, 256, 4095, dtype=np.uint8).tobytes(),
         ["not a PyTorch model file"]),
        (b"hello world\nthis is a text file\n", ["not a model file", "text", "hello world"]),
        (b"", ["not a model file", "empty"]),
    ],
    ids=["random-bytes", "text", "empty"],
)
@pytest.mark.parametrize("command", ["test", "export-onnx"])
def test_a_file_that_is_no_model_is_named_in_lmvs_words(command, content, facts, tmp_path, eval_store):
    model = _bytes_file(tmp_path, content)
    args = ["test", str(model), "--data", str(eval_store)] if command == "test" else \
        ["export-onnx", str(model), str(tmp_path / "x.onnx"), "--exporter", "torchscript"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in result.output
    assert str(model) in line and all(f in line for f in facts), line
    assert "weights_only" not in line and "torch.load" not in line
    assert not any(word.strip("():,").isdigit() for word in line.split()), line
    assert not (tmp_path / "x.onnx").exists()


class Evil:
    """A class a pickle names: loading it would import and build it (code from the file)."""


def test_a_file_that_needs_code_to_load_is_refused_without_pytorch_advice(tmp_path, eval_store):
    import torch

    path = tmp_path / "MODEL.pt"
    torch.save({"format": "lmv-model", "x": Evil()}, path)
    result = runner.invoke(app, ["test", str(path), "--data", str(eval_store)])
    assert result.exit_code == 1, result.output
    assert "refused" in result.stderr and "weights_only" not in result.stderr


def _model_trained_at(tiny_model, tmp_path, record, flow_unit: str = "ndc") -> str:
    """The tiny model saved as trained at `record`; flows in the released NDC unit by default (a network
    that cannot adapt to another resolution), or in pixels of its grid with `downscale: auto`."""
    model, cfg, meta = load_model(tiny_model)
    if record is not None:
        meta["train_resolution"] = record
    cfg = dataclasses.replace(cfg, flow_unit=flow_unit, downscale="auto" if flow_unit == "pixels" else "preset")
    return str(save_model(tmp_path / "model.pt", model, cfg, meta))


@pytest.mark.parametrize(
    "record",
    [[160, 120], [20, 12], {"frame": [200, 64], "crop": [32, 32]}],
    ids=["larger", "smaller", "crops-of-wider-frames"],
)
def test_far_training_resolution_is_warned_about_on_test(record, tiny_model, eval_store, tmp_path):
    model = _model_trained_at(tiny_model, tmp_path, record)
    result = runner.invoke(app, ["test", model, "--data", str(eval_store), "--scene", "translucency",
                                 "--device", "cpu", "--no-flip"])
    assert result.exit_code == 0, result.output
    frame = record["frame"] if isinstance(record, dict) else record
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert f"{frame[0]}x{frame[1]}" in warnings[0] and "48x32" in warnings[0] and model in warnings[0]


@pytest.mark.parametrize("record", [None, [64, 48], [32, 24], "320x180", {"crop": [32, 32]}],
                         ids=["absent", "close-larger", "close-smaller", "foreign", "no-frame"])
def test_close_or_unknown_training_resolution_is_silent(record, tiny_model, eval_store, tmp_path):
    model = _model_trained_at(tiny_model, tmp_path, record)
    result = runner.invoke(app, ["test", model, "--data", str(eval_store), "--scene", "translucency",
                                 "--device", "cpu", "--no-flip"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_a_model_that_runs_at_its_trained_density_is_not_warned_about(tiny_model, eval_store, tmp_path):
    """Pixel-unit flows with `downscale: auto` and a recorded training resolution adapt to any frame size."""
    model = _model_trained_at(tiny_model, tmp_path, {"frame": [320, 180], "crop": [32, 32]}, flow_unit="pixels")
    result = runner.invoke(app, ["test", model, "--data", str(eval_store), "--scene", "translucency",
                                 "--device", "cpu", "--no-flip"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_far_training_resolution_is_warned_about_on_extrapolate(tiny_model, eval_store, tmp_path):
    model = _model_trained_at(tiny_model, tmp_path, [320, 180])
    result = runner.invoke(app, ["extrapolate", str(eval_store), "--model", model, "--scene", "translucency",
                                 "--out", str(tmp_path / "out"), "--no-video", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "320x180" in result.stderr and "48x32" in result.stderr and "warning:" in result.stderr
