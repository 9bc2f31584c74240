"""Training checkpoints: state dicts and plain values only, written atomically, read with `weights_only=True`.

    format          "lmv-checkpoint"
    format_version  CHECKPOINT_FORMAT_VERSION
    model           ModelConfig as a dict
    state_dict      network weights
    optimizer       AdamW state dict
    schedule        {"total_steps": int}: the cosine schedule's length (the LR is a function of the step)
    progress        {"step", "epoch", "batch", "world_size", "best_psnr", "best_step"}: the next batch of
                    `epoch` to train is `batch`
    order           the epoch's window permutation (int64 tensor): the data order
    rng             torch CPU (and CUDA) generator states, numpy's and Python's global states

The loop derives its own randomness from the seed and the position (see `data.batches`), so these RNG
states are belt and braces: restoring them makes any other code that draws random numbers resume too.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmv_cli.core.config import ModelConfig, with_legacy_defaults
from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.files import atomic_torch_save, load_state_dict_strict, safe_torch_load

CHECKPOINT_FORMAT = "lmv-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """Every global RNG state as tensors and plain values (loadable with `weights_only=True`)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached": cached},
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    cfg: ModelConfig,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    total_steps: int,
    order: torch.Tensor,
) -> Path:
    """Write a checkpoint atomically (temp file + rename) to `path`."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": asdict(cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "schedule": {"total_steps": int(total_steps)},
        "progress": dict(progress),
        "order": order.cpu(),
        "rng": rng_state(),
    }
    return atomic_torch_save(payload, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; `CheckpointError` for a missing, foreign or corrupt file."""
    if not path.is_file():
        raise CheckpointError("no checkpoint in this run yet (it stopped before the first one was written)", path=path)
    payload = safe_torch_load(path, "not a readable lmv checkpoint ({})")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not an lmv checkpoint (no '{CHECKPOINT_FORMAT}' header)", path=path)
    if payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {payload.get('format_version')}, this lmv reads "
                              f"{CHECKPOINT_FORMAT_VERSION}", path=path)
    return payload


def restore(
    payload: dict[str, Any], path: Path, model: torch.nn.Module, cfg: ModelConfig, optimizer: torch.optim.Optimizer
) -> None:
    """Load weights (strictly: another architecture is a `CheckpointError` naming the first bad key),
    optimizer state and RNG states from a checkpoint payload."""
    saved, wanted = with_legacy_defaults(payload.get("model") or {}), asdict(cfg)
    differ = [k for k in wanted if saved.get(k) != wanted[k]]
    if differ:
        pairs = ", ".join(f"model.{k} {saved.get(k)!r} (config.yaml: {wanted[k]!r})" for k in differ)
        raise CheckpointError(f"checkpoint is of another architecture: {pairs}", path=path)
    load_state_dict_strict(model, payload["state_dict"], path)
    try:
        optimizer.load_state_dict(payload["optimizer"])
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimizer state does not match the model: {e}", path=path) from None
    set_rng_state(payload["rng"])


def keep_history(path: Path, history: Path, step: int, keep: int) -> None:
    """Copy the checkpoint into `history/checkpoint_<step>.pt` (hard link when possible) and delete all
    but the newest `keep` there."""
    history.mkdir(parents=True, exist_ok=True)
    target = history / f"checkpoint_{step:09d}.pt"
    target.unlink(missing_ok=True)
    try:
        target.hardlink_to(path)
    except OSError:
        shutil.copyfile(path, target)
    for old in sorted(history.glob("checkpoint_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
