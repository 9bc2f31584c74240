"""`torchrun --nproc_per_node=2 --no-python lmv train …` on CPU (Gloo), real processes: both ranks train on
different windows, rank 0 alone writes one run directory, the log says world_size 2; resume needs the
same world size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TINY_YAML = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")
BIN = Path(sys.executable).parent


def torchrun(*args: str) -> list[str]:
    return [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python", str(BIN / "lmv"), *args]


@pytest.mark.slow
def test_two_cpu_ranks_train_distinct_windows_and_only_rank_0_writes(eval_store, tmp_path):
    out = tmp_path / "runs"
    args = ["train", "-c", TINY_YAML, "--set", f"data.stores=[{eval_store}]", "--set", "data.val_scenes=[translucency]",
            "--set", "data.window_stride=1", "--set", "train.batch_size=1", "--set", "train.max_steps=6",
            "--out", str(out)]
    result = subprocess.run(torchrun(*args), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = (out / "tiny").iterdir()  # one run directory: rank 0 made it, rank 1 learned its name
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["config.yaml", "log", "model", "writer", "checkpoint", "history_checkpoints"])
    records = [json.loads(x) for x in (run / "log" / "train.jsonl").read_text().splitlines()]
    assert records and all(r["world_size"] == 2 for r in records)
    assert [r["kind"] for r in records].count("start") == 1  # no second writer
    train = [r for r in records if r["kind"] == "train"]
    seen = [set(), set()]
    for r in train:
        for rank, windows in enumerate(r["windows_by_rank"]):
            seen[rank] |= set(windows)
    assert seen[0] and seen[1] and not seen[0] & seen[1], seen
    assert result.stdout.count("run directory:") == 1  # rank 1 reports nothing

    single = subprocess.run([str(BIN / "lmv"), "resume", str(run), "--steps", "9"], capture_output=True, text=True,
                            timeout=600)
    assert single.returncode == 1 and "trained with 2 process(es), this resume has 1" in single.stderr
