"""`lmv train`: --dry-run resolves the config and prints the model size; without it, a clear exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmv_cli.cli.app import app

FSNET_YAML = str(Path(__file__).parents[1] / "configs" / "fsnet.yaml")
TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
FSNET_PARTS = {
    "history_encoder": 104_885,
    "gbuffer_encoder": 104_309,
    "decoder": 1_835_799,
    "recurrent_encoders": 7_912,
    "streaming_cells": 23_736,
}  # study §4.6, measured on the original


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_dry_run_prints_parts_and_total(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the config's out_dir is the relative `runs`: a write would land here
    result = runner.invoke(app, ["train", "--config", FSNET_YAML, "--dry-run"])
    assert result.exit_code == 0, result.output
    for part, count in FSNET_PARTS.items():
        assert part in result.output and f"{count:,}" in result.output
    assert "total" in result.output and "2,076,641" in result.output
    assert "preset: fsnet" in result.output and "history_probs: [0.0, 1.0, 0.0]" in result.output
    assert "nothing trained, nothing written" in result.output
    assert "out_dir: runs" in result.output and list(tmp_path.iterdir()) == []


def test_dry_run_applies_overrides_and_out(runner, tmp_path):
    out = tmp_path / "myruns"
    args = ["train", "-c", TINY_YAML, "--set", "train.lr=1e-3", "--set", "model.mv_gather=bilinear",
            "--out", str(out), "--dry-run"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "lr: 0.001" in result.output and "mv_gather: bilinear" in result.output
    assert f"out_dir: {out}" in result.output
    assert "2,076,641" in result.output
    assert not out.exists()


def test_training_without_dry_run_says_it_is_not_here_yet(runner):
    result = runner.invoke(app, ["train", "--config", TINY_YAML])
    assert result.exit_code == 1
    assert "training is not available yet: it arrives with the training issue" in result.output
    assert "Traceback" not in result.output and "NotImplementedError" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "model.fooo=1"], "unknown key 'model.fooo'"),
        (["--set", "train.lr=fast"], "'train.lr': expected float, got str"),
        (["--set", "train.lr_min=1"], "need 0 < train.lr_min <= train.lr"),
        (["--set", "model.preset=nope"], r"unknown preset 'nope' (presets: "),
    ],
)
def test_bad_config_is_one_line_exit_1(runner, extra, message):
    result = runner.invoke(app, ["train", "--config", FSNET_YAML, *extra, "--dry-run"])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_config_file(runner, tmp_path):
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml"), "--dry-run"])
    assert result.exit_code == 1
    assert "nope.yaml: config file not found" in result.output


def test_config_is_required(runner):
    result = runner.invoke(app, ["train", "--dry-run"])
    assert result.exit_code == 2
