"""What a model file written by training records about the data it learned from (docs/model.md#flow-units-and-working-resolution)."""

from __future__ import annotations

from collections import Counter

from lmv_cli.core.data import DataIndex


def train_resolution(index: DataIndex, crop: tuple[int, int] | None) -> dict:
    """The pixel density a run trains at, for the model file's meta "train_resolution":
    {"frame": [W, H] of the training scenes (the most common size when they differ), "crop": [w, h] of
    the random crops or None}. Crops cut frames without rescaling them, so the frame size is the
    density; `downscale: auto` (`model/resolution.py`) and resolution-mismatch warnings read it."""
    sizes = Counter((s.width, s.height) for s in index.train_scenes)
    (width, height), _ = sizes.most_common(1)[0]
    return {"frame": [width, height], "crop": [crop[1], crop[0]] if crop is not None else None}
