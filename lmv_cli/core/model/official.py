"""Weights of the original FSNet code (`VicRanger/learnable-motion-vector`, `ShadeNet`) → lmv.

The released network and lmv's `fsnet` preset have the same 111 tensors with the same shapes; only the
names differ (docs/model.md#importing-an-original-checkpoint). `official_name(lmv_key)` spells an lmv parameter name the
way the original's state dict does; the mapping is one-to-one, so `to_lmv_state_dict` renames an
official state dict by inverting it and names the first offending key of anything else. The three
recurrent encoders are numbered the other way round: official 0/1/2 read the decoder outputs at
1/8, 1/4, 1/2; lmv numbers them by level starting at 1/2.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import load_state_dict_strict, save_model
from lmv_cli.core.model.safe_pickle import InertRecord, module_state_dict, read_restricted

_PARTS = (("history_encoder.", "scene_color_encoder."), ("gbuffer_encoder.", "shade_encoder."))
_ENCODER = {"conv1": "seq.conv1", "act": "seq.prelu_1", "conv2": "seq.conv2"}
_DECODER_BLOCK = {
    "conv": "single_conv.0",
    "act": "single_conv.prelu_1",
    "res.conv1": "res_block.conv1.0",
    "res.act1": "res_block.conv1.prelu_1",
    "res.conv2": "res_block.conv5",
    "res.act2": "res_block.single_norm_act.prelu_1",
    "up": "deconv",
}
_HEAD = {"conv": "conv1x1.0", "act": "conv1x1.prelu_1", "out": "output1x1"}


def official_name(key: str, recurrent_levels: int = 3) -> str:
    """The original's state-dict name of lmv parameter `key` (e.g. `decoder.blocks.0.up.weight` →
    `shade_decoder.decoders.0.deconv.weight`); `ValueError` for a name outside the `fsnet` layout."""
    module, _, leaf = key.rpartition(".")
    for ours, theirs in _PARTS:
        if module.startswith(ours):
            rest = module[len(ours) :]
            m = re.fullmatch(r"(input_block|stages\.(\d+))\.(conv1|act|conv2)", rest)
            if m:
                stage = "input_block" if m[2] is None else f"encoders.{m[2]}"
                return f"{theirs}{stage}.{_ENCODER[m[3]]}.{leaf}"
    m = re.fullmatch(r"decoder\.blocks\.(\d+)\.(.+)", module)
    if m and m[2] in _DECODER_BLOCK:
        return f"shade_decoder.decoders.{m[1]}.{_DECODER_BLOCK[m[2]]}.{leaf}"
    m = re.fullmatch(r"decoder\.head\.(.+)", module)
    if m and m[1] in _HEAD:
        return f"shade_decoder.output_block.{_HEAD[m[1]]}.{leaf}"
    m = re.fullmatch(r"streaming\.recurrent_encoders\.(\d+)\.conv", module)
    if m:
        return f"recurrent_encoders.{recurrent_levels - 1 - int(m[1])}.compress_conv.{leaf}"
    m = re.fullmatch(r"streaming\.cells\.(\d+)\.conv", module)
    if m:
        return f"recurrent_blocks.{m[1]}.conv.{leaf}"
    raise ValueError(f"no official name for lmv parameter {key!r}")


def to_lmv_state_dict(
    official: Mapping[str, Any], model: torch.nn.Module, path: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """Rename an official state dict to `model`'s names (float32); `CheckpointError` naming the first
    unexpected, non-tensor, wrongly shaped or missing key, in the official spelling."""
    own = model.state_dict()
    levels = len(model.streaming.recurrent_encoders)
    names = {official_name(k, levels): k for k in own}
    state: dict[str, torch.Tensor] = {}
    for key, value in official.items():
        if key not in names:
            hint = "a DistributedDataParallel 'module.' prefix?" if key.startswith("module.") else "another architecture?"
            raise CheckpointError(f"unexpected key '{key}' (not a parameter of the released FSNet; {hint})", path=path)
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"key '{key}' is a {type(value).__name__}, not a tensor", path=path)
        expected = tuple(own[names[key]].shape)
        if tuple(value.shape) != expected:
            raise CheckpointError(
                f"key '{key}' has shape {tuple(value.shape)}, the released FSNet has {expected}", path=path
            )
        state[names[key]] = value.detach().float()
    for key in names:
        if key not in official:
            raise CheckpointError(f"weights lack key '{key}' (a partial checkpoint or another architecture?)", path=path)
    return state


OFFICIAL_FORMS = ("state dict", "{'state_dict': …}", "{'net': module}", "training checkpoint {'model': module}")


def read_official_state_dict(path: str | Path) -> tuple[dict[str, Any], str]:
    """The state dict of an official checkpoint in any of the forms the original writes or loads, and
    the form's name (`OFFICIAL_FORMS`). Read without running code from the file (`safe_pickle`):
    `CheckpointError` for an unreadable or unknown file, `UnsafePickleError` for one that calls code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such checkpoint file" if not path.exists() else "is not a file", path=path)
    payload = read_restricted(path)
    if isinstance(payload, Mapping) and payload.get("format") == "lmv-model":
        raise CheckpointError("not an official FSNet checkpoint: already an lmv model file (use it as MODEL)", path=path)
    if isinstance(payload, Mapping) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return dict(payload), OFFICIAL_FORMS[0]
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        return dict(payload["state_dict"]), OFFICIAL_FORMS[1]
    for key, form in (("net", OFFICIAL_FORMS[2]), ("model", OFFICIAL_FORMS[3])):
        if isinstance(payload, Mapping) and isinstance(payload.get(key), InertRecord):
            try:
                return dict(module_state_dict(payload[key])), form
            except CheckpointError as e:
                raise CheckpointError(e.message, path=path) from None
    found = f"a dict with keys {', '.join(map(repr, list(payload)[:6]))}" if isinstance(payload, Mapping) else repr(payload)[:80]
    raise CheckpointError(
        f"not an official FSNet checkpoint: expected a state dict, {{'state_dict': sd}} or {{'net': module}}, found {found}",
        path=path,
    )


def import_official_checkpoint(src: str | Path, dst: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Convert an official FSNet checkpoint into an lmv model file of preset `fsnet` in original mode
    (`model.compat: original`), written atomically; nothing is written if anything is wrong.

    Returns a summary: output path, source form, tensors, parameters, the model configuration.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise CheckpointError("output is the input checkpoint itself; choose another OUT path", path=dst)
    if dst.exists() and not overwrite:
        raise CheckpointError("output exists (pass `overwrite` to replace it)", path=dst, option="overwrite", value=False)
    official, form = read_official_state_dict(src)
    cfg = ModelConfig(preset="fsnet", compat="original", init="random")
    model = build_model(cfg)
    state = to_lmv_state_dict(official, model, src)
    load_state_dict_strict(model, state, src)
    meta = {
        "source": "official FSNet checkpoint (VicRanger/learnable-motion-vector)",
        "source_file": src.name,
        "source_form": form,
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    }
    save_model(dst, model, cfg, meta)
    return {
        "out": str(dst),
        "form": form,
        "tensors": len(state),
        "parameters": sum(v.numel() for v in state.values()),
        "model": asdict(cfg),
    }
