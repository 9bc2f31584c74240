"""`lmv train` CLI: --dry-run resolves the config, checks the stores and prints the model size; bad input of
every kind (config, stores, scenes, crop, out dir) is one line and exit 1 before anything is written."""

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
}  # docs/model.md#parameters-and-cost, measured on the original


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


def tiny_args(store: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "-c", TINY_YAML, "--set", f"data.stores=[{store}]", "--set", "data.val_scenes=[translucency]",
            "--out", str(out), *extra]


def test_dry_run_checks_the_stores_and_lists_the_split(runner, eval_store, tmp_path):
    result = runner.invoke(app, tiny_args(eval_store, tmp_path / "runs", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert "occlusion" in result.output and "translucency" in result.output and "validation" in result.output
    assert "4 training windows of 6 frames" in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["data.val_scenes=[crossing]"], "no store holds scene(s) crossing (scenes in data.stores: occlusion, translucency)"),
        (["data.stores=[{tmp}/missing.zarr]"], "missing.zarr: no such store"),
        (["data.crop=[64,64]"], "'data.crop' [64, 64] (H, W) is larger than scene occlusion"),
        (["model.fooo=1"], "unknown key 'model.fooo'"),
    ],
)
@pytest.mark.parametrize("dry", [True, False])
def test_bad_data_is_one_line_exit_1(runner, eval_store, tmp_path, sets, message, dry):
    extra = [x for s in sets for x in ("--set", s.format(tmp=tmp_path))] + (["--dry-run"] if dry else [])
    result = runner.invoke(app, tiny_args(eval_store, tmp_path / "runs", *extra))
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing written before the data is known to be good


def test_incomplete_store_is_one_line_exit_1(runner, eval_store, tmp_path):
    import shutil

    broken = tmp_path / "broken.zarr"
    shutil.copytree(eval_store, broken)
    root = broken / "zarr.json"
    root.write_text(root.read_text().replace('"complete": true', '"complete": false'))
    result = runner.invoke(app, tiny_args(broken, tmp_path / "runs"))
    assert result.exit_code == 1 and "incomplete" in result.output and len(result.output.strip().splitlines()) == 1


def test_unwritable_out_dir_is_one_line_exit_1(runner, eval_store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, tiny_args(eval_store, blocker / "runs"))
    assert result.exit_code == 1, result.output
    assert "cannot create a run directory there" in result.output and str(blocker) in result.output
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
