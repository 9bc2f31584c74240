"""Typed run configuration: frozen dataclasses loaded from YAML (docs/training.md#configuration).

`load_config(path, overrides)` reads a file with `yaml.safe_load`, checks every key and type against
the dataclasses below (unknown keys and type mismatches are `ConfigError`s naming the dotted key),
applies `section.key=value` overrides through the same checks, then runs `Config.validate()` for the
rules that span fields. Defaults are the released FSNet recipe; `Config.to_yaml()` writes the resolved
configuration into a run directory so that `load_config` reproduces it exactly.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lmv_cli.core.errors import ConfigError

HISTORY_SLOTS = 3
"""History frames t−1, t−2, t−3 of the FSNet architecture (docs/model.md#network-inputs)."""


@dataclass(frozen=True)
class ModelConfig:
    """Which network to build: a preset of `lmv_cli.core.model.fsnet.PRESETS` plus result-changing options."""

    preset: str = "fsnet"
    mv_gather: Literal["nearest", "bilinear"] = "nearest"  # rendered-MV gather at p − smv0 (docs/model.md#learnable-motion-vectors)
    clamp: Literal["per_sample", "batch"] = "per_sample"  # residual clamp by max(base): per sample fixes the original
    warp: Literal["exact", "original"] = "exact"  # exact: d moves d·W/2 px; original: the released grid, d·(W−1)/2
    compat: Literal["none", "original"] = "none"  # original: sets mv_gather, clamp, warp to the released network's
    init: Literal["warp", "random"] = "warp"  # warp: untrained net = rendered-MV warp; random: PyTorch default only
    # true: residual on the BRDF-demodulated light, re-modulated by the current BRDF colour (released); false:
    # residual on the colour; learned: both, blended per pixel by a learned weight (docs/model.md#forward-pass)
    demodulate: bool | Literal["learned"] = True
    # pixels: learned flows count pixels of the network's grid, the same function on a crop and a full frame;
    # ndc: NDC of the network's input (released; a crop's flows mean other pixel sizes on the full frame)
    flow_unit: Literal["pixels", "ndc"] = "pixels"
    # auto: the preset's factor while training, then at run time the factor that brings the input closest to
    # the pixel density the model was trained at (model file meta "train_resolution"); preset: the preset's
    # fixed factor (model files written before this option); or a fixed integer factor >= 1
    downscale: int | Literal["auto", "preset"] = "auto"

    def __post_init__(self) -> None:
        if self.compat == "original":  # the one switch for the released behaviour; it wins over the three options
            for key, value in ORIGINAL_MODEL_OPTIONS.items():
                object.__setattr__(self, key, value)


ORIGINAL_MODEL_OPTIONS = {
    "mv_gather": "nearest", "clamp": "batch", "warp": "original", "demodulate": True, "flow_unit": "ndc", "downscale": 1,
}
"""The result-changing options under which the `fsnet` preset computes the released network's function."""

LEGACY_MODEL_OPTIONS = {"flow_unit": "ndc", "downscale": "preset"}
"""What model files and checkpoints written before these options existed meant (keys they lack)."""


RENAMED_KEYS = {"data.flips": "data.mirror"}
"""Config keys under their old names (dotted) → their new names; the old names are still read."""


def with_legacy_defaults(model: dict[str, Any]) -> dict[str, Any]:
    """A stored `ModelConfig` dict with `LEGACY_MODEL_OPTIONS` for the keys it lacks: an old file keeps
    its function (NDC flows, the preset's fixed downscale) although new configs default otherwise."""
    return {**LEGACY_MODEL_OPTIONS, **model}


@dataclass(frozen=True)
class DataConfig:
    """Where training samples come from and how they are cut (docs/training.md#what-one-step-is)."""

    stores: tuple[str, ...] = ()  # Zarr stores written by `lmv pack`
    train_scenes: tuple[str, ...] = ()  # empty: every scene not in val_scenes
    val_scenes: tuple[str, ...] = ()  # validation split by scene; best model is chosen on these
    sequence_length: int = 8  # predicted frames per training sequence, one optimizer step each (docs/training.md#what-one-step-is)
    crop: tuple[int, int] | None = (256, 256)  # (H, W) random crop in px; null = full frames (the original)
    mirror: bool = True  # per-sequence random H/V mirroring that also negates MV components (docs/training.md#augmentation)
    history_probs: tuple[float, ...] = (0.0, 1.0, 0.0)  # P(slot k predicted), k = 0 ↔ t−1 (docs/training.md#what-one-step-is)
    random_pattern_prob: float = 0.0  # P(a sequence draws each slot rendered/predicted with p = 0.5 instead)
    workers: int = 2  # data-loader processes; does not change results
    window_stride: int | None = None  # frames between training windows of a scene; null = sequence_length
    val_frames: int | None = None  # validate on the first val_frames frames of each val scene; null = all


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping (docs/training.md)."""

    epochs: int = 150
    max_steps: int | None = None  # stop after this many optimizer steps (smoke runs); null = all epochs
    batch_size: int = 6
    lr: float = 2.0e-4  # cosine schedule from lr down to lr_min over all steps
    lr_min: float = 2.0e-5
    weight_decay: float = 1.0e-4  # AdamW
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 2024
    checkpoint_every: int = 1000  # optimizer steps between checkpoints
    val_every: int = 1  # epochs between validations
    log_every: int = 10  # optimizer steps between log lines (JSONL, TensorBoard, progress)
    keep_checkpoints: int = 5  # checkpoints kept in history_checkpoints/ (the newest)
    grad_clip: float = 1.0  # clip the global gradient norm to this; 0 = no clipping
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of forward and loss (CUDA, or CPU)
    device: str = "auto"  # auto: CUDA (this rank's LOCAL_RANK GPU) if available, else CPU; or cpu, cuda, cuda:1
    threads: int | None = None  # torch CPU threads per process; null = torch's default
    # fine-tuning: a new run starts from the weights of this model (a model file, a run directory or
    # "bundled") instead of model.init; its model options must equal this config's (docs/training.md)
    init_from: str | None = None
    job_name: str = "fsnet"
    out_dir: str = "runs"  # run directory: <out_dir>/<job_name>/<timestamp>/


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms of docs/training.md#losses."""

    rec: float = 1.0
    rec_residual: float = 1.0
    sky: float = 1.0
    st_color: float = 1.0
    st_alpha: float = 1.0
    zero_flow_ratio: float = 0.1
    # lmv: L1 of gl(final colour) over the pixels frame t−1 reprojected does not explain (disoccluded or
    # shading change, `regions.unexplained`), averaged over those pixels; 0 = the released loss
    change: float = 0.0


@dataclass(frozen=True)
class Config:
    """The whole run configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def validate(self) -> None:
        """Check the rules that span fields; raise one `ConfigError` listing every violation."""
        problems = _model_problems(self.model) + _data_problems(self.data) + _train_problems(self.train)
        problems += _loss_problems(self.loss)
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the form `to_yaml` writes."""
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        """The resolved configuration as YAML; `load_config` of this text gives an equal `Config`."""
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


class _Dumper(yaml.SafeDumper):
    """Sections in block style, lists on one line (`crop: [256, 256]`)."""


_Dumper.add_representer(
    list, lambda dumper, v: dumper.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (None: the defaults), apply `section.key=value` overrides, validate.

    Override values are parsed as YAML scalars or flow collections (`train.lr=1e-4`,
    `data.crop=[64,64]`, `data.crop=null`). Every problem is a `ConfigError` naming the file or the
    override and the dotted key.
    """
    raw = _read_yaml(Path(path)) if path is not None else {}
    where = str(path) if path is not None else "defaults"
    cfg = _wrap(lambda: _from_mapping(Config, raw, ""), where)
    for item in overrides:
        cfg = _wrap(lambda: _apply_override(cfg, item), f"`override` {item}")
    _wrap(cfg.validate, where + (f" with `override` {', '.join(overrides)}" if overrides else ""))
    return cfg


def model_config_from_dict(data: Any) -> ModelConfig:
    """A `ModelConfig` from its dict form (as model files store it), checked like a config file's
    `model:` section (unknown keys and wrong types are `ConfigError`s naming the key)."""
    return _from_mapping(ModelConfig, data, "model.")


def _wrap(build, where: str):
    try:
        return build()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e.message}", option=e.option, value=e.value) from None


def _read_yaml(path: Path) -> dict:
    if path.is_dir():
        raise ConfigError("is a folder, not a config file", path=path)
    if not path.is_file():
        raise ConfigError("config file not found", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not a UTF-8 text file (byte {e.start})", path=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read the config file: {e.strerror or e}", path=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {' '.join(str(e).split())}", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"top level must be a mapping of sections, got {type(data).__name__}", path=path)
    return data


def _apply_override(cfg: Config, item: str) -> Config:
    key, sep, text = item.partition("=")
    key = RENAMED_KEYS.get(key.strip(), key.strip())
    if not sep or not key:
        raise ConfigError("override must look like section.key=value", option="override", value=item)
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"value is not valid YAML: {' '.join(str(e).split())}", option=key, value=text) from None
    tree = cfg.to_dict()
    parts = key.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            dotted = ".".join(parts[: i + 1])
            if child is None:
                raise ConfigError(f"unknown key '{dotted}' (valid keys: {', '.join(node)})", option=dotted, value=value)
            raise ConfigError(f"'{dotted}' is a value, not a section", option=dotted, value=value)
        node = child
    node[parts[-1]] = value
    return _from_mapping(Config, tree, "")


def _from_mapping(cls, data: Any, prefix: str):
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types by dotted name."""
    name = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"'{name}' must be a mapping, got {type(data).__name__}")
    data = _renamed(data, prefix)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in hints:
            raise ConfigError(f"unknown key '{prefix}{key}' (valid keys under {name}: {', '.join(names)})",
                              option=f"{prefix}{key}", value=data[key])
    return cls(**{key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()})


def _renamed(data: dict, prefix: str) -> dict:
    """`data` with keys of `RENAMED_KEYS` under their new names (old configs and run directories keep
    loading); a `ConfigError` when a mapping gives both the old and the new name."""
    out = dict(data)
    for old, new in RENAMED_KEYS.items():
        section, _, key = old.rpartition(".")
        if f"{section}." != prefix or key not in out:
            continue
        new_key = new.rpartition(".")[2]
        if new_key in out:
            raise ConfigError(f"'{old}' is the old name of '{new}': give only '{new}'")
        out[new_key] = out.pop(key)
    return out


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against type `hint`; ints pass for floats, lists for tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _from_mapping(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key) if len(inner) == 1 else _coerce_either(value, inner, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{key}': expected one of {', '.join(map(repr, args))}, got {value!r}", option=key,
                              value=value)
        return value
    if origin is tuple:
        return _coerce_tuple(value, args, key)
    return _coerce_scalar(value, hint, key)


def _coerce_either(value: Any, hints: list, key: str) -> Any:
    """The first of several types that `value` passes (`int | Literal["auto", "preset"]`)."""
    for hint in hints:
        try:
            return _coerce(value, hint, key)
        except ConfigError:
            continue
    names = [hint.__name__ if isinstance(hint, type) else " or ".join(map(repr, typing.get_args(hint))) for hint in hints]
    raise ConfigError(f"'{key}': expected {' or '.join(names)}, got {_describe(value)}", option=key, value=value)


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"'{key}': expected a list, got {_describe(value)}", option=key, value=value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"'{key}': expected a list of {len(args)} values, got {len(value)}", option=key,
                          value=value)
    return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def _coerce_scalar(value: Any, hint: Any, key: str) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint)
    if ok is None:
        raise TypeError(f"unsupported config field type {hint!r} for '{key}'")
    if not ok and hint is float and isinstance(value, str) and _EXP_FLOAT.match(value):
        value, ok = float(value), True  # YAML 1.1 reads `1e-4` (no dot) as a string; accept the float it means
    if not ok and hint is float and isinstance(value, str) and value.strip().lower().lstrip("+-") in _NONFINITE:
        value, ok = float(value), True  # `inf`/`nan` typed without YAML's dot: reported as not finite below
    if not ok:
        raise ConfigError(f"'{key}': expected {hint.__name__}, got {_describe(value)}", option=key, value=value)
    if hint is float and not math.isfinite(value):
        raise ConfigError(f"'{key}': expected a finite float, got {value!r} (not finite)", option=key,
                          value=value)  # inf/nan
    return float(value) if hint is float else value


