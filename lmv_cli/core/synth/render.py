"""One frame of a scene → the 11 UE4 export buffers (docs/capture.md#the-ue4-export), all from the same rays.

One ray per pixel centre (no anti-aliasing). The G-buffers describe the nearest opaque surface (UE's
separate translucency does not write them); SceneColorNoST is the opaque image over the sky; the
translucent objects in front of it are blended into (STColor, STAlpha), and
`SceneColor = SceneColorNoST·STAlpha + STColor` is evaluated in float32, so the identity holds exactly
in the stored values. Velocity: the hit's object-local point is moved with the object's transform at
t − 1/60 and projected with that frame's camera; `velocity = NDC(now) − NDC(previous)`, y up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmv_cli.core.schema import SKY_DEPTH_CM
from lmv_cli.core.synth.camera import Camera, pixel_ndc
from lmv_cli.core.synth.primitives import intersect
from lmv_cli.core.synth.shading import Lighting, composite, lighting, shade_opaque, shade_translucent, sky_radiance
from lmv_cli.core.synth.trace import Posed, gather, nearest, pose, stencils
from lmv_cli.core.synth.world import SynthScene

FPS = 60
FAR_CM = 0.3 * SKY_DEPTH_CM
"""Far clip of primary rays: the infinite floor ends here and the sky takes over, so no geometry
depth ever reaches the sky depth."""
CHUNK_RAYS = 1 << 14
"""Rays traced together: big enough to amortise numpy overhead, small enough to stay in cache."""

# name → (H·W, C) planes gathered per ray; assembled into the export folders by `_assemble`.
_PLANES = ("no_st", "st_color", "st_alpha", "sky", "base", "mrs", "nov_spec", "velocity", "depth", "normal", "position")


@dataclass(frozen=True)
class FrameSetup:
    """Everything the rays of one frame share."""

    scene: SynthScene
    cam: Camera
    cam_prev: Camera
    opaque: list[Posed]
    opaque_prev: list[Posed]
    translucent: list[Posed]
    light: Lighting
    shading_t: float
    pixel_angle: float  # cm covered by one pixel per cm of planar depth


def render_frame(scene: SynthScene, k: int, width: int, height: int) -> dict[str, np.ndarray]:
    """Render export frame k (time k/60 s) → {folder: (4, H, W) float32 RGBA} for all 11 folders,
    plus "STColor" (the premultiplied translucency, which UE does not export)."""
    frame = prepare(scene, k, width, height)
    ndc = pixel_ndc(width, height)
    planes: dict[str, np.ndarray] = {}
    for i in range(0, len(ndc), CHUNK_RAYS):
        part = trace_points(frame, ndc[i : i + CHUNK_RAYS])
        for name in _PLANES:
            if name not in planes:  # (H·W, C) float32, filled chunk by chunk (bounded memory)
                planes[name] = np.empty((len(ndc), part[name].shape[1]), np.float32)
            planes[name][i : i + CHUNK_RAYS] = part[name]
    return _assemble(planes, height, width)


def prepare(scene: SynthScene, k: int, width: int, height: int) -> FrameSetup:
    """Cameras, object poses and lights of frame k and of the frame before it (t − 1/60)."""
    t, t_prev = k / FPS, (k - 1) / FPS
    opaque = tuple(o for o in scene.objects if not o.material.translucent)
    translucent = tuple(o for o in scene.objects if o.material.translucent)
    posed = pose(opaque, t)
    shading_t = scene.shading_time(t)
    cam = scene.camera.pose(t, width, height)
    return FrameSetup(
        scene=scene,
        cam=cam,
        cam_prev=scene.camera.pose(t_prev, width, height),
        opaque=posed,
        opaque_prev=pose(opaque, t_prev),
        translucent=pose(translucent, t),
        light=lighting(scene, shading_t, posed),
        shading_t=shading_t,
        pixel_angle=2.0 / (width * cam.scale[0]),
    )


def trace_points(f: FrameSetup, ndc: np.ndarray) -> dict[str, np.ndarray]:
    """All planes (name → (N, C) float64) for rays through NDC points (N, 2), y up: pixel centres
    when rendering; any points when a test checks where the velocity leads."""
    n = len(ndc)
    d = f.cam.rays(ndc)  # (N, 3), dot(d, forward) = 1
    d_unit = d / np.linalg.norm(d, axis=1, keepdims=True)
    t, index = nearest(f.opaque, f.cam.position, d)
    far = t > FAR_CM
    t[far], index[far] = np.inf, -1
    out = {"sky": sky_radiance(f.scene.sky, f.light.sun_dir, d_unit)}
    # Sky pixels (UE-like): depth D_SKY, position at planar depth D_SKY, normal facing the camera,
    # velocity of the direction at infinity under the camera's rotation.
    depth = np.full(n, SKY_DEPTH_CM)
    position = f.cam.position + SKY_DEPTH_CM * d
    normal = -d_unit
    prev_ndc = f.cam_prev.project_dirs(d)
    color = out["sky"].copy()
    base, mrs, spec = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros(n)
    rows = np.nonzero(index >= 0)[0]
    if len(rows):
        spread = t[rows] * f.pixel_angle
        h = gather(f.opaque, index[rows], f.cam.position, d[rows], t[rows], spread, f.shading_t)
        depth[rows], position[rows], normal[rows] = t[rows], h.position, h.normal
        prev_ndc[rows] = f.cam_prev.project(_previous_positions(f.opaque_prev, h.index, h.local))
        view = f.cam.position - h.position
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        color[rows] = shade_opaque(f.light, h.position, h.normal, view, h.surface, spread, f.shading_t)
        base[rows] = h.surface.base
        mrs[rows, 0], mrs[rows, 1] = h.surface.metallic, h.surface.roughness
        spec[rows] = h.surface.specular
    mrs[:, 2] = stencils(f.opaque, index)
    view = f.cam.position - position
    nov = np.einsum("ij,ij->i", normal, view / np.linalg.norm(view, axis=1, keepdims=True))
    st_color, st_alpha = _translucency(f, d, t)
    out.update(
        no_st=color, st_color=st_color, st_alpha=st_alpha[:, None], base=base, mrs=mrs,
        nov_spec=np.stack([nov, spec], axis=1), velocity=ndc - prev_ndc, depth=depth[:, None],
        normal=normal, position=position,
    )
    return out


def _previous_positions(prev: list[Posed], index: np.ndarray, local: np.ndarray) -> np.ndarray:
    """World positions (N, 3) at t − 1/60 of object-local points (N, 3) on objects `index`."""
    out = np.empty_like(local)
    for k in np.unique(index):
        rows = np.nonzero(index == k)[0]
        out[rows] = prev[k].to_world(local[rows])
    return out


def _translucency(f: FrameSetup, d: np.ndarray, t_opaque: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Separate translucency in front of the opaque hits: (STColor (N, 3), STAlpha (N,))."""
    n, k = len(d), len(f.translucent)
    if k == 0:
        return np.zeros((n, 3)), np.ones(n)
    depths = np.full((k, n), np.inf)
    premult, alpha = np.zeros((k, n, 3)), np.zeros((k, n))
    for j, p in enumerate(f.translucent):
        ol, dl = p.to_local(f.cam.position, d)
        tj = intersect(p.obj.shape, p.half, ol, dl, 0.0)
        rows = np.nonzero(tj < t_opaque)[0]
        if len(rows) == 0:
            continue
        index = np.full(len(rows), j)
        h = gather(f.translucent, index, f.cam.position, d[rows], tj[rows], tj[rows] * f.pixel_angle, f.shading_t)
        view = f.cam.position - h.position
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        depths[j, rows] = tj[rows]
        premult[j, rows] = shade_translucent(f.light, h.position, h.normal, view, h.surface)
        alpha[j, rows] = h.surface.alpha
    return composite(depths, premult, alpha)


