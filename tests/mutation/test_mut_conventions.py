"""Conventions pinned where mutation testing found them unpinned (README "Mutation testing"): the numpy
conversions return float32 whatever the input precision (half EXR channels, float64 arithmetic)."""

from __future__ import annotations

import numpy as np
import pytest

from lmv_cli.core.conventions import normalize_depth, velocity_to_motion_vector


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_velocity_to_motion_vector_is_float32_and_flips_y(dtype):
    velocity = np.array([[[0.25, -0.5]], [[0.125, -1.0]]], dtype=dtype)  # (2, 1, 2)
    mv = velocity_to_motion_vector(velocity)
    assert mv.dtype == np.float32
    np.testing.assert_array_equal(mv, np.array([[[0.25, -0.5]], [[-0.125, 1.0]]], dtype=np.float32))
    assert velocity[1, 0, 0] == dtype(0.125)  # the input is not modified


def test_normalize_depth_of_float64_numpy_is_float32():
    # float16 is no depth format: 65536 cm is not representable in half (numpy divides by inf).
    normalized = normalize_depth(np.array([0.0, 16384.0, 70000.0], dtype=np.float64))
    assert normalized.dtype == np.float32
    np.testing.assert_array_equal(normalized, np.array([0.0, 0.25, 1.0], dtype=np.float32))