_NONFINITE = ("inf", "infinity", "nan")
_EXP_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} ({value!r})"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _model_problems(m: ModelConfig) -> list[str]:
    problems = []
    if isinstance(m.downscale, int) and m.downscale < 1:
        problems.append(f"model.downscale must be >= 1, 'auto' or 'preset', got {m.downscale}")
    return problems


def _data_problems(d: DataConfig) -> list[str]:
    problems = []
    if len(d.history_probs) != HISTORY_SLOTS:
        problems.append(f"data.history_probs needs {HISTORY_SLOTS} values (one per slot), got {len(d.history_probs)}")
    for i, p in enumerate(d.history_probs):
        if not 0.0 <= p <= 1.0:
            problems.append(f"data.history_probs[{i}] must be in [0, 1], got {p}")
    if not 0.0 <= d.random_pattern_prob <= 1.0:
        problems.append(f"data.random_pattern_prob must be in [0, 1], got {d.random_pattern_prob}")
    if d.sequence_length < 1:
        problems.append(f"data.sequence_length must be >= 1, got {d.sequence_length}")
    if d.crop is not None and any(c <= 0 or c % 16 for c in d.crop):
        problems.append(f"data.crop must be positive multiples of 16 (H, W) or null, got {list(d.crop)}")
    both = sorted(set(d.train_scenes) & set(d.val_scenes))
    if both:
        problems.append(f"scenes in both data.train_scenes and data.val_scenes: {', '.join(both)}")
    if d.workers < 0:
        problems.append(f"data.workers must be >= 0, got {d.workers}")
    for key in ("window_stride", "val_frames"):
        if getattr(d, key) is not None and getattr(d, key) < 1:
            problems.append(f"data.{key} must be >= 1 or null, got {getattr(d, key)}")
    return problems


