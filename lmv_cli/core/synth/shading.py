"""Sky, lights with ray-traced shadows, a UE-like BRDF, reflections and translucency compositing.

All radiance is linear HDR. The BRDF is Lambert plus normalised Blinn-Phong with Schlick Fresnel and
`F0 = lerp(0.08·specular, base, metallic)` (UE's convention); image-based light is the sky, mirror-like
surfaces (roughness < `MIRROR_ROUGHNESS`) trace one reflection ray into the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lmv_cli.core.synth.materials import Surface
from lmv_cli.core.synth.trace import SHADOW_BIAS_CM, Posed, gather, nearest, occluded
from lmv_cli.core.synth.world import Sky, SynthScene

MIRROR_ROUGHNESS = 0.45
"""Below this roughness the specular environment is a traced reflection, blurred toward ambient."""

_SUN_COS_IN, _SUN_COS_OUT = math.cos(math.radians(1.6)), math.cos(math.radians(2.8))


@dataclass(frozen=True)
class Lighting:
    """The scene's lights evaluated at one shading time."""

    scene: SynthScene
    sun_dir: np.ndarray  # (3,) unit, toward the sun
    points: tuple[tuple[np.ndarray, np.ndarray], ...]  # (position cm (3,), irradiance at 100 cm (3,))
    casters: list[Posed]  # opaque objects for shadow and reflection rays


def lighting(scene: SynthScene, shading_t: float, casters: list[Posed]) -> Lighting:
    """Freeze the lights at `shading_t`."""
    points = tuple((pl.path.at(shading_t), np.asarray(pl.color, np.float64)) for pl in scene.lights)
    return Lighting(scene, scene.sun.direction(shading_t), points, casters)