def _assemble(planes: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
    """(H·W, C) planes → {folder: (4, H, W) float32}, alpha/unused channels as the UE capture writes
    them (colour buffers A = 1, G-buffers A = 0; Blender capture README, "Channel mapping")."""

    def img(*chans: np.ndarray, a: float = 0.0) -> np.ndarray:
        stack = [c.reshape(height, width).astype(np.float32) for c in chans]
        stack += [np.zeros((height, width), np.float32)] * (3 - len(stack))
        return np.stack(stack + [np.full((height, width), a, np.float32)])

    p = planes
    no_st, st, st_alpha = (np.maximum(p[k], 0.0).astype(np.float32) for k in ("no_st", "st_color", "st_alpha"))
    scene_color = no_st * st_alpha + st  # float32: the stored values satisfy the identity exactly
    return {
        "SceneColor": img(*scene_color.T, a=1.0),
        "SceneColorNoST": img(*no_st.T, a=1.0),
        "STAlpha": img(st_alpha[:, 0]),
        "SkyColor": img(*p["sky"].T, a=1.0),
        "SkyDepth": img(np.full(height * width, SKY_DEPTH_CM)),
        "BaseColor": img(*p["base"].T),
        "MetallicRoughnessStencil": img(*p["mrs"].T),
        "NoVSpecular": img(*p["nov_spec"].T),
        "VelocityDepth": img(p["velocity"][:, 0], p["velocity"][:, 1], p["depth"][:, 0]),
        "WorldNormal": img(*p["normal"].T),
        "WorldPosition": img(*p["position"].T),
        "STColor": img(*st.T),
    }
