"""What a short real training run leaves and says (issue 22): checkpoints only at the configured cadence
(plus start and end), the missing TensorBoard extra named once with its pip command, the training
resolution recorded in the model file, and `lmv test RUN_DIR` naming the run by job and step and
saying which model file it used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.model.files import load_model
from lmv_cli.core.train.logs import tensorboard_available

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
STEPS = 3
# one step per epoch (batch of 4 windows, one predicted frame each), so three epochs end within the run
SETS = ["data.sequence_length=1", "train.batch_size=4", f"train.max_steps={STEPS}", f"train.epochs={STEPS}",
        "train.checkpoint_every=100", "data.val_frames=5", "data.val_scenes=[translucency]"]


@pytest.fixture(scope="module")
def trained(eval_store, tmp_path_factory):
    """(run directory, CLI output) of a 3-step, 3-epoch tiny run on the 48x32 eval store (crops 32x32)."""
    out = tmp_path_factory.mktemp("runs")
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{eval_store}]", "--out", str(out)]
    for s in SETS:
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = (out / "tiny").iterdir()
    return run, result.output


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log" / "train.jsonl").read_text().splitlines()]


def test_checkpoints_only_at_the_cadence_start_and_end(trained):
    run, _ = trained
    records = _records(run)
    epochs_ended = {r["epoch"] for r in records if r["kind"] == "val"}
    assert len(epochs_ended) >= 2  # the run crossed epoch ends ...
    checkpoints = [(r["step"], r["reason"]) for r in records if r["kind"] == "checkpoint"]
    assert checkpoints == [(0, "start"), (STEPS, "end")]  # ... and wrote no checkpoint there (cadence 100)
    assert len(list((run / "history_checkpoints").iterdir())) == 2


@pytest.mark.skipif(tensorboard_available(), reason="the note is for a missing TensorBoard")
def test_missing_tensorboard_is_named_once_with_the_pip_command(trained):
    _, output = trained
    assert output.count("pip install 'lmv[tb]'") == 1
    assert output.index("lmv[tb]") < output.index("checkpoint step 0")  # said at the start


def test_model_file_records_the_training_resolution(trained):
    run, _ = trained
    for name in ("best.pt", "last.pt"):
        _, _, meta = load_model(run / "model" / name)
        assert meta["train_resolution"] == {"frame": [48, 32], "crop": [32, 32]}


def test_lmv_test_names_the_run_by_job_and_step_and_the_model_file(trained, eval_store):
    run, _ = trained
    result = CliRunner().invoke(app, ["test", str(run), "--data", str(eval_store), "--scene", "translucency",
                                      "--device", "cpu", "--no-flip"])
    assert result.exit_code == 0, result.output
    _, _, meta = load_model(run / "model" / "best.pt")
    name = f"tiny@{meta['step']}"
    assert name in result.stdout and run.name not in result.stdout.split(" = ")[0]
    assert f"{name} = {run / 'model' / 'best.pt'}" in result.stdout
