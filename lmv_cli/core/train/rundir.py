"""Run directories: `<out>/<job_name>/<YYYY-MM-DD_HH-MM-SS>/{log,model,writer,checkpoint,history_checkpoints}`
plus the resolved `config.yaml` (docs/training.md#running).

A folder is a run when it holds `config.yaml` and `checkpoint/`; a job directory is a folder of runs,
and its newest run is the one whose name sorts last (names are timestamps).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from lmv_cli.core.config import Config
from lmv_cli.core.errors import LmvError

SUBDIRS = ("log", "model", "writer", "checkpoint", "history_checkpoints")
CONFIG_NAME = "config.yaml"
LOG_NAME = "train.jsonl"
CHECKPOINT_NAME = "checkpoint.pt"


class RunDirError(LmvError):
    """A run directory cannot be created, or a folder is not a run."""


@dataclass(frozen=True)
class RunDir:
    """The paths of one run."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def log(self) -> Path:
        return self.path / "log" / LOG_NAME

    @property
    def writer(self) -> Path:
        return self.path / "writer"

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint" / CHECKPOINT_NAME

    @property
    def history(self) -> Path:
        return self.path / "history_checkpoints"


def create_run(cfg: Config) -> RunDir:
    """Create a fresh run directory under `train.out_dir/train.job_name/` and write `config.yaml`.

    The name is the UTC start time; a second run started within the same second gets a `_2` suffix.
    An out dir that cannot be created or written is a `RunDirError` naming it.
    """
    job = Path(cfg.train.out_dir) / cfg.train.job_name
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime())
    try:
        job.mkdir(parents=True, exist_ok=True)
        if not os.access(job, os.W_OK):
            raise PermissionError(13, "Permission denied")
        path = job / stamp
        suffix = 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                suffix += 1
                path = job / f"{stamp}_{suffix}"
        for sub in SUBDIRS:
            (path / sub).mkdir()
        (path / CONFIG_NAME).write_text(cfg.to_yaml(), encoding="utf-8")
    except OSError as e:
        raise RunDirError(f"cannot create a run directory there: {e.strerror or e}", path=job) from None
    return RunDir(path)


def is_run(path: Path) -> bool:
    """Whether `path` looks like a run directory."""
    return (path / CONFIG_NAME).is_file() and (path / "checkpoint").is_dir()


def find_run(path: str | Path) -> RunDir:
    """A run directory, or a job directory → its newest run; `RunDirError` for anything else."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError("no such run directory" if not path.exists() else "is a file, not a run directory", path=path)
    if is_run(path):
        return RunDir(path)
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_run(p))
    if runs:
        return RunDir(runs[-1])
    raise RunDirError(f"not a run directory (no {CONFIG_NAME} and checkpoint/) nor a job directory holding runs",
                      path=path)
