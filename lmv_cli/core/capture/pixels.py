"""Pixel-level checks of one frame (runs in worker processes): NaN/Inf, value ranges, all-zero
velocity, the translucency composite, and the frame pair's motion-vector PSNRs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmv_cli.core.capture.motion import CONVENTIONS, DOCUMENTED, PairFigures, pair_figures
from lmv_cli.core.errors import ExrError
from lmv_cli.core.exr import read_stack
from lmv_cli.core.schema import BUFFERS_BY_FOLDER, Kind

NORMAL_TOLERANCE = 0.05  # | |n| − 1 | above this counts as a non-unit normal
ALPHA_TOLERANCE = 1e-3
NEGATIVE_COLOUR = -1e-3
"""Colour below this in any channel is physically impossible (an error); between it and 0 it is
filtering/compression noise (a warning)."""


@dataclass
class PixelTask:
    frame: int
    files: dict[str, Path]  # folder -> file of this frame (only files whose header passed)
    prev_color: Path | None  # SceneColorNoST of frame − 1, for the motion figure
    conventions: list[str]  # conventions to evaluate on this pair (the documented one at least)


@dataclass
class BufferStats:
    nan: int = 0
    inf: int = 0
    ranges: list[list[float]] = field(default_factory=list)  # per channel [min, max] of finite values
    out_of_range: int = 0  # pixels violating the buffer's range rule
    rule: str = ""
    impossible: int = 0  # colour buffers: pixels with a channel below NEGATIVE_COLOUR


@dataclass
class PixelResult:
    frame: int
    buffers: dict[str, BufferStats] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # folder -> decode error message
    zero_velocity: bool | None = None
    composite_violations: int = 0
    pair: PairFigures | None = None  # motion figures of the pair (frame − 1, frame)


def check_pixels(task: PixelTask) -> PixelResult:
    """Decode the meaningful channels of every buffer of one frame and measure them."""
    result = PixelResult(task.frame)
    images: dict[str, np.ndarray] = {}
    for folder, path in task.files.items():
        try:
            images[folder] = read_stack(path, BUFFERS_BY_FOLDER[folder].channel_names)
        except ExrError as e:
            result.errors[folder] = e.message
            continue
        result.buffers[folder] = _buffer_stats(folder, images[folder])
    velocity = _finite_or_zero(images.get("VelocityDepth"))
    if velocity is not None:
        result.zero_velocity = not np.any(velocity[:2])
    if {"SceneColor", "SceneColorNoST", "STAlpha"} <= images.keys():
        st = images["SceneColor"] - images["SceneColorNoST"] * images["STAlpha"]
        result.composite_violations = int(np.sum(st < -1e-3 * (1.0 + np.abs(images["SceneColor"]))))
    if task.prev_color is not None and velocity is not None and "SceneColorNoST" in images:
        try:
            prev = read_stack(task.prev_color, ("R", "G", "B"))
        except ExrError:
            return result  # reported where that file is checked itself
        cur = _finite_or_zero(images["SceneColorNoST"])
        result.pair = pair_figures(_finite_or_zero(prev), cur, velocity[:2], task.conventions)
    return result


def _buffer_stats(folder: str, image: np.ndarray) -> BufferStats:
    finite = np.isfinite(image)
    stats = BufferStats(nan=int(np.isnan(image).sum()), inf=int(np.isinf(image).sum()))
    for c in range(image.shape[0]):
        values = image[c][finite[c]]
        stats.ranges.append([float(values.min()), float(values.max())] if values.size else [float("nan")] * 2)
    clean = np.where(finite, image, 0.0)
    kind = BUFFERS_BY_FOLDER[folder].kind
    if kind is Kind.COLOR:
        negative = np.min(clean, axis=0)
        stats.impossible = int(np.sum(negative < NEGATIVE_COLOUR))
        stats.rule = f"slightly negative colour (between {NEGATIVE_COLOUR:g} and 0)"
        stats.out_of_range = int(np.sum(negative < 0)) - stats.impossible
    elif kind is Kind.ALPHA:
        bad = (clean < -ALPHA_TOLERANCE) | (clean > 1 + ALPHA_TOLERANCE)
        stats.rule, stats.out_of_range = "alpha outside [0, 1]", int(bad.sum())
    elif kind in (Kind.DEPTH, Kind.VELOCITY_DEPTH):
        depth = clean[-1] if kind is Kind.VELOCITY_DEPTH else clean[0]
        stats.rule, stats.out_of_range = "depth <= 0", int(np.sum(depth <= 0))
    elif kind is Kind.NORMAL:
        length = np.sqrt(np.sum(clean**2, axis=0))
        stats.rule, stats.out_of_range = "|normal| != 1", int(np.sum(np.abs(length - 1) > NORMAL_TOLERANCE))
    return stats


def _finite_or_zero(image: np.ndarray | None) -> np.ndarray | None:
    """NaN/Inf → 0 (they are reported separately and must not dominate the motion figure)."""
    return None if image is None else np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)


def conventions_for(frame_index: int, sampled: set[int]) -> list[str]:
    """All conventions on the sampled pairs, the documented one everywhere else."""
    return list(CONVENTIONS) if frame_index in sampled else [DOCUMENTED]
