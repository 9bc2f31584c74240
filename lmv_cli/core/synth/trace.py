"""Ray casting against a posed scene: nearest hits, shadow rays, and the surface data at hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmv_cli.core.synth.materials import Surface, evaluate
from lmv_cli.core.synth.primitives import MISS, Shape, intersect, local_normal, texture_coords
from lmv_cli.core.synth.world import SceneObject

SHADOW_BIAS_CM = 0.05
"""Start offset of shadow and reflection rays along the normal (avoids self-intersection)."""

MIN_COS = 0.02
"""Grazing-angle cap when stretching a pixel footprint across a tilted surface."""


@dataclass(frozen=True)
class Posed:
    """An object frozen at one time: world = rot · local + pos."""

    obj: SceneObject
    rot: np.ndarray  # (3, 3)
    pos: np.ndarray  # (3,) cm, also the centre of the bounding sphere
    half: np.ndarray  # (3,) cm
    radius: float  # bounding-sphere radius, cm (inf for an infinite plane)

    def to_local(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (origins (3,) or (N, 3), directions (N, 3)) → local rays (N, 3) each; row
        vectors, so `x @ rot` is `rotᵀ x`."""
        return np.broadcast_to((o - self.pos) @ self.rot, d.shape), d @ self.rot

    def to_world(self, p_local: np.ndarray) -> np.ndarray:
        return p_local @ self.rot.T + self.pos


def pose(objects: tuple[SceneObject, ...], t: float) -> list[Posed]:
    """Every object's transform at time t."""
    posed = []
    for obj in objects:
        rot, pos = obj.motion.at(t)
        half = np.asarray(obj.half, np.float64)
        radius = float(half[0]) if obj.shape is Shape.SPHERE else float(np.linalg.norm(half))
        posed.append(Posed(obj, rot, pos, half, radius))
    return posed


def nearest(posed: list[Posed], o: np.ndarray, d: np.ndarray, t_min: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of rays (origins (3,) or (N, 3), directions (N, 3)) among `posed`:
    (t (N,), index into posed (N,), −1 on a miss)."""
    best = np.full(len(d), MISS)
    index = np.full(len(d), -1, np.int64)
    dd = np.einsum("ij,ij->i", d, d)
    for k, p in enumerate(posed):
        rows = _candidates(p, o, d, dd)
        if len(rows) == 0:
            continue
        ol, dl = p.to_local(o if o.ndim == 1 else o[rows], d[rows])
        t = intersect(p.obj.shape, p.half, ol, dl, t_min)
        closer = t < best[rows]
        best[rows[closer]] = t[closer]
        index[rows[closer]] = k
    return best, index


def occluded(posed: list[Posed], o: np.ndarray, d: np.ndarray, t_max: np.ndarray | float) -> np.ndarray:
    """Whether each ray (origins (N, 3), directions (N, 3)) hits a shadow-casting object before
    parameter `t_max` (shadow rays)."""
    blocked = np.zeros(len(d), bool)
    far = np.broadcast_to(t_max, (len(d),))
    dd = np.einsum("ij,ij->i", d, d)
    for p in posed:
        if not p.obj.casts_shadow:
            continue
        rows = _candidates(p, o, d, dd)
        rows = rows[~blocked[rows]]
        if len(rows) == 0:
            continue
        ol, dl = p.to_local(o[rows], d[rows])
        blocked[rows] |= intersect(p.obj.shape, p.half, ol, dl, SHADOW_BIAS_CM) < far[rows]
    return blocked


def _candidates(p: Posed, o: np.ndarray, d: np.ndarray, dd: np.ndarray) -> np.ndarray:
    """Indices of the rays that can hit `p`: those passing its bounding sphere ahead of their origin.
    A cheap test that spares the exact intersection for most rays (culling)."""
    if not np.isfinite(p.radius):
        return np.arange(len(d))
    oc = p.pos - o  # (3,) or (N, 3): origin → centre
    if oc.ndim == 1:
        b, c = d @ oc, float(oc @ oc) - p.radius**2
    else:
        b, c = np.einsum("ij,ij->i", d, oc), np.einsum("ij,ij->i", oc, oc) - p.radius**2
    return np.nonzero((b * b >= dd * c) & ((b > 0.0) | (c < 0.0)))[0]


@dataclass
class Hits:
    """Geometry and material of N ray hits, in world space."""

    position: np.ndarray  # (N, 3) cm
    normal: np.ndarray  # (N, 3) unit
    local: np.ndarray  # (N, 3) object-local point, cm (fixed on the object: used for velocity)
    index: np.ndarray  # (N,) index into the posed list
    surface: Surface


def gather(posed: list[Posed], index: np.ndarray, o: np.ndarray, d: np.ndarray, t: np.ndarray,
           spread: np.ndarray, shading_t: float) -> Hits:
    """Surface data where rays (o + t·d; o (3,) or (N, 3), d (N, 3)) hit `posed[index]` (all
    index ≥ 0). spread: (N,) cm a pixel covers at the hit, face-on; shading_t: time for materials."""
    n = len(index)
    o = np.broadcast_to(o, d.shape)
    hits = Hits(np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)), index, _empty_surface(n))
    d_len = np.linalg.norm(d, axis=1)
    for k in np.unique(index):
        rows = np.nonzero(index == k)[0]
        p = posed[k]
        ol, dl = p.to_local(o[rows], d[rows])
        pl = ol + t[rows, None] * dl
        nl = local_normal(p.obj.shape, p.half, pl, dl)
        cos = np.abs(np.einsum("ij,ij->i", nl, dl)) / d_len[rows]
        footprint = spread[rows] / np.maximum(cos, MIN_COS)
        surf = evaluate(p.obj.material, texture_coords(p.obj.shape, pl, nl), footprint, shading_t)
        hits.local[rows] = pl
        hits.position[rows] = p.to_world(pl)
        hits.normal[rows] = nl @ p.rot.T
        for name in vars(surf):
            getattr(hits.surface, name)[rows] = getattr(surf, name)
    return hits


def stencils(posed: list[Posed], index: np.ndarray) -> np.ndarray:
    """Custom-stencil id per hit (N,), 0 where index is −1 (sky)."""
    table = np.array([0] + [p.obj.stencil for p in posed], np.float64)
    return table[index + 1]


def _empty_surface(n: int) -> Surface:
    z3 = np.zeros((n, 3))
    z1 = np.zeros(n)
    return Surface(z3.copy(), z1.copy(), z1.copy(), z1.copy(), z3.copy(), np.ones(n))
