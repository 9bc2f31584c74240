"""Analytic animation: positions and rotations as closed-form functions of time.

Everything is evaluated at an arbitrary time t (seconds), so frame k (t = k/60) and the frame before it
(t = (k−1)/60, also for k = 0) come from the same formula; this is what makes the exported velocity exact.
World axes: right-handed, Z up, centimetres (UE units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Vec3 = tuple[float, float, float]
ZERO: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Path3:
    """A point moving as `origin + velocity·t + orbit(t) + sway(t)`, cm.

    orbit: a horizontal ellipse around the origin with semi-axes `orbit = (rx, ry)` (a circle when
    equal), `orbit_deg_s` degrees per second, starting at `orbit_phase_deg`; an ellipse keeps a camera
    moving at a speed that never drops to zero while staying in a bounded region for any frame count.
    sway: `sway·sin(2π·sway_hz·t + sway_phase)` per axis.
    """

    origin: Vec3
    velocity: Vec3 = ZERO
    orbit: tuple[float, float] = (0.0, 0.0)
    orbit_deg_s: float = 0.0
    orbit_phase_deg: float = 0.0
    sway: Vec3 = ZERO
    sway_hz: float = 0.0
    sway_phase: float = 0.0

    @property
    def is_static(self) -> bool:
        return (not any(self.velocity) and not (any(self.orbit) and self.orbit_deg_s)
                and not (self.sway_hz and any(self.sway)))

    def at(self, t: float) -> np.ndarray:
        """Position (3,) in cm at time t (s)."""
        p = np.asarray(self.origin, np.float64) + np.asarray(self.velocity, np.float64) * t
        if any(self.orbit):
            a = math.radians(self.orbit_phase_deg + self.orbit_deg_s * t)
            p = p + np.array([self.orbit[0] * math.cos(a), self.orbit[1] * math.sin(a), 0.0])
        if self.sway_hz:
            p = p + np.asarray(self.sway, np.float64) * math.sin(2 * math.pi * self.sway_hz * t + self.sway_phase)
        return p


@dataclass(frozen=True)
class Motion:
    """Rigid motion of an object: rotation `spin(t) · rest` about the object's own centre, then the
    translation `path(t)`. `rest` is a fixed yaw (about Z) then pitch (about the rotated X), degrees;
    spin is `spin_deg_s` degrees per second about `spin_axis` (object-local, unit after normalising)."""

    path: Path3
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    spin_axis: Vec3 = (0.0, 0.0, 1.0)
    spin_deg_s: float = 0.0

    @property
    def is_static(self) -> bool:
        return self.path.is_static and not self.spin_deg_s

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(R (3, 3), T (3,)) at time t: world = R · local + T, cm."""
        rest = rotation((0.0, 0.0, 1.0), self.yaw_deg) @ rotation((1.0, 0.0, 0.0), self.pitch_deg)
        r = rest @ rotation(self.spin_axis, self.spin_deg_s * t)
        return r, self.path.at(t)


def still(x: float, y: float, z: float, *, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> Motion:
    """A motion that stays put (static geometry)."""
    return Motion(Path3((x, y, z)), yaw_deg=yaw_deg, pitch_deg=pitch_deg)


def rotation(axis: Vec3, degrees: float) -> np.ndarray:
    """Rotation matrix (3, 3) of `degrees` about `axis` (Rodrigues)."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    th = math.radians(degrees)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(th) * k + (1.0 - math.cos(th)) * (k @ k)


def pulse(t: float, hz: float, phase: float, depth: float = 0.85) -> float:
    """Smooth periodic factor in [1 − depth, 1] (pulsing emission)."""
    return 1.0 - depth * 0.5 * (1.0 - math.cos(2 * math.pi * hz * t + phase))