def _train_problems(t: TrainConfig) -> list[str]:
    problems = []
    for key in ("epochs", "batch_size", "checkpoint_every", "val_every", "log_every", "keep_checkpoints"):
        if getattr(t, key) < 1:
            problems.append(f"train.{key} must be >= 1, got {getattr(t, key)}")
    if t.max_steps is not None and t.max_steps < 1:
        problems.append(f"train.max_steps must be >= 1 or null, got {t.max_steps}")
    if not 0.0 < t.lr_min <= t.lr:
        problems.append(f"need 0 < train.lr_min <= train.lr, got lr_min={t.lr_min}, lr={t.lr}")
    if t.grad_clip < 0:
        problems.append(f"train.grad_clip must be >= 0 (0 = off), got {t.grad_clip}")
    if t.threads is not None and t.threads < 1:
        problems.append(f"train.threads must be >= 1 or null, got {t.threads}")
    if t.weight_decay < 0:
        problems.append(f"train.weight_decay must be >= 0, got {t.weight_decay}")
    if not all(0.0 <= b < 1.0 for b in t.betas):
        problems.append(f"train.betas must be in [0, 1), got {list(t.betas)}")
    if not t.job_name or t.job_name.startswith("/") or ".." in Path(t.job_name).parts:
        problems.append(f"train.job_name must be a non-empty relative name, got {t.job_name!r}")
    return problems


def _loss_problems(loss: LossConfig) -> list[str]:
    return [
        f"loss.{f.name} must be >= 0, got {getattr(loss, f.name)}"
        for f in dataclasses.fields(loss)
        if getattr(loss, f.name) < 0
    ]
