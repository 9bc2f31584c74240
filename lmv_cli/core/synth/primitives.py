"""Analytic primitives and ray intersection in object-local space.

Rays are intersected in each object's local frame (`o_l = Rᵀ(o − T)`, `d_l = Rᵀd`); the transform is
rigid, so the ray parameter t is the same in both frames, and with `dot(d, forward) = 1` it is the
planar depth in cm. Shapes are centred on the local origin:
- QUAD: the rectangle |x| ≤ hx, |y| ≤ hy of the plane z = 0, two-sided (hx = inf: an infinite plane);
- BOX: |x| ≤ hx, |y| ≤ hy, |z| ≤ hz;
- SPHERE: radius hx.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

MISS = np.inf


class Shape(str, Enum):
    QUAD = "quad"
    BOX = "box"
    SPHERE = "sphere"


def intersect(shape: Shape, half: np.ndarray, o: np.ndarray, d: np.ndarray, t_min: float) -> np.ndarray:
    """Nearest hit parameter t > t_min of local rays (o, d: (N, 3)); `MISS` (inf) where none."""
    if shape is Shape.QUAD:
        return _quad(half, o, d, t_min)
    if shape is Shape.BOX:
        return _box(half, o, d, t_min)
    return _sphere(half[0], o, d, t_min)


def local_normal(shape: Shape, half: np.ndarray, p: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Unit outward normal (N, 3) at local surface points p; a quad's normal faces the ray (two-sided)."""
    if shape is Shape.QUAD:
        n = np.zeros_like(p)
        n[:, 2] = np.where(d[:, 2] > 0.0, -1.0, 1.0)
        return n
    if shape is Shape.BOX:
        rel = np.abs(p) / half
        axis = np.argmax(rel, axis=1)
        n = np.zeros_like(p)
        rows = np.arange(len(p))
        n[rows, axis] = np.sign(p[rows, axis])
        return n
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def texture_coords(shape: Shape, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Coordinates (cm) that move with the object, for procedural textures: (u, v) in a quad's plane,
    the two in-face axes of a box face, and the local 3-D point on a sphere (a solid texture, free of
    seams and pole singularities)."""
    if shape is Shape.QUAD:
        return p[:, :2]
    if shape is Shape.SPHERE:
        return p
    axis = np.argmax(np.abs(n), axis=1)
    u = np.where(axis == 0, p[:, 1], p[:, 0])
    v = np.where(axis == 2, p[:, 1], p[:, 2])
    return np.stack([u, v], axis=1)


def _quad(half: np.ndarray, o: np.ndarray, d: np.ndarray, t_min: float) -> np.ndarray:
    dz = np.where(np.abs(d[:, 2]) < 1e-12, 1e-12, d[:, 2])
    t = -o[:, 2] / dz
    x = o[:, 0] + t * d[:, 0]
    y = o[:, 1] + t * d[:, 1]
    hit = (t > t_min) & (np.abs(x) <= half[0]) & (np.abs(y) <= half[1])
    return np.where(hit, t, MISS)


def _box(half: np.ndarray, o: np.ndarray, d: np.ndarray, t_min: float) -> np.ndarray:
    # Slab test, one axis at a time (reductions over a length-3 axis are slow in numpy); a zero
    # direction component becomes ±1e-12 so that no 0·inf NaN appears.
    near = np.full(len(d), -np.inf)
    far = np.full(len(d), np.inf)
    for a in range(3):
        da = d[:, a]
        inv = 1.0 / np.where(np.abs(da) < 1e-12, np.copysign(1e-12, da), da)
        t1 = (-half[a] - o[:, a]) * inv
        t2 = (half[a] - o[:, a]) * inv
        np.maximum(near, np.minimum(t1, t2), out=near)
        np.minimum(far, np.maximum(t1, t2), out=far)
    t = np.where(near > t_min, near, far)
    return np.where((near <= far) & (t > t_min), t, MISS)


def _sphere(radius: float, o: np.ndarray, d: np.ndarray, t_min: float) -> np.ndarray:
    a = np.einsum("ij,ij->i", d, d)
    b = np.einsum("ij,ij->i", o, d)
    c = np.einsum("ij,ij->i", o, o) - radius * radius
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    near = (-b - root) / a
    far = (-b + root) / a
    t = np.where(near > t_min, near, far)
    return np.where((disc >= 0.0) & (t > t_min), t, MISS)
