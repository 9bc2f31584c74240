"""A real `lmv train` on a packed store, small enough for the default suite (the fuller runs are in
test_train.py, marked slow): what the run leaves behind says when it logged, checkpointed and validated,
and `train.grad_clip` bounds how far one step moves the weights.

fsnet_small on 32×32 crops of the `occlusion` scene (eval_store: 12 frames; sequences of one predicted
frame, so windows of 4 frames at stride 1: 9 per epoch, batch 1, one step each), `translucency` held out;
5 steps, so no epoch ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.progress import EndEvent
from lmv_cli.core.train.run import resume
from lmv_cli.core.train.checkpoint import read_checkpoint

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
SETS = ["model.preset=fsnet_small", "data.sequence_length=1", "data.window_stride=1", "data.val_frames=5", "data.val_scenes=[translucency]",
        "train.batch_size=1", "train.epochs=2", "train.keep_checkpoints=10", "train.weight_decay=0"]


def train(store: Path, out: Path, *sets: str) -> Path:
    """Run `lmv train` (real: store, model, optimizer, checkpoints) and return its run directory."""
    return train_and_show(store, out, *sets)[0]


def train_and_show(store: Path, out: Path, *sets: str) -> tuple[Path, str]:
    """`train`, also returning what `lmv train` printed."""
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{store}]", "--out", str(out)]
    for s in (*SETS, *sets):
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = (out / "tiny").iterdir()
    return run, result.stdout


def largest_change(run: Path, step: int) -> float:
    """The largest change of any weight between the step-0 checkpoint and the one of `step`."""
    start = read_checkpoint(run / "history_checkpoints" / "checkpoint_000000000.pt")["state_dict"]
    end = read_checkpoint(run / "history_checkpoints" / f"checkpoint_{step:09d}.pt")["state_dict"]
    return max(float((end[k].float() - start[k].float()).abs().max()) for k in start)


@pytest.fixture(scope="module")
def trained(eval_store, tmp_path_factory) -> tuple[Path, str]:
    return train_and_show(eval_store, tmp_path_factory.mktemp("runs"), "train.max_steps=5",
                          "train.checkpoint_every=2", "train.log_every=3", "train.grad_clip=0")


@pytest.fixture(scope="module")
def run(trained) -> Path:
    return trained[0]


def test_the_command_shows_each_event_of_the_run(trained):
    run, shown = trained
    assert f"run {run}: steps 0..5" in shown and "9 windows" in shown
    assert "step 3/5 epoch 0 loss" in shown and "step 5/5 epoch 0 loss" in shown
    assert f"checkpoint step 0 (start): {run / 'checkpoint'}" in shown
    assert "val step 5 N=1: model" in shown and "warp" in shown and "repeat" in shown
    assert "val step 5: new best model (PSNR" in shown
    assert "done at step 5, best validation PSNR" in shown


def test_a_caller_receives_typed_events_that_match_the_log(run):
    events = []
    resume(run, on_event=events.append)  # the run is finished: nothing to train, one event
    (event,) = events
    assert isinstance(event, EndEvent) and event.already_finished and (event.step, event.best_step) == (5, 5)
    records = [json.loads(line) for line in (run / "log" / "train.jsonl").read_text().splitlines()]
    assert records[-1] == event.record() | {"time": records[-1]["time"]}
    val = next(r for r in records if r["kind"] == "val")
    assert set(val["n1"]) == {"model", "warp", "repeat"} and val["best"] is True


def test_logs_every_log_every_steps_and_the_last_step(run):
    records = [json.loads(line) for line in (run / "log" / "train.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [3, 5]  # log_every 3, and the last step off that cadence
    assert all(r["loss"] > 0 and r["total_steps"] == 5 for r in train)
    assert 0 < train[1]["lr"] < train[0]["lr"]  # the cosine schedule decays
    assert [r["step"] for r in records if r["kind"] == "val"] == [5]  # no epoch ended: the final validation
    assert [r["kind"] for r in records][0] == "start" and records[-1]["kind"] == "end"


def test_checkpoints_at_the_start_every_checkpoint_every_steps_and_the_end(run):
    assert sorted(p.name for p in (run / "history_checkpoints").iterdir()) == [
        f"checkpoint_{step:09d}.pt" for step in (0, 2, 4, 5)]
    payload = read_checkpoint(run / "checkpoint" / "checkpoint.pt")
    assert payload["progress"]["step"] == 5 and payload["progress"]["epoch"] == 0
    assert sorted(payload["order"].tolist()) == list(range(9))  # this epoch's order of the 9 windows
    assert (run / "model" / "best.pt").is_file() and (run / "model" / "last.pt").is_file()


def test_an_unclipped_step_moves_the_weights_a_clipped_one_barely(run, eval_store, tmp_path):
    # Adam moves each weight by about lr (2e-4 in tiny.yaml) whatever the gradient's scale, unless the
    # gradient is so small that its epsilon (1e-8) dominates: a global norm clipped to 1e-12 moves ~1e-8.
    assert largest_change(run, 2) > 1e-5
    clipped = train(eval_store, tmp_path, "train.max_steps=1", "train.checkpoint_every=1", "train.grad_clip=1e-12")
    assert 0 < largest_change(clipped, 1) < 1e-6
