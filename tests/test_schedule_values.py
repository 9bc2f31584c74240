"""Training schedules as numbers (`lmv_cli.core.train.schedule`): `cosine_lr` at both ends, a quarter of
the way, past the end and for totals of 0 and 1; `draw_pattern`'s strict comparison and lengths;
`sequence_probs`' strict threshold; `sequence_rng`'s seed words; and `selection_psnr`, the score that picks
the best model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmv_cli.core.train import validate as val
from lmv_cli.core.train.schedule import cosine_lr, draw_pattern, sequence_probs, sequence_rng

RNG0 = (0.6369616873214543, 0.2697867137638703, 0.04097352393619469)  # default_rng(0).random(3)


def test_cosine_lr_values():
    assert cosine_lr(0, 100, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(50, 100, 3.0, 1.0) == pytest.approx(2.0)
    assert cosine_lr(100, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(25, 100, 1.0, 0.0) == pytest.approx(0.5 * (1 + math.sqrt(0.5)))
    assert cosine_lr(75, 100, 3.0, 1.0) == pytest.approx(1.0 + (1 - math.sqrt(0.5)))


def test_cosine_lr_past_the_end_and_tiny_totals():
    assert cosine_lr(150, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(1, 1, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(0, 1, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(0, 0, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(5, 0, 3.0, 1.0) == pytest.approx(3.0)


def test_draw_pattern_draws_one_number_per_slot():
    both = ((True, True),) * 3
    assert draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), both) == (False, True, True)
    # the comparison is strict: a draw equal to the probability is not taken
    assert draw_pattern(np.random.default_rng(0), RNG0, both) == (False, False, False)
    assert draw_pattern(np.random.default_rng(0), (1.0, 1.0, 1.0), ((True, False),) * 3) == (False,) * 3
    out = draw_pattern(np.random.default_rng(0), (0.0, 0.0), ((True, True),) * 2)
    assert out == (False, False) and all(type(v) is bool for v in out)


def test_draw_pattern_lengths_must_match():
    with pytest.raises(ValueError):
        draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), ((True, True),) * 2)


def test_sequence_probs_threshold():
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 1.0) == (0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2, 0.3], 1.0) == (0.5, 0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.0) == (0.1, 0.2)
    kept = sequence_probs(np.random.default_rng(0), [0.1, 0.2], RNG0[0])  # draw == random_prob: kept
    assert kept == (0.1, 0.2) and type(kept) is tuple
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.7) == (0.5, 0.5)


def test_sequence_rng_seed_words():
    a = sequence_rng(3, 1, 5).random(4)
    np.testing.assert_array_equal(a, np.random.default_rng([3, 1, 5, 7]).random(4))
    assert sequence_rng(3, 1, 5).random() != sequence_rng(3, 1, 6).random()


def test_selection_psnr_is_the_mean_of_the_model_psnr():
    result = {"n1": {"model": {"psnr": 30.0, "ssim": 0.1}, "warp": {"psnr": 1.0}},
              "n2": {"model": {"psnr": 20.0, "ssim": 0.2}, "warp": {"psnr": 2.0}}}
    assert val.selection_psnr(result) == 25.0
