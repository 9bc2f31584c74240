"""A synthetic scene: objects, lights, sky and camera, as pure data.

Every object and light carries its own closed-form motion, so the whole world can be evaluated at any
time t (`trace.pose` freezes it for ray casting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmv_cli.core.synth.camera import CameraRig
from lmv_cli.core.synth.materials import Material
from lmv_cli.core.synth.motion import Motion, Path3, Vec3
from lmv_cli.core.synth.primitives import Shape


@dataclass(frozen=True)
class SceneObject:
    """One primitive with its material and motion. `half`: half extents in cm (sphere: radius first).
    `stencil`: the custom-stencil id written to MetallicRoughnessStencil.B (1–255)."""

    name: str
    shape: Shape
    half: Vec3
    material: Material
    motion: Motion
    stencil: int
    casts_shadow: bool = True


@dataclass(frozen=True)
class Sun:
    """Directional light; its direction also places the sun disc in the sky. Azimuth from +X toward
    +Y, elevation above the horizon, degrees; `azimuth_deg_s` turns it over time."""

    azimuth_deg: float
    elevation_deg: float
    color: Vec3
    azimuth_deg_s: float = 0.0

    def direction(self, t: float) -> np.ndarray:
        """Unit vector (3,) from the surface toward the sun at time t."""
        az = np.radians(self.azimuth_deg + self.azimuth_deg_s * t)
        el = np.radians(self.elevation_deg)
        return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


@dataclass(frozen=True)
class PointLight:
    """Point light following `path`; `color` is the irradiance at 100 cm (inverse-square falloff)."""

    path: Path3
    color: Vec3


@dataclass(frozen=True)
class Sky:
    """Procedural sky: vertical gradient, drifting-free clouds (a function of direction only, so the
    sky's motion on screen is exactly the camera rotation), and a sun disc."""

    zenith: Vec3
    horizon: Vec3
    ground: Vec3
    clouds: float = 0.5  # cloud cover, 0..1
    cloud_seed: float = 0.0


@dataclass(frozen=True)
class SynthScene:
    """Everything needed to render any frame of one named scene."""

    name: str
    description: str
    camera: CameraRig
    objects: tuple[SceneObject, ...]
    sun: Sun
    sky: Sky
    lights: tuple[PointLight, ...] = ()
    ambient: float = 1.0
    static_shading: bool = False  # freeze lights, pulses and scrolling textures at t = 0 (tests)

    def shading_time(self, t: float) -> float:
        return 0.0 if self.static_shading else t
