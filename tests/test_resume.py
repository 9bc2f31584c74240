"""`lmv resume` with real processes: kill -9 after a checkpoint, resume, and the weights are bit-identical
to an uninterrupted run (CPU); Ctrl-C saves and exits 130; extension with --steps; bad folders and
checkpoints of another architecture are one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
PLANNED = ["train.max_steps=12", "train.epochs=3", "train.checkpoint_every=3"]


def lmv_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "lmv_cli", *args]


def train_args(store: Path, out: Path, *sets: str) -> list[str]:
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{store}]", "--set", "data.val_scenes=[translucency]",
            "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return lmv_args(*args)


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def only_run(out: Path) -> Path:
    (path,) = (out / "tiny").iterdir()
    return path


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"training ended before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.02)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoint" / "checkpoint.pt", weights_only=True)["state_dict"]


def losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "log" / "train.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"}


@pytest.mark.slow
def test_kill_9_then_resume_is_bit_identical(eval_store, tmp_path):
    straight = run(train_args(eval_store, tmp_path / "a", *PLANNED))
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen(train_args(eval_store, tmp_path / "b", *PLANNED), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed_dir = None
    while killed_dir is None:  # the run directory appears first, then its step-3 checkpoint
        job = tmp_path / "b" / "tiny"
        killed_dir = next(job.iterdir(), None) if job.exists() else None
        time.sleep(0.02)
    wait_for(killed_dir / "history_checkpoints" / "checkpoint_000000003.pt", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = torch.load(killed_dir / "checkpoint" / "checkpoint.pt", weights_only=True)["progress"]["step"]
    assert 3 <= interrupted < 12
    resumed = run(lmv_args("resume", str(tmp_path / "b" / "tiny")))  # a job directory: its newest run
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(only_run(tmp_path / "a")), weights(killed_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    la, lb = losses(only_run(tmp_path / "a")), losses(killed_dir)
    assert all(la[s] == lb[s] for s in la if s > interrupted) and max(lb) == 12


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_130(eval_store, tmp_path):
    proc = subprocess.Popen(train_args(eval_store, tmp_path, *PLANNED, "train.max_steps=60", "train.epochs=20"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = tmp_path / "tiny"
    while not job.exists() or not any(job.iterdir()):
        time.sleep(0.02)
    run_dir = only_run(tmp_path)
    wait_for(run_dir / "history_checkpoints" / "checkpoint_000000003.pt", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    last = [json.loads(x) for x in (run_dir / "log" / "train.jsonl").read_text().splitlines()][-1]
    assert last["kind"] == "checkpoint" and last["reason"] == "interrupted"
    payload = torch.load(run_dir / "checkpoint" / "checkpoint.pt", weights_only=True)
    assert payload["progress"]["step"] == last["step"] >= 3


@pytest.mark.slow
def test_steps_extend_a_finished_run(eval_store, tmp_path):
    assert run(train_args(eval_store, tmp_path)).returncode == 0
    run_dir = only_run(tmp_path)
    again = run(lmv_args("resume", str(run_dir)))
    assert again.returncode == 0 and "already finished at step 8" in again.stdout
    longer = run(lmv_args("resume", str(run_dir), "--steps", "10"))
    assert longer.returncode == 0, longer.stderr
    assert max(losses(run_dir)) == 10 and "max_steps: 10" in (run_dir / "config.yaml").read_text()


def test_resume_on_a_folder_that_is_not_a_run(tmp_path):
    for target, message in ((tmp_path, "not a run directory"), (tmp_path / "nope", "no such run directory")):
        result = CliRunner().invoke(app, ["resume", str(target)])
        assert result.exit_code == 1 and message in result.stderr and str(target) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.mark.slow
def test_checkpoint_of_another_architecture_is_refused(eval_store, tmp_path):
    assert run(train_args(eval_store, tmp_path, "train.max_steps=3")).returncode == 0
    run_dir = only_run(tmp_path)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("preset: fsnet", "preset: fsnet_small"))
    result = run(lmv_args("resume", str(run_dir), "--steps", "6"))
    assert result.returncode == 1, result.stderr
    assert "checkpoint is of another architecture: model.preset 'fsnet' (config.yaml: 'fsnet_small')" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
