"""Tone curves used for metrics and previews (study §2.7, SPEC §6).

Written with operators and `.clip` only, so the same functions serve numpy arrays and torch tensors.
"""

from __future__ import annotations


def aces(x):
    """ACES filmic tonemap (Narkowicz 2015 fit), clamped to [0, 1]: the metric space of SPEC §6."""
    return (x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)).clip(0.0, 1.0)


def srgb_encode(x):
    """Linear [0, 1] → sRGB-encoded [0, 1] (IEC 61966-2-1), for PNG previews."""
    x = x.clip(0.0, 1.0)
    return (x <= 0.0031308) * (12.92 * x) + (x > 0.0031308) * (1.055 * x.clip(0.0031308, 1.0) ** (1 / 2.4) - 0.055)
