"""The motion-vector sanity figure (SPEC §2): does warping frame t−1 with the velocity of frame t
beat repeating frame t−1? If a convention other than the documented one fits better, the capture's
velocity sign, axis or scale is wrong, and the report names the one that fits.
"""

from __future__ import annotations

import numpy as np

from lmv_cli.core.color import aces
from lmv_cli.core.conventions import backward_warp

DOCUMENTED = "ndc-y-up"
# name -> (scale x, scale y) applied to UE velocity (vx, vy) to get lmv's motion vector (NDC, y down).
CONVENTIONS: dict[str, tuple[float, float]] = {
    DOCUMENTED: (1.0, -1.0),  # NDC(current) − NDC(previous), full width 2, y up (UE4, SPEC §2)
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
CONVENTION_MARGIN_DB = 0.5
"""Another convention must beat the documented one by this much (median) to be called a better fit."""


def aces_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two linear HDR images after ACES tonemapping and clamping (SPEC §6)."""
    mse = float(np.mean((aces(a.astype(np.float32)) - aces(b.astype(np.float32))) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * float(np.log10(1.0 / mse))


def pair_psnrs(prev: np.ndarray, cur: np.ndarray, velocity: np.ndarray, conventions: list[str]) -> dict[str, float]:
    """PSNRs of one frame pair: "repeat" and the warp under each named convention.

    prev, cur: (3, H, W) linear SceneColorNoST of frames t−1 and t; velocity: (2, H, W) raw UE velocity
    of frame t.
    """
    psnrs = {"repeat": aces_psnr(prev, cur)}
    for name in conventions:
        sx, sy = CONVENTIONS[name]
        mv = np.stack((velocity[0] * sx, velocity[1] * sy)).astype(np.float32)
        psnrs[name] = aces_psnr(backward_warp(prev, mv), cur)
    return psnrs


def finite_median(values: list[float]) -> float:
    """Median that tolerates inf (identical frames); nan for an empty list."""
    return float(np.median(np.asarray(values, dtype=np.float64))) if values else float("nan")
