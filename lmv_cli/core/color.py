"""Tone curves used for metrics and previews (docs/model.md#colour-space, docs/evaluation.md#metrics).

Written with operators and `.clip` only, so the same functions serve numpy arrays and torch tensors.
"""

from __future__ import annotations

import math
import sys

import numpy


def aces(x):
    """ACES filmic tonemap (Narkowicz 2015 fit), clamped to [0, 1]: the metric space of docs/evaluation.md#metrics."""
    return (x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)).clip(0.0, 1.0)


def srgb_encode(x):
    """Linear [0, 1] → sRGB-encoded [0, 1] (IEC 61966-2-1), for PNG previews."""
    x = x.clip(0.0, 1.0)
    return (x <= 0.0031308) * (12.92 * x) + (x > 0.0031308) * (1.055 * x.clip(0.0031308, 1.0) ** (1 / 2.4) - 0.055)


BRDF_FLOOR = 0.01
"""Lower bound of the demodulation colour (docs/store.md#derived-buffers, `albedo_min_clamp`): defined here, with the colour
spaces, so that the network and the pack-time conversions (`derived`) share it without the model
importing conversion code."""
GAMMA_LOG_MU = 8.0
"""μ of the network's colour space (docs/model.md#colour-space)."""


def gamma_log(x, mu: float = GAMMA_LOG_MU):
    """The network's colour space: `ln(1 + μx) / ln(1 + μ)` (docs/model.md#colour-space); numpy or torch."""
    return _lib(x).log1p(mu * x) / _log1p(mu)


def inv_gamma_log(y, mu: float = GAMMA_LOG_MU):
    """Inverse of `gamma_log`: `(exp(y · ln(1 + μ)) − 1) / μ`."""
    return _lib(y).expm1(y * _log1p(mu)) / mu


def _log1p(v: float) -> float:
    return math.log1p(v)


def _lib(x):
    """The array module of `x` (torch for tensors, numpy otherwise), without importing torch eagerly."""
    if type(x).__module__.startswith("torch"):
        return sys.modules["torch"]  # a tensor means torch is loaded; numpy-only callers never load it
    return numpy
