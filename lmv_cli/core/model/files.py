"""lmv model files: one trained (or imported) network with the options that define its function.

A model file is a plain dict of tensors and plain values, written atomically and read with
`torch.load(weights_only=True)`, so loading one never runs code from the file:

    format          "lmv-model"
    format_version  MODEL_FORMAT_VERSION
    lmv_version     the lmv that wrote it
    model           the `ModelConfig` as a dict (preset and every result-changing option)
    state_dict      parameter name -> tensor (float32, or float16 for small shipped files)
    meta            free-form plain data: where it came from, step, validation figures, and
                    "train_resolution": {"frame": [W, H], "crop": [w, h] or null}, the pixel density
                    the network was trained at (`downscale: auto` runs it at that density)

Files written before `model.flow_unit` / `model.downscale` existed lack those keys and load with the
values they meant (`config.LEGACY_MODEL_OPTIONS`: NDC flows, the preset's fixed factor).

`resolve_model(spec)` turns what a user types as MODEL (a model file, a run directory, a job directory,
or `bundled`) into a model file path; `load_model` checks and builds it.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lmv_cli import __version__
from lmv_cli.core.config import ModelConfig, model_config_from_dict, with_legacy_defaults
from lmv_cli.core.errors import CheckpointError, ConfigError
from lmv_cli.core.model.build import build_model

MODEL_FORMAT = "lmv-model"
MODEL_FORMAT_VERSION = 1
BUNDLED = "bundled"
"""The MODEL name of the network shipped inside the package."""
BUNDLED_PATH = Path(__file__).resolve().parent.parent.parent / "assets" / "bundled_model.pt"
BEST, LAST = "best.pt", "last.pt"
"""Model files of a run directory, under `model/`."""


def save_model(
    path: str | Path, model: torch.nn.Module, cfg: ModelConfig, meta: dict[str, Any] | None = None, *, half: bool = False
) -> Path:
    """Write `model` (its state dict) with its configuration to `path`, atomically (temp file + rename).

    `half` stores float16 tensors (half the size; loaded back as float32). `meta` must hold plain data
    (numbers, strings, lists, dicts) so the file stays loadable with `weights_only=True`.
    """
    state = {k: (v.detach().to("cpu", torch.float16 if half else v.dtype)) for k, v in model.state_dict().items()}
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "lmv_version": __version__,
        "model": asdict(cfg),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    return atomic_torch_save(payload, Path(path))


def atomic_torch_save(payload: Any, path: Path) -> Path:
    """`torch.save` to a temporary file beside `path`, fsync, then rename over `path` (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a model file is ordinary data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


TORCH_MAGICS = (b"PK\x03\x04", b"\x80")
"""How a `torch.save` file starts: a zip archive (torch >= 1.6), or a pickle (the legacy format)."""


def sniff_torch_file(path: Path) -> str | None:
    """Why the file at `path` cannot be a `torch.save` file, in lmv's words, or None when it may be one
    (or cannot be opened: the caller's load reports that)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if not head:
        return "it is empty"
    if head.startswith(TORCH_MAGICS):
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\0" not in text:
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"it is text, starting {first!r}" if first else "it is text (blank)"
    return "not a torch.save archive"


def _load_reason(path: Path, error: Exception) -> str:
    """What went wrong when `torch.load` failed, without PyTorch's advice (never re-run it with
    `weights_only=False` on an untrusted file) and without bare numbers (a `KeyError` of a record id)."""
    sniffed = sniff_torch_file(path)
    if sniffed is not None:
        return sniffed
    text = str(error).strip()
    needs_code = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if needs_code:
        return f"loading it would run code from the file ({needs_code.group(1)}); refused"
    if "Weights only load failed" in text:
        return "a damaged or foreign pickle: it holds more than tensors and plain containers"
    if _starts_with(path, TORCH_MAGICS[0]):
        return f"a damaged zip archive, or one that torch.save did not write ({type(error).__name__})"
    first = text.splitlines()[0] if text else ""
    if not first:
        return type(error).__name__
    if first.strip("'\" ").isdigit():
        return f"damaged torch.save archive ({type(error).__name__})"
    return first


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def safe_torch_load(path: Path, message: str) -> Any:
    """`torch.load(weights_only=True)` on CPU; any failure (foreign, corrupt or code-carrying file) is a
    `CheckpointError` of `message` with lmv's reason (`_load_reason`) in place of `{}`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for foreign or corrupt files
        raise CheckpointError(message.format(_load_reason(Path(path), e)), path=path) from None


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Load and check a model file's dict (format, version, config, state dict); `CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such model file" if not path.exists() else "is not a file", path=path)
    sniffed = sniff_torch_file(path)
    if sniffed is not None and sniffed.startswith("it is"):
        raise CheckpointError(f"not a model file: {sniffed}", path=path)
    if sniffed is not None:
        raise CheckpointError(f"not a PyTorch model file ({sniffed})", path=path)
    payload = safe_torch_load(path, "not an lmv model file (cannot be read safely: {})")
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        hint = ""
        if isinstance(payload, dict) and ("net" in payload or "state_dict" in payload or _looks_like_state_dict(payload)):
            hint = "; a checkpoint of the original FSNet code? convert it with `lmv import-checkpoint`"
        elif isinstance(payload, dict) and payload.get("format") == "lmv-checkpoint":
            hint = "; this is a training checkpoint: pass its run directory instead"
        raise CheckpointError(f"not an lmv model file (no '{MODEL_FORMAT}' header){hint}", path=path)
    version = payload.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise CheckpointError(f"model file format version {version}, this lmv reads {MODEL_FORMAT_VERSION}", path=path)
    if not isinstance(payload.get("state_dict"), dict) or not isinstance(payload.get("model"), dict):
        raise CheckpointError("model file lacks its 'model' configuration or 'state_dict'", path=path)
    return payload


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, ModelConfig, dict]:
    """Build the network a model file describes and load its weights (float32, eval mode).

    Returns (model, its ModelConfig, meta). A wrong architecture, a missing or unexpected key or a
    wrong shape is a one-line `CheckpointError` naming the first offending key.
    """
    path = Path(path)
    payload = read_model_file(path)
    meta = dict(payload.get("meta") or {})
    try:
        cfg = model_config_from_dict(with_legacy_defaults(payload["model"]))
        model = build_model(cfg, meta.get("train_resolution"))
    except ConfigError as e:
        raise CheckpointError(f"model configuration: {e.message}", path=path) from None
    load_state_dict_strict(model, payload["state_dict"], path)
    return model.to(device).eval(), cfg, meta


