"""capture-check's motion figure (`capture/motion.py`) against values computed here independently: an
integer shift reprojected by index arithmetic with edge clamping, PSNRs written out, and the
convention-advantage rule (pixels where two conventions' motions differ by more than half a pixel)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from lmv_cli.core.capture.motion import DOCUMENTED, finite_median, pair_figures
from lmv_cli.core.color import aces

H, W, DX, DY = 12, 16, 2, 1  # frame t is frame t−1 moved 2 px right and 1 px down


def psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / mse)


def shifted(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out(y, x) = img(y − dy, x − dx), the source index clamped to the frame (border padding)."""
    ys = np.clip(np.arange(H) - dy, 0, H - 1)
    xs = np.clip(np.arange(W) - dx, 0, W - 1)
    return img[:, ys][:, :, xs]


def aces_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((aces(a.astype(np.float32)) - aces(b.astype(np.float32))) ** 2).mean(axis=0)


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    prev = rng.uniform(0.05, 2.0, (3, H, W)).astype(np.float32)
    cur = shifted(prev, DX, DY)
    cur[:, :, :DX] = 0.5  # disoccluded strip: content the previous frame does not have
    # UE velocity of the documented convention: NDC current − previous, full width 2, y up
    velocity = np.stack((np.full((H, W), 2.0 * DX / W), np.full((H, W), -2.0 * DY / H))).astype(np.float32)
    return prev, cur, velocity


def test_repeat_and_documented_warp_psnr(pair):
    prev, cur, velocity = pair
    f = pair_figures(prev, cur, velocity, [DOCUMENTED])
    assert f.repeat == pytest.approx(psnr(float(aces_err(prev, cur).mean())), rel=1e-6)
    warped = shifted(prev, DX, DY)
    assert f.warp[DOCUMENTED] == pytest.approx(psnr(float(aces_err(warped, cur).mean())), rel=1e-4)
    assert f.advantage == {DOCUMENTED: 0.0}


def test_advantage_of_another_convention_on_the_pixels_where_they_differ(pair):
    prev, cur, velocity = pair
    f = pair_figures(prev, cur, velocity, ["ndc-y-down", "uv-y-up"])
    # y-down reads the y motion reversed: 2·DY = 2 px apart everywhere → every pixel decides
    wrong = shifted(prev, DX, -DY)
    right = shifted(prev, DX, DY)
    alt, doc = float(aces_err(wrong, cur).mean()), float(aces_err(right, cur).mean())
    assert f.warp["ndc-y-down"] == pytest.approx(psnr(alt), rel=1e-4)
    assert f.advantage["ndc-y-down"] == pytest.approx(psnr(alt) - psnr(doc), rel=1e-4)
    assert f.advantage["ndc-y-down"] < -1.0
    # UV units double the motion: (4, 2) px instead of (2, 1)
    uv = shifted(prev, 2 * DX, 2 * DY)
    alt = float(aces_err(uv, cur).mean())
    assert f.advantage["uv-y-up"] == pytest.approx(psnr(alt) - psnr(doc), rel=1e-4)
    assert set(f.warp) == {DOCUMENTED, "ndc-y-down", "uv-y-up"}


def test_advantage_only_counts_pixels_more_than_half_a_pixel_apart(pair):
    """Motion only in x: y-down equals the documented convention → nan (cannot tell them apart); a
    0.4 px y motion keeps them within DISAGREE_PX too; 0.6 px does not."""
    prev, cur, velocity = pair
    velocity = velocity.copy()
    velocity[1] = 0.0
    assert math.isnan(pair_figures(prev, cur, velocity, ["ndc-y-down"]).advantage["ndc-y-down"])
    velocity[1] = -2.0 * 0.2 / H  # ±0.2 px: the two conventions are 0.4 px apart
    assert math.isnan(pair_figures(prev, cur, velocity, ["ndc-y-down"]).advantage["ndc-y-down"])
    velocity[1] = -2.0 * 0.3 / H  # 0.6 px apart
    assert not math.isnan(pair_figures(prev, cur, velocity, ["ndc-y-down"]).advantage["ndc-y-down"])


def test_advantage_is_nan_when_one_side_is_exact(pair):
    """Identical frames and zero motion: the documented warp is exact (error 0), so no dB difference
    exists; a convention that differs gets nan, not ±inf."""
    prev, _, velocity = pair
    still = np.zeros_like(velocity)
    still[0] = 2.0 * 1.0 / W  # 1 px in x: the x-flipped convention differs by 2 px
    cur = shifted(prev, 1, 0)
    cur[:, :, :1] = prev[:, :, :1]  # exactly the border-clamped warp
    f = pair_figures(prev, cur, still, ["ndc-x-flipped"])
    assert f.warp[DOCUMENTED] == float("inf")
    assert math.isnan(f.advantage["ndc-x-flipped"])


def test_finite_median_values():
    assert finite_median([3.0, float("nan"), 1.0, 2.0]) == 2.0
    assert finite_median([float("inf"), 1.0, float("inf")]) == float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" from numpy: the empty case is handled
        assert math.isnan(finite_median([float("nan")]))
        assert math.isnan(finite_median([]))


@pytest.mark.parametrize("px, told_apart", [(0.2, False), (0.25, False), (0.3, True)])
def test_x_motion_threshold_in_pixels(pair, px, told_apart):
    """x-flipped vs documented with an x motion of `px`: they are 2·px apart. Exactly 0.5 px is not
    'more than half a pixel'; the pixel scale of x is W/2 per NDC unit. No numpy warnings either way
    (an empty mask must not be averaged)."""
    prev, cur, velocity = pair
    velocity = np.stack((np.full((H, W), 2.0 * px / W), np.zeros((H, W)))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        advantage = pair_figures(prev, cur, velocity, ["ndc-x-flipped"]).advantage["ndc-x-flipped"]
    assert math.isnan(advantage) != told_apart


def test_advantage_is_nan_when_the_other_convention_is_exact(pair):
    """The frame moved 1 px left while the velocity says 1 px right: x-flipped reprojects exactly
    (error 0), the documented convention does not; the advantage is nan, not +inf."""
    prev, _, _ = pair
    cur = shifted(prev, -1, 0)
    velocity = np.stack((np.full((H, W), 2.0 / W), np.zeros((H, W)))).astype(np.float32)
    f = pair_figures(prev, cur, velocity, ["ndc-x-flipped"])
    assert f.warp["ndc-x-flipped"] == float("inf") and math.isfinite(f.warp[DOCUMENTED])
    assert math.isnan(f.advantage["ndc-x-flipped"])
