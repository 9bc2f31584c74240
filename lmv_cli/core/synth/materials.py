"""Materials and band-limited procedural textures.

Textures are evaluated in object-space coordinates (`primitives.texture_coords`), so they move with
their object and the velocity describes them exactly, unless the material scrolls its pattern (an
animated texture: shading motion that motion vectors do not describe).

There is one ray per pixel and no anti-aliasing, so every pattern is band-limited analytically: edges
are blurred to at least `EDGE_PX` pixel footprints and patterns fade to their mean before they would
alias. Warping a frame with exact motion vectors then leaves only bilinear-interpolation error inside
surfaces, which the acceptance tests rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from lmv_cli.core.synth.motion import ZERO, Vec3, pulse

EDGE_PX = 2.0
"""Width of a pattern edge in pixel footprints (smaller gives crisper edges and larger warp error)."""


class Pattern(str, Enum):
    FLAT = "flat"
    CHECKER = "checker"
    STRIPES = "stripes"
    WAVES = "waves"
    DOTS = "dots"


@dataclass(frozen=True)
class Material:
    """A UE-like material. Colours linear; `period_cm` is the pattern's repeat length.

    `color2` is mixed in by the pattern (also `roughness2` when given). `scroll_cm_s` moves the pattern
    across the surface (animated texture). Emission `emissive·pulse(t)`; with `emissive_pattern` it is
    masked by the pattern (a scrolling screen). `alpha < 1` makes the material translucent (separate
    translucency, alpha-blended)."""

    color: Vec3
    color2: Vec3 | None = None
    pattern: Pattern = Pattern.FLAT
    period_cm: float = 100.0
    scroll_cm_s: tuple[float, float] = (0.0, 0.0)
    metallic: float = 0.0
    roughness: float = 0.5
    roughness2: float | None = None
    specular: float = 0.5
    emissive: Vec3 = ZERO
    pulse_hz: float = 0.0
    pulse_phase: float = 0.0
    emissive_pattern: bool = False
    alpha: float = 1.0

    @property
    def translucent(self) -> bool:
        return self.alpha < 1.0


@dataclass
class Surface:
    """Material attributes at N surface points (what the G-buffer stores, plus emission and alpha)."""

    base: np.ndarray  # (N, 3) linear base colour
    metallic: np.ndarray  # (N,)
    roughness: np.ndarray  # (N,)
    specular: np.ndarray  # (N,) UE specular, 0.5 default
    emission: np.ndarray  # (N, 3) linear radiance
    alpha: np.ndarray  # (N,) opacity, 1 for opaque materials


def evaluate(mat: Material, coords: np.ndarray, footprint: np.ndarray, t: float) -> Surface:
    """Material attributes at N points. coords: (N, 2|3) object-space cm; footprint: (N,) cm covered
    by one pixel there; t: shading time in s (scrolling and pulsing)."""
    n = len(coords)
    m = _pattern(mat, coords, footprint, t) if mat.pattern is not Pattern.FLAT else np.zeros(n)
    c1 = np.asarray(mat.color, np.float64)
    c2 = np.asarray(mat.color2 if mat.color2 is not None else mat.color, np.float64)
    base = c1 + m[:, None] * (c2 - c1)
    rough2 = mat.roughness if mat.roughness2 is None else mat.roughness2
    roughness = mat.roughness + m * (rough2 - mat.roughness)
    glow = np.asarray(mat.emissive, np.float64) * (pulse(t, mat.pulse_hz, mat.pulse_phase) if mat.pulse_hz else 1.0)
    emission = np.broadcast_to(glow, (n, 3)) * (m[:, None] if mat.emissive_pattern else 1.0)
    return Surface(
        base=base,
        metallic=np.full(n, mat.metallic),
        roughness=roughness,
        specular=np.full(n, mat.specular),
        emission=np.array(emission),
        alpha=np.full(n, mat.alpha),
    )


def _pattern(mat: Material, coords: np.ndarray, footprint: np.ndarray, t: float) -> np.ndarray:
    """Pattern mix factor in [0, 1] (N,)."""
    c = coords.copy()
    c[:, 0] += mat.scroll_cm_s[0] * t
    c[:, 1] += mat.scroll_cm_s[1] * t
    p = mat.period_cm
    blur = EDGE_PX * footprint
    # Fade to the mean as the footprint approaches half a period (Nyquist), instead of aliasing.
    fade = np.clip(1.0 - (2.0 * footprint / p) ** 2, 0.0, 1.0)
    if mat.pattern is Pattern.CHECKER:
        s = np.prod([_square(c[:, i], p, blur) for i in range(c.shape[1])], axis=0)
    elif mat.pattern is Pattern.STRIPES:
        s = _square(c[:, 0] + 0.5 * c[:, 1], p, blur)
    elif mat.pattern is Pattern.WAVES:
        bend = 0.25 * p * np.sin(2 * np.pi * c[:, 1] / (1.7 * p))
        s = np.sin(2 * np.pi * (c[:, 0] + bend) / p)
    else:  # DOTS: round spots on a grid
        field = np.cos(2 * np.pi * c[:, 0] / p) * np.cos(2 * np.pi * c[:, 1] / p) - 0.35
        s = np.clip(field * p / (np.pi * blur), -1.0, 1.0)
    return 0.5 + 0.5 * s * fade


def _square(x: np.ndarray, period: float, blur: np.ndarray) -> np.ndarray:
    """A square wave in [−1, 1] whose edges ramp over `blur` cm (a clipped, steepened sine)."""
    return np.clip(np.sin(2 * np.pi * x / period) * period / (np.pi * blur), -1.0, 1.0)