def sky_radiance(sky: Sky, sun_dir: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Sky radiance (N, 3) seen along unit directions d (N, 3): a function of direction only."""
    z = d[:, 2]
    zen, hor, gnd = (np.asarray(c, np.float64) for c in (sky.zenith, sky.horizon, sky.ground))
    up = np.clip(z, 0.0, 1.0)[:, None] ** 0.6
    below = np.exp(np.minimum(z, 0.0) * 10.0)[:, None]
    col = np.where((z >= 0)[:, None], hor + (zen - hor) * up, gnd + (hor - gnd) * below)
    # Clouds on a virtual layer above the camera, faded out toward the horizon (band limit).
    q = d[:, :2] / (np.maximum(z, 0.0) + 0.3)[:, None]
    s = sky.cloud_seed
    field = (np.sin(2.1 * q[:, 0] + 1.3 * q[:, 1] + s) + np.sin(-1.1 * q[:, 0] + 2.6 * q[:, 1] + 2 * s)
             + 0.6 * np.sin(4.3 * q[:, 0] - 3.1 * q[:, 1] + 3 * s)) / 2.6
    cover = np.clip((field - (1.0 - 2.0 * sky.clouds)) * 1.5, 0.0, 1.0) * np.clip(z / 0.25, 0.0, 1.0)
    col = col + cover[:, None] * (np.array([1.1, 1.1, 1.15]) - col) * 0.8
    cos = d @ sun_dir
    disc = np.clip((cos - _SUN_COS_OUT) / (_SUN_COS_IN - _SUN_COS_OUT), 0.0, 1.0)
    glow = 0.6 * np.maximum(cos, 0.0) ** 64 + 0.15 * np.maximum(cos, 0.0) ** 6
    return col + (25.0 * disc + glow)[:, None] * np.array([1.0, 0.92, 0.8])


def ambient(scene: SynthScene, n: np.ndarray) -> np.ndarray:
    """Hemispherical sky light (N, 3) for unit normals n (N, 3)."""
    sky = scene.sky
    top = 0.5 * (np.asarray(sky.zenith) + np.asarray(sky.horizon))
    w = (0.5 + 0.5 * n[:, 2])[:, None]
    return scene.ambient * (np.asarray(sky.ground) + (top - np.asarray(sky.ground)) * w)


def shade_opaque(light: Lighting, p: np.ndarray, n: np.ndarray, v: np.ndarray, surf: Surface,
                 spread: np.ndarray, shading_t: float) -> np.ndarray:
    """Radiance (N, 3) leaving opaque surface points toward the camera. p, n, v: (N, 3) position cm,
    unit normal, unit direction to the camera; spread: (N,) pixel footprint for reflected textures."""
    diffuse = surf.base * (1.0 - surf.metallic)[:, None]
    out = direct(light, p, n, v, surf, two_sided=False)
    out += diffuse * ambient(light.scene, n)
    out += _fresnel_env(surf, n, v) * environment(light, p, n, v, surf, spread, shading_t)
    return out + surf.emission


def shade_translucent(light: Lighting, p: np.ndarray, n: np.ndarray, v: np.ndarray, surf: Surface) -> np.ndarray:
    """Premultiplied radiance (N, 3) of translucent layers (alpha-blended, lit from both sides, shadowed
    by opaque objects, reflecting the sky)."""
    col = direct(light, p, n, v, surf, two_sided=True) + surf.base * ambient(light.scene, n)
    refl = sky_radiance(light.scene.sky, light.sun_dir, _reflect(n, v))
    col += _fresnel_env(surf, n, v) * refl
    return surf.alpha[:, None] * col + surf.emission


def direct(light: Lighting, p: np.ndarray, n: np.ndarray, v: np.ndarray, surf: Surface, *, two_sided: bool) -> np.ndarray:
    """Sun and point lights with shadow rays (N, 3)."""
    out = np.zeros_like(p)
    sources = [(np.broadcast_to(light.sun_dir, p.shape), np.broadcast_to(light.scene.sun.color, p.shape), np.inf)]
    for pos, color in light.points:
        to = pos - p
        dist = np.linalg.norm(to, axis=1)
        sources.append((to / dist[:, None], color * (100.0 / np.maximum(dist, 60.0))[:, None] ** 2, dist))
    f0 = _f0(surf)
    for ldir, irr, t_max in sources:
        nol = np.einsum("ij,ij->i", n, ldir)
        side = np.where(nol < 0.0, -1.0, 1.0) if two_sided else np.ones(len(n))
        nol = nol * side
        rows = np.nonzero(nol > 0.0)[0]
        if len(rows) == 0:
            continue
        origin = p[rows] + (side[rows, None] * SHADOW_BIAS_CM) * n[rows]
        far = t_max[rows] if isinstance(t_max, np.ndarray) else t_max
        vis = ~occluded(light.casters, origin, ldir[rows], far)
        brdf = _brdf(surf, f0, n[rows] * side[rows, None], v[rows], ldir[rows], rows)
        out[rows] += brdf * irr[rows] * (nol[rows] * vis)[:, None]
    return out


def environment(light: Lighting, p: np.ndarray, n: np.ndarray, v: np.ndarray, surf: Surface,
                spread: np.ndarray, shading_t: float) -> np.ndarray:
    """Specular environment radiance (N, 3): traced reflections (one bounce, the reflected surface lit
    by the sun without shadows and by the sky) on mirror-like pixels, blurred toward ambient light."""
    r = _reflect(n, v)
    blur = np.clip(surf.roughness / MIRROR_ROUGHNESS, 0.0, 1.0)[:, None]
    env = ambient(light.scene, r)
    rows = np.nonzero(surf.roughness < MIRROR_ROUGHNESS)[0]
    if len(rows):
        sharp = sky_radiance(light.scene.sky, light.sun_dir, r[rows])
        origin = p[rows] + SHADOW_BIAS_CM * n[rows]
        t, index = nearest(light.casters, origin, r[rows], SHADOW_BIAS_CM)
        hit = np.nonzero(index >= 0)[0]
        if len(hit):
            h = gather(light.casters, index[hit], origin[hit], r[rows][hit], t[hit], spread[rows][hit] + 0.01 * t[hit],
                       shading_t)
            sun = np.maximum(h.normal @ light.sun_dir, 0.0)[:, None] * np.asarray(light.scene.sun.color) / np.pi
            lit = h.surface.base * (1.0 - h.surface.metallic)[:, None] * (sun + ambient(light.scene, h.normal))
            sharp[hit] = lit + h.surface.emission
        env[rows] = sharp + blur[rows] * (env[rows] - sharp)
    return env


def composite(depths: np.ndarray, premult: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Front-to-back alpha blending of K translucent layers per pixel (UE separate translucency).

    depths: (K, N) ray parameters (inf: no layer); premult: (K, N, 3); alpha: (K, N) opacity.
    Returns (STColor (N, 3) premultiplied radiance, STAlpha (N,) transmittance)."""
    order = np.argsort(depths, axis=0, kind="stable")
    color = np.zeros(premult.shape[1:])
    trans = np.ones(depths.shape[1])
    for k in order:
        cols = np.arange(depths.shape[1])
        color += trans[:, None] * premult[k, cols]
        trans = trans * (1.0 - alpha[k, cols])
    return color, trans


def _reflect(n: np.ndarray, v: np.ndarray) -> np.ndarray:
    nov = np.einsum("ij,ij->i", n, v)
    return 2.0 * nov[:, None] * n - v


def _f0(surf: Surface) -> np.ndarray:
    m = surf.metallic[:, None]
    return 0.08 * surf.specular[:, None] * (1.0 - m) + surf.base * m


def _fresnel_env(surf: Surface, n: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Schlick Fresnel for image-based light, damped for rough surfaces (N, 3)."""
    f0 = _f0(surf)
    nov = np.clip(np.einsum("ij,ij->i", n, v), 0.0, 1.0)
    top = np.maximum(1.0 - surf.roughness, 0.0)[:, None]
    return f0 + np.maximum(top - f0, 0.0) * ((1.0 - nov) ** 5)[:, None]


def _brdf(surf: Surface, f0: np.ndarray, n: np.ndarray, v: np.ndarray, ldir: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Lambert + normalised Blinn-Phong (N, 3) for the `rows` subset."""
    h = ldir + v
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    noh = np.clip(np.einsum("ij,ij->i", n, h), 0.0, 1.0)
    voh = np.clip(np.einsum("ij,ij->i", v, h), 0.0, 1.0)
    a2 = np.maximum(surf.roughness[rows], 0.08) ** 4
    power = np.clip(2.0 / a2 - 2.0, 1.0, 2000.0)
    dist = (power + 2.0) / (2.0 * np.pi) * noh**power
    fres = f0[rows] + (1.0 - f0[rows]) * ((1.0 - voh) ** 5)[:, None]
    diffuse = surf.base[rows] * (1.0 - surf.metallic[rows])[:, None] / np.pi
    return diffuse + fres * (0.25 * dist)[:, None]
