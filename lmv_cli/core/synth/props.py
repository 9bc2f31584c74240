"""Reusable scene pieces: ground, sky, lamps, screens, glass, and a builder that numbers stencils.

Every piece takes the scene's random generator, so a seed jitters colours, placements and phases
while the scene keeps its character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lmv_cli.core.synth.materials import Material, Pattern
from lmv_cli.core.synth.motion import Motion, Path3, Vec3, still
from lmv_cli.core.synth.primitives import Shape
from lmv_cli.core.synth.world import SceneObject, Sky

INF = math.inf
GLASS_TINTS: tuple[Vec3, ...] = ((0.9, 0.25, 0.1), (0.1, 0.55, 0.9), (0.2, 0.8, 0.25), (0.95, 0.75, 0.1), (0.7, 0.2, 0.85))


@dataclass
class Builder:
    """Collects objects and numbers their custom stencil 1, 2, 3, … in insertion order."""

    rng: np.random.Generator
    objects: list[SceneObject] = field(default_factory=list)

    def add(self, name: str, shape: Shape, half: Vec3, material: Material, motion: Motion,
            casts_shadow: bool = True) -> None:
        stencil = len(self.objects) + 1
        self.objects.append(SceneObject(name, shape, half, material, motion, stencil, casts_shadow))

    def phase(self) -> float:
        """A random phase in radians."""
        return float(self.rng.uniform(0.0, 2.0 * math.pi))

    def color(self, lo: float = 0.15, hi: float = 0.85) -> Vec3:
        """A random saturated-ish linear colour."""
        c = self.rng.uniform(lo, hi, 3)
        c[self.rng.integers(3)] *= 0.3
        return tuple(float(x) for x in c)

    def jitter(self, x: float, spread: float) -> float:
        return float(x + self.rng.uniform(-spread, spread))


def sky(b: Builder, clouds: float = 0.5) -> Sky:
    """A blue sky with some clouds; tint and cloud layout depend on the seed."""
    tint = b.rng.uniform(-0.05, 0.05, 3)
    zenith = tuple(float(x) for x in np.array([0.10, 0.22, 0.62]) + tint)
    horizon = tuple(float(x) for x in np.array([0.45, 0.55, 0.70]) + tint)
    return Sky(zenith, horizon, (0.18, 0.16, 0.14), clouds=clouds, cloud_seed=b.phase())


def ground(b: Builder, period: float = 100.0, glossy: bool = True) -> None:
    """An infinite checkered floor at z = 0 (partly glossy), which never shadows anything."""
    c1 = (0.5, 0.5, 0.47)
    c2 = tuple(0.25 * x for x in b.color(0.4, 0.9))
    mat = Material(c1, c2, Pattern.CHECKER, period, roughness=0.7, roughness2=0.3 if glossy else 0.7)
    b.add("ground", Shape.QUAD, (INF, INF, 0.0), mat, still(0.0, 0.0, 0.0), casts_shadow=False)


def lamp(b: Builder, at: Path3, radius: float, color: Vec3, hz: float) -> None:
    """A pulsing emissive sphere (it lights nothing; it is the thing that glows)."""
    mat = Material((0.8, 0.8, 0.8), emissive=tuple(8.0 * c for c in color), pulse_hz=hz, pulse_phase=b.phase(),
                   roughness=0.4)
    b.add("lamp", Shape.SPHERE, (radius, radius, radius), mat, Motion(at), casts_shadow=False)


def screen(b: Builder, x: float, y: float, z: float, yaw_deg: float, half_w: float, half_h: float) -> None:
    """A vertical billboard whose emissive stripes scroll (texture animation without geometry motion)."""
    mat = Material((0.05, 0.05, 0.06), b.color(0.5, 1.0), Pattern.STRIPES, 45.0, scroll_cm_s=(b.jitter(70.0, 20.0), 0.0),
                   emissive=(2.5, 2.2, 1.6), emissive_pattern=True, roughness=0.3)
    b.add("screen", Shape.QUAD, (half_w, half_h, 0.0), mat, still(x, y, z, yaw_deg=yaw_deg, pitch_deg=90.0))


def water(b: Builder, x: float, y: float, half: float) -> None:
    """A glossy pool with scrolling waves, just above the floor."""
    mat = Material((0.05, 0.18, 0.25), (0.12, 0.35, 0.45), Pattern.WAVES, 60.0, scroll_cm_s=(25.0, 12.0),
                   roughness=0.12, specular=0.6)
    b.add("water", Shape.QUAD, (half, half, 0.0), mat, still(x, y, 0.5))


def mirror_ball(b: Builder, at: Path3, radius: float) -> None:
    """A polished metal sphere (reflects the sky and the scene)."""
    tint = tuple(0.75 + 0.2 * c for c in b.color(0.5, 1.0))
    b.add("mirror", Shape.SPHERE, (radius, radius, radius), Material(tint, metallic=1.0, roughness=0.05), Motion(at))


def glass(b: Builder, motion: Motion, half: Vec3, alpha: float, shape: Shape = Shape.QUAD) -> None:
    """A tinted alpha-blended translucent object (separate translucency)."""
    hue = GLASS_TINTS[int(b.rng.integers(len(GLASS_TINTS)))]
    mat = Material(hue, alpha=alpha, roughness=0.1, specular=0.5)
    b.add("glass", shape, half, mat, motion, casts_shadow=False)


def textured(b: Builder, pattern: Pattern, period: float, metallic: float = 0.0, roughness: float = 0.5) -> Material:
    """An opaque two-colour material with random colours."""
    return Material(b.color(), b.color(), pattern, period, metallic=metallic, roughness=roughness)
