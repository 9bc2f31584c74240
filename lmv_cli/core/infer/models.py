"""Models and stores for inference: MODEL specs resolved and loaded safely, checked against the store
before any work; devices and precisions chosen; scenes selected (docs/evaluation.md#rendered-and-predicted-frames)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lmv_cli.core.errors import InputError
from lmv_cli.core.evaluate import BASELINES, check_model_store
from lmv_cli.core.model.files import load_model, resolve_model

@dataclass
class LoadedModel:
    """A network ready for inference, the name it is reported under and the file it came from."""

    name: str
    model: torch.nn.Module
    path: Path


def pick_device(device: str | None) -> torch.device:
    """`None`/"auto": CUDA when available, else CPU; otherwise the device named (checked to exist)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r} (use cpu, cuda, cuda:N or auto)") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but CUDA is not available here (use --device cpu)")
    return chosen


def load_models(
    specs: Sequence[str | Path], store, device: torch.device, precision: str = "auto", backend: str = "auto"
) -> list[LoadedModel]:
    """Resolve and load every MODEL (file, run dir, job dir, `bundled`), check each against `store`, wrap
    it in the predictor of the chosen precision and backend (`infer.backends.prepare`: `auto` is the
    fastest measured path that keeps accuracy on this machine), and name it for reports: its file stem,
    or its run/job folder name (made unique with #k)."""
    from lmv_cli.core.infer.backends import prepare

    loaded: list[LoadedModel] = []
    for spec in specs:
        path = resolve_model(spec)
        model, _, meta = load_model(path, device)
        check_model_store(model, meta, store, path)
        predictor = prepare(model, precision, backend, device)
        loaded.append(LoadedModel(_name(spec, path, [m.name for m in loaded]), predictor, path))
    return loaded


def _name(spec: str | Path, path: Path, taken: list[str]) -> str:
    given = Path(spec)
    base = "bundled" if str(spec) == "bundled" else path.stem if given.is_file() else given.resolve().name
    if base in BASELINES:
        base = f"model:{base}"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}#{k}", k + 1
    return name


def select_scenes(store, names: Sequence[str] | None) -> list:
    """The store's scenes named (all when none); a missing one is a `StoreError` listing those that exist."""
    return [store.scene(name) for name in dict.fromkeys(names or store.scenes)]
