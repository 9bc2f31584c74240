"""Conversion dtypes at the boundary: the numpy
conversions return float32 whatever the input precision (half EXR channels, float64 arithmetic), and
half-precision depth normalises without overflowing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core.conventions import normalize_depth, velocity_to_motion_vector


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_velocity_to_motion_vector_is_float32_and_flips_y(dtype):
    velocity = np.array([[[0.25, -0.5]], [[0.125, -1.0]]], dtype=dtype)  # (2, 1, 2)
    mv = velocity_to_motion_vector(velocity)
    assert mv.dtype == np.float32
    np.testing.assert_array_equal(mv, np.array([[[0.25, -0.5]], [[-0.125, 1.0]]], dtype=np.float32))
    assert velocity[1, 0, 0] == dtype(0.125)  # the input is not modified


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_normalize_depth_of_numpy_is_float32(dtype):
    # 65536 cm does not exist in float16 (its largest value is 65504): a half depth map once came out all zeros.
    normalized = normalize_depth(np.array([0.0, 16384.0, 65504.0], dtype=dtype))
    assert normalized.dtype == np.float32
    np.testing.assert_array_equal(normalized, np.array([0.0, 0.25, 65504 / 65536], dtype=np.float32))


def test_normalize_depth_of_half_tensor_keeps_half():
    depth = torch.tensor([8192.0, 65504.0, float("inf")], dtype=torch.float16)
    normalized = normalize_depth(depth)
    assert normalized.dtype == torch.float16
    torch.testing.assert_close(normalized, torch.tensor([0.125, 65504 / 65536, 1.0], dtype=torch.float16))
