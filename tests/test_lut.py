"""The split-sum environment-BRDF table: golden values, analytic cases, and the committed asset
matching a fresh integration (regenerate with `python -m lmv_cli.core.brdf_lut lmv_cli/assets/brdf_lut.npy`)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from lmv_cli.core import brdf_lut


@pytest.fixture(scope="module")
def lut() -> np.ndarray:
    return brdf_lut.load_lut()


def lookup(lut, nov: float, roughness: float) -> tuple[float, float]:
    scale, bias = brdf_lut.sample_lut(lut, np.float32([[nov]]), np.float32([[roughness]]))
    return float(scale[0, 0]), float(bias[0, 0])


def test_asset_shape_dtype_and_size(lut):
    assert lut.shape == (2, brdf_lut.LUT_SIZE, brdf_lut.LUT_SIZE)
    assert lut.dtype == np.float32
    size = resources.files("lmv_cli").joinpath("assets", "brdf_lut.npy").stat().st_size
    assert size < 600_000


def test_hammersley_points():
    u, v = brdf_lut.hammersley(4)
    np.testing.assert_array_equal(u, [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_array_equal(v, [0.0, 0.5, 0.25, 0.75])  # base-2 radical inverse of 0, 1, 2, 3


def test_study_golden_values(lut):
    """Study §2.5 values of the original's table: (NoV, r) = (1, 0) → (1, 0); (0, 0) → (0.005, 0.994);
    (0.5, 0.5) → (0.741, 0.019). Our Karis/Smith-Schlick integration gives 0.729 at the middle point,
    0.012 below the original's table (whose generator is unknown); the tolerance says so."""
    assert lookup(lut, 1.0, 0.0) == pytest.approx((1.0, 0.0), abs=1e-6)
    scale, bias = lookup(lut, 0.0, 0.0)
    assert scale == pytest.approx(0.005, abs=5e-4)
    assert bias == pytest.approx(0.994, abs=2e-3)
    scale, bias = lookup(lut, 0.5, 0.5)
    assert scale == pytest.approx(0.741, abs=0.015)
    assert bias == pytest.approx(0.019, abs=1e-3)
    assert scale == pytest.approx(0.7285, abs=1e-3)  # our own integration, pinned


def test_mirror_column_is_analytic(lut):
    """Roughness 0 is a perfect mirror: h = n, G = 1, so scale = 1 − (1 − NoV)^5, bias = (1 − NoV)^5."""
    nov, _ = brdf_lut.lut_axes()
    fc = (1.0 - nov) ** 5
    np.testing.assert_allclose(lut[0, 0], 1.0 - fc, atol=1e-6)
    np.testing.assert_allclose(lut[1, 0], fc, atol=1e-6)


def test_energy_is_bounded(lut):
    """scale + bias is the directional albedo of a white (F0 = 1) GGX surface: never above 1."""
    assert float((lut[0] + lut[1]).max()) <= 1.0 + 1e-5
    assert float(lut.min()) >= 0.0


def test_regenerated_entries_match_asset(lut):
    nov, roughness = brdf_lut.lut_axes()
    picks = [(0, 0), (0, 255), (37, 200), (128, 128), (255, 17), (90, 3)]  # (column, row)
    cols, rows = np.array(picks).T
    scale, bias = brdf_lut.integrate_env_brdf(nov[cols], roughness[rows])
    np.testing.assert_allclose(lut[0, rows, cols], scale, atol=2e-7)
    np.testing.assert_allclose(lut[1, rows, cols], bias, atol=2e-7)


def test_sampling_agrees_with_direct_integration_between_texels(lut):
    """Bilinear lookup between texels stays within the documented error (< 1e-4 for NoV ≥ 0.2)."""
    rng = np.random.default_rng(3)
    nov = rng.uniform(0.2, 1.0, 24)
    roughness = rng.uniform(0.0, 1.0, 24)
    scale, bias = brdf_lut.integrate_env_brdf(nov, roughness)
    got_scale, got_bias = brdf_lut.sample_lut(lut, nov.astype(np.float32), roughness.astype(np.float32))
    np.testing.assert_allclose(got_scale, scale, atol=1e-4)
    np.testing.assert_allclose(got_bias, bias, atol=1e-4)


def test_sampling_is_bilinear_and_clamped():
    table = np.zeros((2, 3, 3), dtype=np.float32)
    table[0] = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]  # row = roughness, column = NoV
    table[1] = 10 * table[0]
    nov = np.float32([[0.0, 0.5, 0.25, -0.3, 1.7]])
    rough = np.float32([[0.0, 0.5, 0.75, 2.0, -1.0]])
    scale, bias = brdf_lut.sample_lut(table, nov, rough)
    np.testing.assert_allclose(scale[0], [0.0, 4.0, 0.5 + 4.5, 6.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(bias, 10 * scale, atol=1e-5)
