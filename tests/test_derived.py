"""Golden and analytic tests of every export → store conversion (`lmv_cli.core.derived`, docs/store.md#derived-buffers)."""

from __future__ import annotations

import numpy as np
import pytest

from lmv_cli.core import brdf_lut, derived
from lmv_cli.core.conventions import normalize_depth
from lmv_cli.core.schema import SKY_DEPTH_CM


def plane(*values, dtype=np.float32) -> np.ndarray:
    """(1, 1, N) image of the given pixel values."""
    return np.array(values, dtype=dtype).reshape(1, 1, -1)


def test_replace_nonfinite_float32_and_float16():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0], dtype=np.float32)
    assert derived.replace_nonfinite(x) == 3
    np.testing.assert_array_equal(x, [1.0, 0.0, 0.0, 0.0, -2.0])
    h = np.array([65504.0, np.nan, -np.inf, 0.5], dtype=np.float16)
    assert derived.replace_nonfinite(h) == 2
    np.testing.assert_array_equal(h, np.float16([65504.0, 0.0, 0.0, 0.5]))
    clean = np.ones(3, dtype=np.float16)
    assert derived.replace_nonfinite(clean) == 0


def test_st_color_is_premultiplied_translucency_clamped_at_zero():
    scene = np.full((3, 1, 2), 1.0, np.float32)
    no_st = np.array([[[0.8, 3.0]]] * 3, np.float32)
    alpha = plane(0.5, 0.5)
    np.testing.assert_allclose(derived.st_color(scene, no_st, alpha)[:, 0], [[0.6, 0.0]] * 3, atol=1e-7)


def test_sky_mask_compares_depths_in_cm():
    sky_cm = plane(*[SKY_DEPTH_CM] * 5)
    depth = plane(SKY_DEPTH_CM, SKY_DEPTH_CM * (1 - 0.5e-4), SKY_DEPTH_CM * 0.999, 5000.0, SKY_DEPTH_CM)
    base = np.zeros((3, 1, 5), np.float32)
    base[1, 0, 4] = 0.2  # a surface at sky distance with a base colour is not sky
    mask = derived.sky_mask(depth, sky_cm, base)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask[0, 0], [True, True, False, False, False])


def test_original_sky_rule_is_the_unit_defect_and_ours_fixes_it():
    """The original divides scene depth by 65536 but not sky depth (docs/store.md#derived-buffers): for real sky pixels
    (depth = sky depth = 1e6 cm) its test `sky_depth / depth − 1e-9 ≤ 1` is 1e6 ≤ 1, false, so the
    mask is empty. Comparing both in cm marks them."""
    sky_cm = plane(SKY_DEPTH_CM, SKY_DEPTH_CM, SKY_DEPTH_CM)
    depth = plane(SKY_DEPTH_CM, SKY_DEPTH_CM, 800.0)
    base = np.zeros((3, 1, 3), np.float32)
    base[:, 0, 2] = 0.5
    assert not derived.sky_mask_original(depth, sky_cm, base).any()
    np.testing.assert_array_equal(derived.sky_mask(depth, sky_cm, base)[0, 0], [True, True, False])


def test_specular_color_is_the_originals_expression_not_ues_lerp():
    albedo = np.full((3, 1, 2), 0.5, np.float32)
    metallic = plane(0.0, 1.0)
    specular = plane(0.5, 0.5)
    spec = derived.specular_color(albedo, metallic, specular)[:, 0]
    # 0.08·0.5·0.5 + (1 − 0.04)·m: 0.02 for a dielectric, 0.98 for a metal (UE's lerp would give 0.5)
    np.testing.assert_allclose(spec, [[0.02, 0.98]] * 3, atol=1e-7)


def frame(albedo, metallic, specular, roughness, nov, sky) -> dict[str, np.ndarray]:
    n = len(metallic)
    return {
        "base_color": np.array(albedo, np.float32).T.reshape(3, 1, n),
        "metallic": plane(*metallic), "specular": plane(*specular), "roughness": plane(*roughness),
        "nov": plane(*nov), "sky_color": np.array(sky, np.float32).T.reshape(3, 1, n),
    }  # fmt: skip


def test_brdf_color_golden():
    lut = brdf_lut.load_lut()
    f = frame(
        albedo=[(0.5, 0.5, 0.5), (0.5, 0.25, 0.1), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.8, 0.6, 0.4)],
        metallic=[0.0, 1.0, 0.0, 0.0, 0.0],
        specular=[0.5, 0.5, 0.0, 0.5, 0.5],
        roughness=[0.0, 0.0, 0.0, 0.3, 0.5],
        nov=[1.0, 1.0, 1.0, 0.7, 0.5],
        sky=[(2.0, 3.0, 4.0)] * 5,
    )
    mask = np.array([[[False, False, False, True, False]]])
    brdf = derived.brdf_color(f, mask, lut)[:, 0].T
    # NoV = 1, r = 0 → LUT (1, 0): brdf = albedo (1 − m) + specular colour
    np.testing.assert_allclose(brdf[0], [0.52] * 3, atol=1e-6)
    np.testing.assert_allclose(brdf[1], [0.04 * 0.5 + 0.96, 0.04 * 0.25 + 0.96, 0.04 * 0.1 + 0.96], atol=1e-6)
    np.testing.assert_allclose(brdf[2], [0.01] * 3)  # black: floored at 0.01
    np.testing.assert_allclose(brdf[3], [2.0, 3.0, 4.0])  # sky pixel: the sky colour
    scale, bias = brdf_lut.sample_lut(lut, np.float32([[0.5]]), np.float32([[0.5]]))
    # brdf[4] (NoV = r = 0.5) against independent quadrature: tests/test_brdf_color.py
    assert float(scale[0, 0]) == pytest.approx(0.7285, abs=1e-3)