def load_state_dict_strict(model: torch.nn.Module, state: dict[str, Any], path: str | Path | None = None) -> None:
    """Load `state` into `model` in float32; `CheckpointError` naming the first missing, unexpected or
    wrongly shaped key (the message says which architecture the file seems to be for)."""
    own = model.state_dict()
    for key in own:
        if key not in state:
            raise CheckpointError(f"weights lack key '{key}' (another architecture or preset?)", path=path)
    for key, value in state.items():
        if key not in own:
            raise CheckpointError(f"unexpected key '{key}' in the weights (another architecture or preset?)", path=path)
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"key '{key}' is not a tensor", path=path)
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"key '{key}' has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}", path=path
            )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def resolve_model(spec: str | Path) -> Path:
    """What a user names as MODEL → a model file.

    `bundled`: the network shipped with lmv; a run directory: its `model/best.pt` (else `last.pt`); a job
    directory: the newest run in it (run folders are timestamps, so the newest sorts last); else a file.
    """
    if str(spec) == BUNDLED:
        if not BUNDLED_PATH.is_file():
            raise CheckpointError("no model is bundled with this lmv installation; name a model file with `model`",
                                  option="model", value=spec)
        return BUNDLED_PATH
    path = Path(spec)
    if not path.exists():
        raise CheckpointError("no such model file or run directory", path=path)
    if path.is_file():
        return path
    found = _run_model(path)
    if found is not None:
        return found
    runs = sorted(p for p in path.iterdir() if p.is_dir() and _run_model(p) is not None)
    if runs:
        return _run_model(runs[-1])  # type: ignore[return-value]
    raise CheckpointError(
        "is a folder but neither a run directory (with model/best.pt) nor a job directory holding runs", path=path
    )


def _run_model(run: Path) -> Path | None:
    for name in (BEST, LAST):
        if (run / "model" / name).is_file():
            return run / "model" / name
    return None


def _looks_like_state_dict(payload: dict) -> bool:
    return bool(payload) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items())
