"""Run logs: one JSON object per line in `log/train.jsonl`, TensorBoard scalars and preview images in
`writer/` when the `tb` extra (tensorboard) is installed. Only rank 0 creates a `RunLog`."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import torch

from lmv_cli.core.color import aces, srgb_encode


def tensorboard_available() -> bool:
    """Whether TensorBoard event files can be written (the `tb` extra)."""
    return importlib.util.find_spec("tensorboard") is not None


class RunLog:
    """Appends records to the JSONL log and mirrors their numbers to TensorBoard."""

    def __init__(self, jsonl: Path, writer_dir: Path | None):
        self.path = jsonl
        self._file = jsonl.open("a", encoding="utf-8")
        self._tb = None
        if writer_dir is not None and tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(writer_dir))

    def write(self, record: dict[str, Any]) -> None:
        """One line of JSON (non-finite floats as strings, so every line stays valid JSON); the numbers
        also go to TensorBoard as `<kind>/<dotted key>` at the record's step."""
        self._file.write(json.dumps(_jsonable(record)) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in _flatten(record).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    self._tb.add_scalar(f"{record.get('kind', 'log')}/{key}", value, record.get("step", 0))

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """A (3, H, W) image in [0, 1] to TensorBoard (nothing without the `tb` extra)."""
        if self._tb is not None:
            self._tb.add_image(tag, image, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def preview_image(prediction: torch.Tensor, truth: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
    """prediction | truth | warp side by side, ACES-tonemapped and sRGB-encoded: (3, H, 3W) in [0, 1]."""
    row = torch.cat([x[0].detach().float().cpu() for x in (prediction, truth, warp)], dim=-1)
    return srgb_encode(aces(row)).clamp(0, 1)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
