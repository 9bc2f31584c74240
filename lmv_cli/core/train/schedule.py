"""The learning-rate schedule and the random history patterns (docs/training.md#what-one-step-is)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    """Cosine from `lr` at step 0 down to `lr_min` at step `total` (the original's `get_learning_rate`)."""
    progress = min(step, total) / max(total, 1)
    return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def sequence_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    """The pattern generator of the sequence that starts at optimizer step `step` on `rank`: a pure
    function of the position, so a resumed run draws the same patterns."""
    return np.random.default_rng([seed, rank, step, 7])


def draw_pattern(
    rng: np.random.Generator, probs: Sequence[float], available: Sequence[tuple[bool, bool]]
) -> tuple[bool, ...]:
    """Per history slot (newest first), whether the network sees its predicted half: with probability
    `probs[k]`, and only where slot k holds a prediction (`History.available`)."""
    draws = rng.random(len(probs))
    return tuple(bool(d < p) and avail[1] for d, p, avail in zip(draws, probs, available, strict=True))


def sequence_probs(rng: np.random.Generator, probs: Sequence[float], random_prob: float) -> tuple[float, ...]:
    """The slot probabilities of one sequence: `probs`, or with probability `random_prob` 0.5 for each
    slot (every rendered/predicted mix, so one model serves `--frames 1..3`)."""
    return (0.5,) * len(probs) if rng.random() < random_prob else tuple(probs)
