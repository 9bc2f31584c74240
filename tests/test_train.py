"""Training on a real packed store (tiny config): run directory, logs, model files and checkpoints, the
schedule and history patterns, divergence stopping with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.config import load_config
from lmv_cli.core.model.files import load_model
from lmv_cli.core.train.checkpoint import read_checkpoint
from lmv_cli.core.train.rundir import SUBDIRS
from lmv_cli.core.train.schedule import cosine_lr, draw_pattern, sequence_probs, sequence_rng

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")


def train_tiny(store: Path, out: Path, *sets: str) -> tuple[int, str]:
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{store}]", "--set", "data.val_scenes=[translucency]",
            "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log" / "train.jsonl").read_text().splitlines()]


def test_cosine_schedule_ends():
    assert cosine_lr(0, 100, 2e-4, 2e-5) == pytest.approx(2e-4)
    assert cosine_lr(50, 100, 2e-4, 2e-5) == pytest.approx(1.1e-4)
    assert cosine_lr(100, 100, 2e-4, 2e-5) == pytest.approx(2e-5)


def test_patterns_only_pick_predicted_halves_that_exist():
    rng = np.random.default_rng(0)
    none = ((True, False),) * 3
    assert all(draw_pattern(rng, (1.0, 1.0, 1.0), none) == (False,) * 3 for _ in range(10))
    some = ((True, True), (True, False), (True, True))
    assert draw_pattern(rng, (1.0, 1.0, 1.0), some) == (True, False, True)
    assert sequence_probs(np.random.default_rng(1), (0.0, 1.0, 0.0), 1.0) == (0.5, 0.5, 0.5)
    draws = [sequence_rng(7, 0, 12).random() for _ in range(2)]
    assert draws[0] == draws[1] and sequence_rng(7, 1, 12).random() != draws[0]  # per rank, per position


@pytest.mark.slow
def test_tiny_run_writes_the_run_directory(eval_store, tmp_path):
    code, output = train_tiny(eval_store, tmp_path, "train.keep_checkpoints=2")
    assert code == 0, output
    (run,) = (tmp_path / "tiny").iterdir()
    assert {p.name for p in run.iterdir()} >= set(SUBDIRS) | {"config.yaml"}
    assert f"run directory: {run}" in output and "val step" in output
    cfg = load_config(run / "config.yaml")
    assert cfg.data.stores == (str(eval_store),) and cfg.train.out_dir == str(tmp_path)
    recs = records(run)
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("train") == 8  # log_every 1, max_steps 8
    assert all(r["world_size"] == 1 for r in recs)
    train = [r for r in recs if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, 9))
    assert all(np.isfinite(r["loss"]) and r["lr"] > 0 and 0 <= r["data_wait"] < 1 for r in train)
    assert set(train[0]["terms"]) == {"rec", "rec_residual", "sky", "st_color", "st_alpha", "zero_flow"}
    vals = [r for r in recs if r["kind"] == "val"]
    assert [v["epoch"] for v in vals] == [1, 1]  # after epoch 0 (6 steps), and at the end (step 8)
    for v in vals:
        for n in ("n1", "n2"):
            assert set(v[n]) == {"model", "warp", "repeat"} and all(np.isfinite(v[n][m]["psnr"]) for m in v[n])
    model, mcfg, meta = load_model(run / "model" / "best.pt")
    assert mcfg == cfg.model and meta["step"] in (6, 8) and meta["val"]["n1"]["model"]["psnr"] > 0
    assert meta["train_resolution"] == {"frame": [48, 32], "crop": [32, 32]}  # eval_store scenes, tiny.yaml crop
    assert load_model(run / "model" / "last.pt")[2]["step"] == 8
    payload = torch.load(run / "checkpoint" / "checkpoint.pt", weights_only=True)
    assert payload["progress"]["step"] == 8 and payload["progress"]["world_size"] == 1
    assert read_checkpoint(run / "checkpoint" / "checkpoint.pt")["order"].dtype == torch.int64
    assert sorted(p.name for p in (run / "history_checkpoints").iterdir()) == [
        "checkpoint_000000006.pt", "checkpoint_000000008.pt"]  # bounded: the newest 2 of 0, 3, 6, 8


def test_the_change_loss_trains_and_is_logged_as_its_own_term(eval_store, tmp_path):
    """`loss.change` reaches the training loop: each step's log has a `change` term beside the others."""
    code, output = train_tiny(eval_store, tmp_path, "loss.change=0.5", "train.max_steps=2", "data.val_scenes=[]")
    assert code == 0, output
    (run,) = (tmp_path / "tiny").iterdir()
    train = [r for r in records(run) if r["kind"] == "train"]
    assert all("change" in r["terms"] and np.isfinite(r["loss"]) for r in train)
    assert any(r["terms"]["change"] > 0 for r in train)


@pytest.mark.slow
def test_diverging_loss_stops_with_a_clear_message(eval_store, tmp_path):
    code, output = train_tiny(eval_store, tmp_path, "train.lr=1e30", "train.lr_min=1e30", "train.grad_clip=0",
                              "train.checkpoint_every=1")
    assert code == 1, output
    line = output.strip().splitlines()[-1]
    assert line.startswith("error: training loss is ") and "stopped: the last good checkpoint is" in line
    (run,) = (tmp_path / "tiny").iterdir()
    payload = read_checkpoint(run / "checkpoint" / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in payload["state_dict"].values())  # usable


@pytest.mark.slow
def test_tensorboard_scalars_and_previews(eval_store, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    code, output = train_tiny(eval_store, tmp_path, "train.max_steps=3")
    assert code == 0, output
    (run,) = (tmp_path / "tiny").iterdir()
    events = EventAccumulator(str(run / "writer"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "train/psnr", "train/lr", "train/samples_per_s", "val/n1.model.psnr",
            "val/n2.warp.psnr", "val/n1.repeat.ssim"} <= set(scalars)
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    images = events.Tags()["images"]
    assert {"preview/translucency_n1", "preview/translucency_n2"} <= set(images)
    image = events.Images("preview/translucency_n1")[0]
    assert (image.width, image.height) == (3 * 48, 32)  # prediction | truth | warp at full frame
