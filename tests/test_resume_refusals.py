"""`lmv resume` refuses before training when the run cannot continue as it was (`lmv_cli.core.train.run`):
another number of processes than the run trained with (the message names the run and both counts), an
epoch override that no config accepts; the run's config.yaml stays as it was. `with_out_dir` gives a
config with another output folder and leaves the caller's alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lmv_cli.core.config import load_config
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.train import run as R


def _run_dir(tmp_path: Path, world_size: int) -> Path:
    """A run folder as `lmv train` leaves it, its checkpoint saying how many processes trained it."""
    run = tmp_path / "job" / "2024-01-01_00-00-00"
    (run / "checkpoint").mkdir(parents=True)
    cfg = load_config(None, ["train.device=cpu", "train.epochs=4", f"data.stores=[{tmp_path / 'none.zarr'}]"])
    (run / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    torch.save({"format": "lmv-checkpoint", "format_version": 1, "progress": {"step": 3, "world_size": world_size}},
               run / "checkpoint" / "checkpoint.pt")
    return run


@pytest.mark.parametrize("saved", [2, 3])
def test_resume_with_another_number_of_processes_is_refused(tmp_path, monkeypatch, saved):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)  # a plain `lmv resume`: one process
    run = _run_dir(tmp_path, saved)
    before = (run / "config.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{run}.*\b{saved} process.*\b1\b.*torchrun"):
        R.resume(run, epochs=9)
    assert (run / "config.yaml").read_text(encoding="utf-8") == before
    assert not torch.distributed.is_initialized()


def test_resume_with_zero_epochs_is_refused_naming_the_key(tmp_path):
    run = _run_dir(tmp_path, 1)
    before = (run / "config.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        R.resume(run, epochs=0)
    assert (run / "config.yaml").read_text(encoding="utf-8") == before


def test_with_out_dir_changes_only_the_output_folder():
    cfg = load_config(None, ["train.seed=11"])
    assert R.with_out_dir(cfg, None) == cfg
    new = R.with_out_dir(cfg, Path("x/y"))
    assert Path(new.train.out_dir) == Path("x/y") and new.train.seed == 11
    assert cfg.train.out_dir == "runs"
    assert load_config(None, ["train.seed=11", "train.out_dir=x/y"]) == new
