"""Every conversion from UE4 export values to lmv's canonical store buffers, in one place (docs/store.md#derived-buffers).

`convert_frame` turns the raw channels of one frame (as stored in the EXR files, NaN/Inf already
replaced by `replace_nonfinite`) into the 15 canonical buffers as float32; `storage_frame` and
`to_storage` cast them to their store dtypes.
Formulas: docs/capture.md#conventions and docs/store.md#derived-buffers:

- motion_vector = velocity with y negated (UE NDC y up → image NDC y down, `conventions`);
- depth stays planar depth in cm (float32; the network's `min(d, 65536)/65536` is
  `conventions.normalize_depth`);
- st_color = max(SceneColor − SceneColorNoST · STAlpha, 0) (premultiplied separate translucency);
- skybox_mask = (depth_cm ≥ sky_depth_cm · (1 − ε)) ∧ (base_color == 0), both depths in cm. The
  original divides scene depth by 65536 but not sky depth before comparing them, so its mask is almost
  always empty (docs/store.md#derived-buffers); `sky_mask_original` reproduces that rule for the regression test;
- brdf_color = albedo · (1 − metallic) + LUT_scale · specular_color + LUT_bias with the original's
  specular_color = 0.08 · specular · albedo + (1 − 0.08 · specular) · metallic (not UE's lerp), sky
  pixels replaced by the sky colour, floored at 0.01 (the demodulation albedo, docs/store.md#derived-buffers).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lmv_cli.core import brdf_lut
from lmv_cli.core.color import BRDF_FLOOR
from lmv_cli.core.conventions import normalize_depth, velocity_to_motion_vector

SKY_DEPTH_REL_EPS = 1e-4
"""A pixel is sky when its depth reaches the sky depth within this relative tolerance (float32 cm)."""
SPECULAR_F0_SCALE = 0.08
"""UE maps "specular" 0..1 to a dielectric F0 of 0..0.08 (docs/store.md#derived-buffers)."""
FLOAT16_MAX = 65504.0
"""Largest finite float16; colours are clamped to ±this before the cast (docs/store.md#derived-buffers)."""
_BAND_ROWS = 48
"""Rows per band of the BRDF computation: ~60k pixels at 720p, so its temporaries stay in cache."""

SOURCE_CHANNELS: dict[str, tuple[str, ...]] = {
    "SceneColor": ("R", "G", "B"),
    "SceneColorNoST": ("R", "G", "B"),
    "STAlpha": ("R",),
    "SkyColor": ("R", "G", "B"),
    "SkyDepth": ("R",),
    "BaseColor": ("R", "G", "B"),
    "MetallicRoughnessStencil": ("R", "G"),
    "NoVSpecular": ("R", "G"),
    "VelocityDepth": ("R", "G", "B"),
    "WorldNormal": ("R", "G", "B"),
}
"""Export folders and channels a frame is converted from (the stencil and WorldPosition are unused)."""

PASS_THROUGH: dict[str, tuple[str, int, int]] = {
    "scene_color": ("SceneColor", 0, 3),
    "scene_color_no_st": ("SceneColorNoST", 0, 3),
    "st_alpha": ("STAlpha", 0, 1),
    "sky_color": ("SkyColor", 0, 3),
    "base_color": ("BaseColor", 0, 3),
    "metallic": ("MetallicRoughnessStencil", 0, 1),
    "roughness": ("MetallicRoughnessStencil", 1, 1),
    "specular": ("NoVSpecular", 1, 1),
    "nov": ("NoVSpecular", 0, 1),
    "world_normal": ("WorldNormal", 0, 3),
    "depth": ("VelocityDepth", 2, 1),  # cm
}
"""Canonical buffers that are export channels unchanged: buffer -> (folder, first channel, channels),
channels counted in `SOURCE_CHANNELS` order."""


def replace_nonfinite(x: np.ndarray) -> int:
    """Replace NaN and ±Inf in the float16/float32 array `x` by 0, in place; return how many there were.

    float16 is tested on its bits (exponent all ones), which is ~15× faster than numpy's half ufuncs.
    """
    if x.dtype == np.float16:
        bits = x.view(np.uint16)
        bad = (bits & 0x7C00) == 0x7C00
    else:
        bad = ~np.isfinite(x)
    count = int(np.count_nonzero(bad))
    if count:
        x[bad] = 0.0
    return count


def st_color(scene_color: np.ndarray, scene_color_no_st: np.ndarray, st_alpha: np.ndarray) -> np.ndarray:
    """Premultiplied translucency colour (3, H, W): max(scene − no_st · alpha, 0) (docs/store.md#derived-buffers)."""
    return np.maximum(scene_color - scene_color_no_st * st_alpha, 0.0)


def sky_mask(depth_cm: np.ndarray, sky_depth_cm: np.ndarray, base_color: np.ndarray) -> np.ndarray:
    """Sky mask (1, H, W) bool: scene depth at or beyond the sky-only render's depth (both cm) and no
    base colour. Depths (1, H, W), base colour (3, H, W)."""
    far = depth_cm >= sky_depth_cm * np.float32(1.0 - SKY_DEPTH_REL_EPS)
    unlit = np.all(base_color == 0.0, axis=0, keepdims=True)
    return far & unlit


def sky_mask_original(depth_cm: np.ndarray, sky_depth_cm: np.ndarray, base_color: np.ndarray) -> np.ndarray:
    """The original's rule, kept only to pin its defect in a test (docs/store.md#derived-buffers): scene depth normalised
    by 65536, sky depth left in cm, sky where `sky_depth / depth − 1e-9 ≤ 1` and base colour sums to 0."""
    depth = normalize_depth(depth_cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        far = sky_depth_cm / depth - 1e-9 <= 1.0
    return far & (base_color.sum(axis=0, keepdims=True) <= 0.0)


def specular_color(base_color: np.ndarray, metallic: np.ndarray, specular: np.ndarray) -> np.ndarray:
    """The original's specular colour (3, H, W): 0.08·s·albedo + (1 − 0.08·s)·metallic (docs/store.md#derived-buffers,
    kept for faithfulness although UE's F0 is lerp(0.08·s, albedo, metallic))."""
    f0 = np.float32(SPECULAR_F0_SCALE) * specular
    return f0 * base_color + (1.0 - f0) * metallic


def brdf_color(frame: Mapping[str, np.ndarray], mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Demodulation colour (3, H, W) float32 from a frame's base_color, metallic, specular, roughness,
    nov and sky_color (canonical names, float32) and its sky mask (1, H, W) bool (docs/store.md#derived-buffers).

    Computed in bands of rows so that the dozen temporaries stay in cache (twice as fast at 720p);
    every pixel's arithmetic is the same as on the whole image.
    """
    names = ("base_color", "metallic", "specular", "roughness", "nov", "sky_color")
    height = mask.shape[1]
    out = np.empty((3, height, mask.shape[2]), dtype=np.float32)
    for y in range(0, height, _BAND_ROWS):
        rows = slice(y, y + _BAND_ROWS)
        out[:, rows] = _brdf_band(*(frame[n][:, rows] for n in names), mask[:, rows], lut)
    return out


def _brdf_band(albedo, metallic, specular, roughness, nov, sky, mask, lut) -> np.ndarray:
    scale, bias = brdf_lut.sample_lut(lut, nov[0], roughness[0])  # (h, W) each
    brdf = albedo * (1.0 - metallic) + scale * specular_color(albedo, metallic, specular) + bias
    brdf = np.where(mask, sky, brdf)
    return np.maximum(brdf, np.float32(BRDF_FLOOR))


def convert_frame(raw: Mapping[str, np.ndarray], lut: np.ndarray) -> dict[str, np.ndarray]:
    """Raw export channels of one frame → the 15 canonical buffers, float32 (mask bool), each (C, H, W).

    `raw` maps every folder of `SOURCE_CHANNELS` to its (C, H, W) channels in that order, float16 or
    float32 as stored in the EXR, finite. Values are not yet cast to their store dtype (`storage_frame`).
    """
    table = half_table()
    values = {
        name: _float32(raw[folder][first : first + n], table) for name, (folder, first, n) in PASS_THROUGH.items()
    }
    values["motion_vector"] = velocity_to_motion_vector(raw["VelocityDepth"][0:2])  # NDC, y down
    values["st_color"] = st_color(values["scene_color"], values["scene_color_no_st"], values["st_alpha"])
    values["skybox_mask"] = sky_mask(values["depth"], _float32(raw["SkyDepth"], table), values["base_color"])
    values["brdf_color"] = brdf_color(values, values["skybox_mask"], lut)
    return values


def storage_frame(
    raw: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray], dtypes: Mapping[str, np.dtype]
) -> dict[str, np.ndarray]:
    """The arrays to store: each buffer of `values` cast to `dtypes[name]` by `to_storage`, except that
    a pass-through buffer whose export channels already have the store dtype is taken from `raw` as is
    (half → float32 → half is exact, so this only skips numpy's slow half conversion)."""
    out = {}
    for name, dtype in dtypes.items():
        source = PASS_THROUGH.get(name)
        if source is not None and raw[source[0]].dtype == dtype:
            folder, first, n = source
            out[name] = raw[folder][first : first + n]
        else:
            out[name] = to_storage(values[name], dtype)
    return out


def to_storage(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a converted buffer to its store dtype: float16 clamps to ±65504 first (an overflow would
    become Inf), bool becomes 0/1 uint8, float32 is kept bit-exact."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return np.clip(x, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
    return np.ascontiguousarray(x, dtype=dtype)


def half_table() -> np.ndarray:
    """(65536,) float32: the value of every float16 bit pattern (0.2 ms to build)."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


def _float32(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """`x` as float32, bit-exact. float16 goes through `half_table`: a lookup is ~1.5x faster than
    numpy's scalar half conversion (0.6 ms saved per 720p plane, ~20 planes a frame)."""
    if x.dtype == np.float16:
        return table.take(np.ascontiguousarray(x).view(np.uint16))
    return x if x.dtype == np.float32 else x.astype(np.float32)