def test_brdf_bands_equal_whole_image():
    """Banded evaluation (for speed) gives exactly the whole-image arithmetic."""
    rng = np.random.default_rng(0)
    h, w = 101, 7  # not a multiple of the band height
    f = {
        "base_color": rng.random((3, h, w), np.float32), "metallic": rng.random((1, h, w), np.float32),
        "specular": rng.random((1, h, w), np.float32), "roughness": rng.random((1, h, w), np.float32),
        "nov": rng.uniform(-0.2, 1, (1, h, w)).astype(np.float32), "sky_color": rng.random((3, h, w), np.float32),
    }  # fmt: skip
    mask = rng.random((1, h, w)) < 0.2
    lut = brdf_lut.load_lut()
    got = derived.brdf_color(f, mask, lut)
    scale, bias = brdf_lut.sample_lut(lut, f["nov"][0], f["roughness"][0])
    spec = derived.specular_color(f["base_color"], f["metallic"], f["specular"])
    whole = f["base_color"] * (1 - f["metallic"]) + scale * spec + bias
    whole = np.maximum(np.where(mask, f["sky_color"], whole), np.float32(0.01))
    np.testing.assert_array_equal(got, whole)


def raw_frame(h: int = 4, w: int = 5, dtype=np.float16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    raw = {f: rng.uniform(0.1, 1.0, (len(ch), h, w)).astype(dtype) for f, ch in derived.SOURCE_CHANNELS.items()}
    raw["VelocityDepth"] = np.stack([np.full((h, w), v, np.float32) for v in (0.1, 0.2, 700.0)])
    raw["SkyDepth"] = np.full((1, h, w), SKY_DEPTH_CM, np.float32)
    return raw


def test_convert_frame_channels_and_motion_vector():
    raw = raw_frame()
    values = derived.convert_frame(raw, brdf_lut.load_lut())
    channels = {k: v.shape[0] for k, v in values.items()}
    assert channels == {
        "scene_color": 3, "scene_color_no_st": 3, "st_alpha": 1, "sky_color": 3, "base_color": 3, "metallic": 1,
        "roughness": 1, "specular": 1, "nov": 1, "world_normal": 3, "depth": 1, "motion_vector": 2,
        "st_color": 3, "skybox_mask": 1, "brdf_color": 3,
    }  # fmt: skip
    assert all(v.dtype == np.float32 for k, v in values.items() if k != "skybox_mask")
    np.testing.assert_array_equal(values["motion_vector"][0], np.float32(0.1))  # x kept
    np.testing.assert_array_equal(values["motion_vector"][1], np.float32(-0.2))  # y up → y down
    np.testing.assert_array_equal(values["depth"][0], np.float32(700.0))  # cm, untouched
    np.testing.assert_array_equal(values["metallic"][0], raw["MetallicRoughnessStencil"][0].astype(np.float32))
    np.testing.assert_array_equal(values["roughness"][0], raw["MetallicRoughnessStencil"][1].astype(np.float32))
    np.testing.assert_array_equal(values["nov"][0], raw["NoVSpecular"][0].astype(np.float32))
    np.testing.assert_array_equal(values["specular"][0], raw["NoVSpecular"][1].astype(np.float32))
    assert not values["skybox_mask"].any()  # every base colour is > 0


def test_storage_frame_keeps_half_sources_and_casts_the_rest():
    raw = raw_frame()
    values = derived.convert_frame(raw, brdf_lut.load_lut())
    dtypes = {"scene_color": np.dtype(np.float16), "st_color": np.dtype(np.float16),
              "depth": np.dtype(np.float32), "skybox_mask": np.dtype(np.uint8)}  # fmt: skip
    stored = derived.storage_frame(raw, values, dtypes)
    assert np.shares_memory(stored["scene_color"], raw["SceneColor"])  # no round trip through float32
    assert stored["st_color"].dtype == np.float16
    np.testing.assert_array_equal(stored["st_color"], values["st_color"].astype(np.float16))
    assert stored["depth"].dtype == np.float32 and stored["skybox_mask"].dtype == np.uint8


def test_to_storage_clamps_float16_and_keeps_float32_exact():
    x = np.array([1e6, -1e6, 1.0009765625, 3.14159], np.float32)
    np.testing.assert_array_equal(derived.to_storage(x, np.float16), np.float16([65504, -65504, 1.0009765625, 3.14159]))
    assert np.isfinite(derived.to_storage(x, np.float16)).all()
    same = derived.to_storage(x, np.float32)
    np.testing.assert_array_equal(same, x)
    np.testing.assert_array_equal(derived.to_storage(np.array([True, False]), np.uint8), [1, 0])


def test_normalize_depth_numpy_and_torch():
    import torch

    depth = np.float32([0.0, 32768.0, 65536.0, 1e6])
    normalized = normalize_depth(depth)
    assert normalized.dtype == np.float32
    np.testing.assert_allclose(normalized, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(normalize_depth(torch.from_numpy(depth)).numpy(), normalized)


def test_half_table_is_numpys_float16_conversion():
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    expected = bits.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(derived.half_table().view(np.uint32), expected.view(np.uint32))
    assert derived.half_table()[0x3C00] == 1.0 and derived.half_table()[0x0001] == np.float32(2.0**-24)
