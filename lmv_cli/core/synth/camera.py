"""Perspective camera: animation rig, pixel rays and projection to NDC.

Conventions (the same as the Blender captures' `camera.json`): the camera looks down its local −Z, its
rotation matrix has columns (right, up, −forward); NDC x right, y **up**, [−1, 1] across the full
width/height; pixel (i, j) has its centre at NDC ((j + ½)/W·2 − 1, 1 − (i + ½)/H·2). One ray per pixel
centre, no jitter (no anti-aliasing), so a surface point's NDC in the current frame is exactly its
pixel centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lmv_cli.core.synth.motion import Path3, rotation

NEAR_CM = 10.0
"""Near plane written into the OpenGL-style projection matrix (nothing is clipped by it)."""


@dataclass(frozen=True)
class Camera:
    """One camera pose. `rot` columns: right, up, −forward; positions in cm."""

    position: np.ndarray  # (3,) cm
    rot: np.ndarray  # (3, 3)
    fov_x_deg: float
    width: int
    height: int

    @property
    def forward(self) -> np.ndarray:
        return -self.rot[:, 2]

    @property
    def scale(self) -> tuple[float, float]:
        """Projection scales (P00, P11): NDC = scale · (x, y) / depth in camera space."""
        sx = 1.0 / math.tan(math.radians(self.fov_x_deg) / 2.0)
        return sx, sx * self.width / self.height

    @property
    def fov_y_deg(self) -> float:
        return math.degrees(2.0 * math.atan(1.0 / self.scale[1]))

    def rays(self, ndc: np.ndarray) -> np.ndarray:
        """World directions (N, 3) through NDC points (N, 2), scaled so that `dot(d, forward) = 1`:
        a ray parameter is then the planar depth in cm."""
        sx, sy = self.scale
        local = np.stack([ndc[:, 0] / sx, ndc[:, 1] / sy, -np.ones(len(ndc))], axis=1)
        return local @ self.rot.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3), cm → NDC (N, 2), x right, y up."""
        return self.project_dirs(points - self.position)

    def project_dirs(self, dirs: np.ndarray) -> np.ndarray:
        """World directions (N, 3) (points at infinity) → NDC (N, 2). Points behind the camera get a
        tiny positive depth instead of a division by zero (finite, meaningless values)."""
        local = dirs @ self.rot
        depth = np.maximum(-local[:, 2], 1e-6)
        sx, sy = self.scale
        return np.stack([sx * local[:, 0] / depth, sy * local[:, 1] / depth], axis=1)

    def projection(self) -> list[list[float]]:
        """OpenGL-style 4×4 projection (infinite far plane), near plane in metres as in `camera.json`."""
        sx, sy = self.scale
        n = NEAR_CM / 100.0
        return [[sx, 0.0, 0.0, 0.0], [0.0, sy, 0.0, 0.0], [0.0, 0.0, -1.0, -2.0 * n], [0.0, 0.0, -1.0, 0.0]]


@dataclass(frozen=True)
class CameraRig:
    """An animated camera: eye and look-at target each follow a `Path3`; `roll` sways about the view
    axis (degrees, `roll_deg·sin(2π·roll_hz·t)`)."""

    eye: Path3
    target: Path3
    fov_x_deg: float = 70.0
    roll_deg: float = 0.0
    roll_hz: float = 0.0

    def pose(self, t: float, width: int, height: int) -> Camera:
        """The camera at time t (s) for a width×height image."""
        eye, target = self.eye.at(t), self.target.at(t)
        fwd = target - eye
        fwd = fwd / np.linalg.norm(fwd)
        right = np.cross(fwd, (0.0, 0.0, 1.0))
        right = right / np.linalg.norm(right)
        up = np.cross(right, fwd)
        rot = np.stack([right, up, -fwd], axis=1)
        if self.roll_hz:
            rot = rotation(tuple(fwd), self.roll_deg * math.sin(2 * math.pi * self.roll_hz * t)) @ rot
        return Camera(eye, rot, self.fov_x_deg, width, height)


def pixel_ndc(width: int, height: int) -> np.ndarray:
    """NDC of every pixel centre, (H·W, 2) in row-major order (row 0 = top image row), y up."""
    x = (np.arange(width, dtype=np.float64) + 0.5) / width * 2.0 - 1.0
    y = 1.0 - (np.arange(height, dtype=np.float64) + 0.5) / height * 2.0
    xx, yy = np.meshgrid(x, y)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def camera_record(cam: Camera) -> dict:
    """The per-frame entry of `camera.json`, in the Blender captures' format (matrices in metres,
    `position_cm` in cm)."""
    c2w = np.eye(4)
    c2w[:3, :3] = cam.rot
    c2w[:3, 3] = cam.position / 100.0
    return {
        "cam_to_world": c2w.tolist(),
        "world_to_cam": np.linalg.inv(c2w).tolist(),
        "projection": cam.projection(),
        "position_cm": cam.position.tolist(),
        "forward": cam.forward.tolist(),
        "up": cam.rot[:, 1].tolist(),
        "right": cam.rot[:, 0].tolist(),
        "fov_x_deg": cam.fov_x_deg,
        "fov_y_deg": cam.fov_y_deg,
    }
