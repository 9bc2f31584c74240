"""The motion-vector sanity figure (docs/capture.md#checking-a-capture): does warping frame t−1 with the velocity of frame t
beat repeating frame t−1? If a convention other than the documented one fits better, the capture's
velocity sign, axis or scale is wrong, and the report names the one that fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmv_cli.core.color import aces
from lmv_cli.core.conventions import backward_warp_np

DOCUMENTED = "ndc-y-up"
# name -> (scale x, scale y) applied to UE velocity (vx, vy) to get lmv's motion vector (NDC, y down).
CONVENTIONS: dict[str, tuple[float, float]] = {
    DOCUMENTED: (1.0, -1.0),  # NDC(current) − NDC(previous), full width 2, y up (UE4, docs/capture.md#conventions)
    "ndc-y-down": (1.0, 1.0),  # y axis already pointing down
    "ndc-x-flipped": (-1.0, -1.0),  # x axis mirrored
    "ndc-previous-minus-current": (-1.0, 1.0),  # sign reversed (motion to the previous frame)
    "uv-y-up": (2.0, -2.0),  # UV units (full width 1), y up
    "uv-y-down": (2.0, 2.0),  # UV units, y down
}
DESCRIPTIONS = {
    DOCUMENTED: "NDC current-previous, full width 2, y up (documented)",
    "ndc-y-down": "NDC current-previous, y down",
    "ndc-x-flipped": "NDC current-previous, x mirrored",
    "ndc-previous-minus-current": "NDC previous-current (sign reversed)",
    "uv-y-up": "UV units (full width 1), y up",
    "uv-y-down": "UV units (full width 1), y down",
}
CONVENTION_MARGIN_DB = 1.0
"""Another convention must beat the documented one by this much (median over pairs, on the pixels
where the two disagree) to be called a better fit."""
DISAGREE_PX = 0.5
"""Pixels where two conventions' motions differ by more than this decide between them."""


@dataclass
class PairFigures:
    """Figures of one frame pair (t−1, t)."""

    repeat: float  # ACES PSNR of frame t−1 against frame t
    warp: dict[str, float] = field(default_factory=dict)  # convention -> ACES PSNR of the warped frame t−1
    # convention -> dB by which it beats the documented one on the pixels where their motions differ by
    # more than DISAGREE_PX (nan when there are none: the two cannot be told apart on this pair)
    advantage: dict[str, float] = field(default_factory=dict)


def aces_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two linear HDR images after ACES tonemapping and clamping (docs/evaluation.md#metrics)."""
    return _psnr(float(np.mean(_aces_error(a, b))))


def pair_figures(prev: np.ndarray, cur: np.ndarray, velocity: np.ndarray, conventions: list[str]) -> PairFigures:
    """Repeat and warp PSNRs of one pair, and each convention's advantage over the documented one.

    prev, cur: (3, H, W) linear SceneColorNoST of frames t−1 and t; velocity: (2, H, W) raw UE velocity
    of frame t.
    """
    figures = PairFigures(repeat=aces_psnr(prev, cur))
    _, h, w = velocity.shape
    errors, flows = {}, {}
    for name in dict.fromkeys([DOCUMENTED, *conventions]):
        sx, sy = CONVENTIONS[name]
        mv = np.stack((velocity[0] * sx, velocity[1] * sy)).astype(np.float32)
        flows[name] = mv * np.array([w / 2.0, h / 2.0], dtype=np.float32)[:, None, None]
        errors[name] = _aces_error(backward_warp_np(prev, mv), cur).mean(axis=0)
        figures.warp[name] = _psnr(float(errors[name].mean()))
    for name in conventions:
        differ = np.hypot(*(flows[name] - flows[DOCUMENTED])) > DISAGREE_PX
        if name == DOCUMENTED or not differ.any():
            figures.advantage[name] = 0.0 if name == DOCUMENTED else float("nan")
            continue
        doc, alt = float(errors[DOCUMENTED][differ].mean()), float(errors[name][differ].mean())
        figures.advantage[name] = _psnr(alt) - _psnr(doc) if alt > 0 and doc > 0 else float("nan")
    return figures


def _aces_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (aces(a.astype(np.float32)) - aces(b.astype(np.float32))) ** 2


def _psnr(mse: float) -> float:
    return float("inf") if mse == 0.0 else 10.0 * float(np.log10(1.0 / mse))


def finite_median(values: list[float]) -> float:
    """Median of the non-nan values (inf allowed: identical frames); nan when there are none."""
    kept = np.asarray([v for v in values if not np.isnan(v)], dtype=np.float64)
    return float(np.median(kept)) if kept.size else float("nan")
