"""Models and stores for inference: MODEL specs resolved and loaded safely, checked against the store
before any work; precisions chosen; scenes selected (docs/evaluation.md#rendered-and-predicted-frames)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lmv_cli.core.compat import check_model_store
from lmv_cli.core.errors import LmvWarning
from lmv_cli.core.evaluate import BASELINES
from lmv_cli.core.infer.backends import prepare
from lmv_cli.core.model.files import load_model, resolve_model

RESOLUTION_RATIO = 2.0
"""A store whose frames differ from the model's training frames by more than this (in W or H) is warned about."""


@dataclass
class LoadedModel:
    """A network ready for inference, the name it is reported under and the file it came from."""

    name: str
    model: torch.nn.Module
    path: Path


def load_models(
    specs: Sequence[str | Path], store, device: torch.device, precision: str = "auto", backend: str = "auto"
) -> list[LoadedModel]:
    """Resolve and load every MODEL (file, run dir, job dir, `bundled`), check each against `store`, wrap
    it in the predictor of the chosen precision and backend (`infer.backends.prepare`: `auto` is the
    fastest measured path that keeps accuracy on this machine), and name it for reports (`_name`, made
    unique with #k). A store at another resolution than the model's training frames (more than 2× in W
    or H) gives an `LmvWarning` naming both sizes, unless the model adapts (`adapts_to_resolution`)."""
    loaded: list[LoadedModel] = []
    for spec in specs:
        path = resolve_model(spec)
        model, _, meta = load_model(path, device)
        check_model_store(model, meta, store, path)
        note = None if adapts_to_resolution(model) else resolution_note(meta, store)
        if note is not None:
            warnings.warn(f"{path}: {note}", LmvWarning, stacklevel=2)
        predictor = prepare(model, precision, backend, device)
        loaded.append(LoadedModel(_name(spec, path, meta, [m.name for m in loaded]), predictor, path))
    return loaded


def adapts_to_resolution(model: torch.nn.Module) -> bool:
    """Whether the network runs at its trained pixel density at any input size (`downscale: auto` with a
    recorded training resolution and flows in pixels of its grid, docs/model.md#flow-units-and-working-resolution):
    such a model needs no resolution warning."""
    return getattr(model, "flow_unit", "ndc") == "pixels" and getattr(model, "working_height", None) is not None


def trained_frame_size(meta: Mapping) -> tuple[int, int] | None:
    """(W, H) of the frames a model was trained on, from `meta["train_resolution"]` ([W, H], or
    {"frame": [W, H], "crop": [w, h]}); None when absent or not in either form (older model files)."""
    record = meta.get("train_resolution")
    if isinstance(record, Mapping):
        record = record.get("frame")
    if isinstance(record, (list, tuple)) and len(record) == 2 and all(isinstance(v, int) and v > 0 for v in record):
        return int(record[0]), int(record[1])
    return None


def resolution_note(meta: Mapping, store) -> str | None:
    """Why the model may not suit `store`'s frames: trained at W×H, the store's frames (the first scene
    that differs) more than `RESOLUTION_RATIO` times larger or smaller in W or H; None otherwise."""
    trained = trained_frame_size(meta)
    if trained is None:
        return None
    for scene in store:
        size = (scene.width, scene.height)
        ratio = max(max(a / b, b / a) for a, b in zip(size, trained, strict=True))
        if ratio > RESOLUTION_RATIO:
            crop = meta["train_resolution"].get("crop") if isinstance(meta["train_resolution"], Mapping) else None
            crops = f" (crops of {crop[0]}x{crop[1]})" if isinstance(crop, (list, tuple)) and len(crop) == 2 else ""
            return (f"trained on {trained[0]}x{trained[1]} frames{crops}, but scene {scene.name} of store "
                    f"{store.path} is {size[0]}x{size[1]} ({ratio:.1f}x apart): expect worse predictions than "
                    "at the training resolution")
    return None


def _name(spec: str | Path, path: Path, meta: Mapping, taken: list[str]) -> str:
    """`bundled`; for a model of a training run (its meta names the run and step) `<job>@<step>`, e.g.
    `fsnet_lite@1728`; else the file stem or the folder name."""
    given = Path(spec)
    run, step = meta.get("run"), meta.get("step")
    if str(spec) == "bundled":
        base = "bundled"
    elif isinstance(run, str) and run and isinstance(step, int):
        base = f"{Path(run).parent.name or Path(run).name}@{step}"
    else:
        base = path.stem if given.is_file() else given.resolve().name
    if base in BASELINES:
        base = f"model:{base}"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}#{k}", k + 1
    return name


def select_scenes(store, names: Sequence[str] | None) -> list:
    """The store's scenes named (all when none); a missing one is a `StoreError` listing those that exist."""
    return [store.scene(name) for name in dict.fromkeys(names or store.scenes)]
