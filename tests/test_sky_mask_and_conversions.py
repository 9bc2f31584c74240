"""Export → store conversions at their boundaries: float16 NaNs of every payload are replaced; the sky mask includes depths exactly at the
tolerance; the original's sky rule (`sky_depth / depth − 1e-9 ≤ 1`, base colour summed per pixel ≤ 0)
at its boundaries, in its (1, H, W) shape and without floating-point warnings; `convert_frame` reads a
float16 sky depth."""

from __future__ import annotations

import numpy as np

from lmv_cli.core import brdf_lut, derived


def plane(*values, dtype=np.float32) -> np.ndarray:
    """(1, 1, N) image of the given pixel values."""
    return np.array(values, dtype=dtype).reshape(1, 1, -1)


# replace_nonfinite


def test_replace_nonfinite_float16_nans_with_odd_payloads():
    # 0x7C01 and 0xFE01 are NaNs whose lowest mantissa bit is set; 0x7C00 is +Inf, 0x3C00 is 1.0
    h = np.array([0x7C01, 0xFE01, 0x7C00, 0x3C00], np.uint16).view(np.float16)
    assert derived.replace_nonfinite(h) == 3
    np.testing.assert_array_equal(h, np.float16([0.0, 0.0, 0.0, 1.0]))


# sky_mask


def test_sky_mask_includes_depth_exactly_at_the_tolerance():
    # float32: 10000 · float32(1 − 1e-4) rounds to exactly 9999.0; the next float32 below is not sky
    sky = plane(10000.0, 10000.0)
    depth = plane(9999.0, float(np.nextafter(np.float32(9999.0), np.float32(0.0))))
    base = np.zeros((3, 1, 2), np.float32)
    np.testing.assert_array_equal(derived.sky_mask(depth, sky, base)[0, 0], [True, False])


def test_sky_mask_at_zero_depths_is_sky():
    # 0 ≥ 0 · (1 − ε): a zero sky depth is reached by a zero scene depth
    mask = derived.sky_mask(plane(0.0), plane(0.0), np.zeros((3, 1, 1), np.float32))
    assert mask.shape == (1, 1, 1) and bool(mask[0, 0, 0])


# sky_mask_original: depth 32768 cm normalises to 0.5, so the rule is sky_depth / 0.5 − 1e-9 ≤ 1


def test_original_rule_boundary_in_float32():
    depth = plane(32768.0, 32768.0, 32768.0, 32768.0)
    sky = plane(0.5, 0.75, 0.25, 1.2)
    # ratios 1.0 (1 − 1e-9 rounds to 1.0 in float32: ≤ 1 holds, < 1 would not), 1.5, 0.5, 2.4
    base = np.zeros((3, 1, 4), np.float32)
    mask = derived.sky_mask_original(depth, sky, base)
    assert mask.shape == (1, 1, 4) and mask.dtype == bool
    np.testing.assert_array_equal(mask[0, 0], [True, False, True, False])


def test_original_rule_subtracts_its_tolerance_in_float64():
    # a float64 sky depth keeps the 1e-9: ratio exactly 1.0 gives 1 − 1e-9 ≤ 1 (1 + 1e-9 would fail)
    depth = plane(32768.0)
    sky = plane(0.5, dtype=np.float64)
    mask = derived.sky_mask_original(depth, sky, np.zeros((3, 1, 1), np.float32))
    assert bool(mask[0, 0, 0])


def test_original_rule_is_a_ratio_not_a_product():
    # 0.75 / 0.5 = 1.5 > 1 (not sky) although 0.75 · 0.5 = 0.375 ≤ 1; 0.2 / 0.25 = 0.8 ≤ 1 (sky)
    depth = plane(32768.0, 16384.0)  # normalised 0.5 and 0.25
    sky = plane(0.75, 0.2)  # ratios 1.5 and 0.8
    mask = derived.sky_mask_original(depth, sky, np.zeros((3, 1, 2), np.float32))
    np.testing.assert_array_equal(mask[0, 0], [False, True])


def test_original_rule_base_colour_summed_per_pixel():
    # all pixels far (sky 0 / depth 0.5 = 0); base colour sums 0, 0.5, 0 (negative parts), 1.5
    depth = plane(32768.0, 32768.0, 32768.0, 32768.0)
    sky = plane(0.0, 0.0, 0.0, 0.0)
    base = np.zeros((3, 1, 4), np.float32)
    base[1, 0, 1] = 0.5
    base[:, 0, 2] = (0.25, -0.5, 0.25)
    base[:, 0, 3] = 0.5
    mask = derived.sky_mask_original(depth, sky, base)
    assert mask.shape == (1, 1, 4)
    np.testing.assert_array_equal(mask[0, 0], [True, False, True, False])


def test_original_rule_per_pixel_over_two_rows():
    # (1, 2, 2): only the pixel at row 1, column 0 has a base colour
    depth = np.full((1, 2, 2), 32768.0, np.float32)
    sky = np.zeros((1, 2, 2), np.float32)
    base = np.zeros((3, 2, 2), np.float32)
    base[2, 1, 0] = 0.3
    mask = derived.sky_mask_original(depth, sky, base)
    assert mask.shape == (1, 2, 2)
    np.testing.assert_array_equal(mask[0], [[True, True], [False, True]])


def test_original_rule_at_zero_depth_raises_no_floating_point_error():
    # x / 0 (divide) and 0 / 0 (invalid) are silenced: inf − 1e-9 ≤ 1 and NaN ≤ 1 are both false
    depth = plane(0.0, 0.0)
    sky = plane(1.0, 0.0)
    with np.errstate(all="raise"):
        mask = derived.sky_mask_original(depth, sky, np.zeros((3, 1, 2), np.float32))
    np.testing.assert_array_equal(mask[0, 0], [False, False])


# convert_frame


def test_convert_frame_reads_a_float16_sky_depth():
    h, w = 1, 3
    raw = {f: np.full((len(ch), h, w), 0.5, np.float16) for f, ch in derived.SOURCE_CHANNELS.items()}
    raw["BaseColor"][:, 0, 2] = 0.0  # pixels 0 and 2 have no base colour
    raw["BaseColor"][:, 0, 0] = 0.0
    raw["VelocityDepth"] = np.stack([np.zeros((h, w), np.float16)] * 2 + [np.full((h, w), 700.0, np.float16)])
    raw["SkyDepth"] = np.array([[[700.0, 700.0, 800.0]]], np.float16)  # scene depth 700 reaches 700, not 800
    values = derived.convert_frame(raw, brdf_lut.load_lut())
    np.testing.assert_array_equal(values["skybox_mask"][0, 0], [True, False, False])
    # a sky pixel's demodulation colour is the sky colour (0.5)
    np.testing.assert_array_equal(values["brdf_color"][:, 0, 0], np.float32([0.5, 0.5, 0.5]))
