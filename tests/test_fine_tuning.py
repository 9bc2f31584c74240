"""Fine-tuning (`train.init_from`): a fresh run starts from another model's weights, and a model built
with other options is refused before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.config import load_config
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import save_model
from lmv_cli.core.train.checkpoint import read_checkpoint

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
SETS = ["data.sequence_length=1", "train.batch_size=4", "train.max_steps=1", "train.epochs=1",
        "data.val_frames=5", "data.val_scenes=[translucency]"]


def _source(tmp_path: Path, **options) -> tuple[Path, torch.nn.Module]:
    """A model file of tiny.yaml's model with random (non-warp) weights, or with other `options`."""
    cfg = dataclasses.replace(load_config(TINY_YAML).model, init="random", **options)
    torch.manual_seed(7)
    model = build_model(cfg)
    return save_model(tmp_path / "source.pt", model, cfg), model


def _train(store: Path, out: Path, *sets: str):
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{store}]", "--out", str(out)]
    for s in (*SETS, *sets):
        args += ["--set", s]
    return CliRunner().invoke(app, args)


def test_a_run_started_from_a_model_file_begins_with_its_weights(eval_store, tmp_path):
    source, model = _source(tmp_path)
    result = _train(eval_store, tmp_path / "runs", f"train.init_from={source}")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    (start,) = [p for p in (run / "history_checkpoints").iterdir() if p.name.endswith("000000000.pt")]
    weights = read_checkpoint(start)["state_dict"]  # the start checkpoint: before the first step
    for name, value in model.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0, msg=name)
    assert str(source.resolve()) in (run / "config.yaml").read_text()  # the run says what it started from


def test_a_model_of_other_options_is_refused_before_anything_is_written(eval_store, tmp_path):
    source, _ = _source(tmp_path, demodulate="learned")
    result = _train(eval_store, tmp_path / "runs", f"train.init_from={source}")
    assert result.exit_code != 0
    assert "init_from" in result.output and "demodulate" in result.output and "learned" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
