"""The demodulation colour (docs/store.md#derived-buffers) against a second, deliberately naive implementation: the
split-sum terms by plain midpoint quadrature over the hemisphere of light directions (not lmv's
importance-sampled table), the colour formula written out per pixel. Checked on `derived.brdf_color`
and on what `pack` stores, so neither expectation is computed by the code under test.

    brdf = albedo·(1 − m) + scale·(0.08·s·albedo + (1 − 0.08·s)·m) + bias,  floored at 0.01,
    sky pixels: the sky colour.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from helpers_export import write_export
from lmv_cli.core import brdf_lut, derived
from lmv_cli.core.store import open_store, pack

# (NoV, roughness) cases: three by quadrature, one mirror (r = 0: scale = 1 − (1 − NoV)^5, bias = (1 − NoV)^5)
CASES = ((0.5, 0.5), (0.8, 0.3), (0.3, 0.8), (200 / 255, 0.0))


@cache
def env_brdf(nov: float, roughness: float, n_theta: int = 300, n_phi: int = 600) -> tuple[float, float]:
    """(scale, bias) = ∫ D·G·(1 − Fc, Fc) / (4·NoV) dω_l over the upper hemisphere, midpoint rule.

    GGX D with α = r², Smith–Schlick G with k = α/2, Fc = (1 − v·h)^5 (Karis 2013, the table's model)."""
    if roughness == 0.0:
        fc = (1.0 - nov) ** 5
        return 1.0 - fc, fc
    a = roughness**2
    k = a / 2
    theta = (np.arange(n_theta) + 0.5) * (math.pi / 2) / n_theta
    phi = (np.arange(n_phi) + 0.5) * (2 * math.pi) / n_phi
    t, p = np.meshgrid(theta, phi, indexing="ij")
    light = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])
    view = np.array([math.sqrt(1 - nov**2), 0.0, nov])[:, None, None]
    half = (view + light) / np.linalg.norm(view + light, axis=0)
    noh, voh, nol = half[2], np.sum(view * half, axis=0), light[2]
    d = a * a / (math.pi * (noh**2 * (a * a - 1) + 1) ** 2)
    g = nov / (nov * (1 - k) + k) * nol / (nol * (1 - k) + k)
    fc = (1 - voh) ** 5
    weight = d * g / (4 * nov) * np.sin(t) * (math.pi / 2 / n_theta) * (2 * math.pi / n_phi)
    return float(np.sum(weight * (1 - fc))), float(np.sum(weight * fc))


def naive_brdf(albedo, metallic, specular, nov, roughness, sky, is_sky) -> list[float]:
    """One pixel, written out."""
    if is_sky:
        return [max(c, 0.01) for c in sky]
    scale, bias = env_brdf(nov, roughness)
    f0 = 0.08 * specular
    return [max(a * (1 - metallic) + scale * (f0 * a + (1 - f0) * metallic) + bias, 0.01) for a in albedo]


def test_the_quadrature_matches_the_study_s_known_value() -> None:
    """Guard on the second implementation: (0.5, 0.5) → (0.729, 0.019) (brdf_lut docstring, docs/store.md#derived-buffers)."""
    scale, bias = env_brdf(0.5, 0.5)
    assert scale == pytest.approx(0.7285, abs=1e-3) and bias == pytest.approx(0.0185, abs=1e-3)


def test_brdf_color_per_pixel() -> None:
    rng = np.random.default_rng(0)
    n = 12
    nov = np.array([CASES[i % 4][0] for i in range(n)], np.float32)
    rough = np.array([CASES[i % 4][1] for i in range(n)], np.float32)
    albedo = rng.uniform(0, 1, (3, n)).astype(np.float32)
    albedo[:, 5] = 0.0  # black dielectric with no specular: floored
    metallic = (rng.random(n) < 0.4).astype(np.float32)
    specular = rng.uniform(0, 1, n).astype(np.float32)
    specular[5], metallic[5] = 0.0, 0.0
    sky = rng.uniform(0.5, 3, (3, n)).astype(np.float32)
    is_sky = np.zeros(n, bool)
    is_sky[[3, 7]] = True
    frame = {"base_color": albedo[:, None], "metallic": metallic[None, None], "specular": specular[None, None],
             "roughness": rough[None, None], "nov": nov[None, None], "sky_color": sky[:, None]}
    got = derived.brdf_color(frame, is_sky[None, None], brdf_lut.load_lut())[:, 0]
    for i in range(n):
        want = naive_brdf(albedo[:, i], metallic[i], specular[i], float(nov[i]), float(rough[i]), sky[:, i], is_sky[i])
        np.testing.assert_allclose(got[:, i], want, atol=1e-3, err_msg=f"pixel {i}")
    assert env_brdf(*CASES[5 % 4])[1] < 0.01  # pixel 5's colour is its bias alone, below the floor
    np.testing.assert_allclose(got[:, 5], 0.01)


def test_packed_brdf_color_is_the_naive_one(tmp_path: Path) -> None:
    """What `pack` stores (float16) equals the naive colour of the EXR inputs, sky rows included."""
    h, w = 8, 12

    def controlled(k: int, arrays: dict) -> None:
        cols = np.arange(w) % 4
        arrays["NoVSpecular"][0] = np.array([CASES[c][0] for c in cols])[None].repeat(h, 0)
        arrays["MetallicRoughnessStencil"][1] = np.array([CASES[c][1] for c in cols])[None].repeat(h, 0)

    export = write_export(tmp_path / "export" / "s", frames=1, height=h, width=w, edit=controlled).parent
    pack(export, tmp_path / "s.zarr", workers=1)
    stored = open_store(tmp_path / "s.zarr").scene("s").frame(0)["brdf_color"].astype(np.float64)
    from lmv_cli.core import exr

    def read(folder: str, names: str) -> np.ndarray:
        planes = exr.read_channels(export / "s" / folder / "frame_0.EXR", names)
        return np.stack([p.astype(np.float64) for p in planes.values()])

    base, sky = read("BaseColor", "RGB"), read("SkyColor", "RGB")
    mrs, nvs = read("MetallicRoughnessStencil", "RG"), read("NoVSpecular", "RG")
    is_sky = np.zeros((h, w), bool)
    is_sky[: max(1, h // 4)] = True  # helpers_export: sky rows on top, base colour 0, depth = sky depth
    for y in range(h):
        for x in range(w):
            nov, rough = CASES[x % 4]
            want = naive_brdf(base[:, y, x], mrs[0, y, x], nvs[1, y, x], nov, rough, sky[:, y, x], is_sky[y, x])
            np.testing.assert_allclose(stored[:, y, x], want, rtol=2e-3, atol=1e-3, err_msg=f"pixel ({y}, {x})")
