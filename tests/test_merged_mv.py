"""Merged motion vectors (docs/model.md#merged-motion-vectors) past the first step, against a deliberately naive per-pixel loop.

`M_0 = mv_t`; `M_k(p) = mv_{t−k}(nearest(p − M_{k−1}(p))) + M_{k−1}(p)`, zero outside the frame. The
motions here are several pixels and vary from pixel to pixel, with fractional parts chosen so that no
rounding tie occurs: gathering at p + M instead of p − M, bilinearly instead of nearest, or from the
wrong step's field all give other values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core.inputs import merged_motion_vectors

H, W = 12, 16


def naive_merged(mvs: list[np.ndarray]) -> list[np.ndarray]:
    """The chain pixel by pixel in plain Python: follow pixel p back one frame at a time, in pixels."""
    _, _, h, w = mvs[0].shape
    scale = np.array([w / 2.0, h / 2.0])
    out = [np.zeros_like(mvs[0]) for _ in mvs]
    for y in range(h):
        for x in range(w):
            total = mvs[0][0, :, y, x].astype(np.float64)
            out[0][0, :, y, x] = total
            for k in range(1, len(mvs)):
                sx, sy = x - total[0] * scale[0], y - total[1] * scale[1]  # where p was in frame t−k
                ix, iy = int(np.floor(sx + 0.5)), int(np.floor(sy + 0.5))  # nearest pixel centre
                inside = 0 <= ix < w and 0 <= iy < h
                step = mvs[k][0, :, iy, ix].astype(np.float64) if inside else np.zeros(2)
                total = total + step
                out[k][0, :, y, x] = total
    return out


def pixel_field(rng: np.random.Generator, low: int, high: int, fraction: float) -> np.ndarray:
    """(1, 2, H, W) NDC field whose pixel displacements are random integers in [low, high] + fraction."""
    px = rng.integers(low, high + 1, size=(1, 2, H, W)) + fraction
    return (px / np.array([W / 2.0, H / 2.0]).reshape(1, 2, 1, 1)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_chain_matches_the_naive_loop_on_large_varying_motion(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # displacement fractions 0.2 each: p − M_0 has fraction .8, p − M_1 has .6, never a .5 tie
    mvs = [pixel_field(rng, -4, 3, 0.2) for _ in range(3)]
    got = merged_motion_vectors([torch.from_numpy(m) for m in mvs])
    expected = naive_merged(mvs)
    for k in range(3):
        np.testing.assert_allclose(got[k].numpy(), expected[k], rtol=0, atol=1e-5, err_msg=f"M_{k}")
    # the example is not degenerate: some pixels gather from outside the frame, most from elsewhere
    assert np.abs(expected[2] - expected[1]).max() > 0


def test_second_step_gathers_at_p_minus_m1_not_p_plus_m1() -> None:
    """Hand-worked: mv_t = 0, mv_{t−1} = +2 px in x everywhere, mv_{t−2} = a ramp 0.1·x px in x.

    M_1 = +2 px; M_2(x) = 2 + 0.1·(x − 2) px where x − 2 is inside the frame, else 2 + 0."""
    to_ndc = np.array([W / 2.0, H / 2.0]).reshape(1, 2, 1, 1)
    zero = np.zeros((1, 2, H, W), dtype=np.float32)
    two = np.zeros_like(zero)
    two[:, 0] = 2.0
    ramp = np.zeros_like(zero)
    ramp[:, 0] = 0.1 * np.arange(W)
    mvs = [zero, (two / to_ndc).astype(np.float32), (ramp / to_ndc).astype(np.float32)]
    m = merged_motion_vectors([torch.from_numpy(a) for a in mvs])
    m2_px = m[2][0, 0].numpy() * (W / 2.0)
    x = np.arange(W)
    expected = 2.0 + np.where(x - 2 >= 0, 0.1 * (x - 2), 0.0)
    np.testing.assert_allclose(m2_px, np.broadcast_to(expected, (H, W)), atol=1e-5)
    np.testing.assert_allclose(m[2][0, 1].numpy(), 0.0, atol=1e-7)


def test_gather_is_nearest_not_bilinear() -> None:
    """M_1 = 0.4 px: the nearest gather takes mv_{t−1} at the pixel itself; bilinear would blend in 40 %
    of the left neighbour. mv_{t−1} is a checkerboard of ±1 px, so the two differ by 0.8 px."""
    to_ndc = np.array([W / 2.0, H / 2.0]).reshape(1, 2, 1, 1)
    m0 = np.zeros((1, 2, H, W), dtype=np.float32)
    m0[:, 0] = 0.4
    checker = np.zeros_like(m0)
    checker[:, 1] = np.where((np.arange(W)[None] + np.arange(H)[:, None]) % 2 == 0, 1.0, -1.0)
    mvs = [(m0 / to_ndc).astype(np.float32), (checker / to_ndc).astype(np.float32), np.zeros_like(m0)]
    m = merged_motion_vectors([torch.from_numpy(a) for a in mvs])
    m1_y_px = m[1][0, 1].numpy() * (H / 2.0)
    np.testing.assert_allclose(m1_y_px, checker[0, 1], atol=1e-5)
