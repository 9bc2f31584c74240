"""The named scenes of `lmv synth`, each stressing one thing a frame extrapolator finds hard.

Every scene has sky in part of the frame, a scrolling (animated) texture, a pulsing emissive object,
metallic/glossy surfaces, cast shadows and at least one alpha-blended translucent object. A seed jitters
colours, placements and phases; `static_shading=True` freezes lights, pulses and scrolling (geometry
and camera still move), for tests that need shading that motion vectors fully describe.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.synth import props
from lmv_cli.core.synth.camera import CameraRig
from lmv_cli.core.synth.materials import Material, Pattern
from lmv_cli.core.synth.motion import Motion, Path3, still
from lmv_cli.core.synth.primitives import Shape
from lmv_cli.core.synth.props import Builder
from lmv_cli.core.synth.world import PointLight, SynthScene, Sun


@dataclass(frozen=True)
class SceneSpec:
    """A named scene: what it stresses, and how to build it from a random generator."""

    description: str
    build: Callable[[Builder], tuple[CameraRig, Sun, tuple[PointLight, ...], float]]


def _orbit(b: Builder):
    """Fast orbiting, rolling camera around a plaza: large screen motion from camera rotation."""
    props.ground(b)
    for i in range(6):
        a = np.radians(60.0 * i + b.jitter(0.0, 10.0))
        mat = props.textured(b, Pattern.STRIPES, 35.0, roughness=0.6)
        b.add("pillar", Shape.BOX, (22.0, 22.0, 90.0), mat, still(320 * np.cos(a), 320 * np.sin(a), 90.0, yaw_deg=30.0 * i))
    props.mirror_ball(b, Path3((0.0, 0.0, 75.0), sway=(0.0, 0.0, 20.0), sway_hz=0.8, sway_phase=b.phase()), 70.0)
    cube = props.textured(b, Pattern.CHECKER, 30.0, metallic=0.8, roughness=0.3)
    b.add("cube", Shape.BOX, (40.0, 40.0, 40.0), cube, Motion(Path3((0.0, 0.0, 60.0), orbit=(190.0, 190.0), orbit_deg_s=-70.0,
          orbit_phase_deg=b.jitter(0.0, 180.0)), spin_deg_s=120.0, spin_axis=(1.0, 1.0, 0.3)))
    props.lamp(b, Path3((b.jitter(0.0, 100.0), 150.0, 40.0)), 28.0, b.color(0.5, 1.0), 1.5)
    props.screen(b, -250.0, 420.0, 100.0, b.jitter(20.0, 10.0), 140.0, 70.0)
    props.water(b, 150.0, -200.0, 110.0)
    props.glass(b, Motion(Path3((-120.0, -150.0, 90.0), sway=(90.0, 0.0, 0.0), sway_hz=0.6), yaw_deg=30.0, pitch_deg=90.0),
                (70.0, 60.0, 0.0), 0.45)
    # Everything stays below the eye, so no object is seen against the fast-moving sky (sky
    # disoccluded beside tall objects would dominate the warp error, see the Blender capture notes).
    rig = CameraRig(Path3((0.0, 0.0, 260.0), orbit=(700.0, 700.0), orbit_deg_s=75.0, orbit_phase_deg=b.jitter(0.0, 180.0),
                          sway=(0.0, 0.0, 30.0), sway_hz=0.7),
                    Path3((0.0, 0.0, 90.0), sway=(60.0, 40.0, 15.0), sway_hz=0.9, sway_phase=b.phase()),
                    fov_x_deg=75.0, roll_deg=5.0, roll_hz=0.6)
    return rig, _sun(b, 40.0), (), 1.0


def _occlusion(b: Builder):
    """Many objects in three depth lanes crossing in front of each other and of pillars: occlusion
    and disocclusion everywhere, while the camera trucks sideways."""
    props.ground(b, period=80.0)
    wall = Material((0.5, 0.35, 0.25), (0.75, 0.7, 0.6), Pattern.CHECKER, 60.0, roughness=0.8)
    b.add("wall", Shape.BOX, (900.0, 15.0, 80.0), wall, still(0.0, 650.0, 80.0))
    for i in range(5):
        mat = props.textured(b, Pattern.STRIPES, 25.0, roughness=0.5)
        b.add("pillar", Shape.BOX, (18.0, 18.0, 75.0), mat, still(-480.0 + 240.0 * i + b.jitter(0.0, 40.0), -420.0, 75.0))
    for lane, (y, speed) in enumerate(((-200.0, 1.0), (100.0, -0.8), (380.0, 0.6))):
        for j in range(4):
            r = b.jitter(45.0, 15.0)
            sway = Path3((b.jitter(-300.0 + 200.0 * j, 60.0), y, r), sway=(350.0 * speed, 0.0, 0.0),
                         sway_hz=b.jitter(0.45, 0.15), sway_phase=b.phase())
            pattern = (Pattern.CHECKER, Pattern.DOTS, Pattern.WAVES)[(lane + j) % 3]
            mat = props.textured(b, pattern, 28.0, metallic=float(j == 1), roughness=0.25 + 0.2 * j)
            if (lane + j) % 2:
                spin = Motion(sway, spin_deg_s=b.jitter(0.0, 200.0), spin_axis=(0.0, 1.0, 0.2))
                b.add("ball", Shape.SPHERE, (r, r, r), mat, spin)
            else:
                b.add("crate", Shape.BOX, (r, r, r), mat, Motion(sway, spin_deg_s=b.jitter(0.0, 90.0)))
    props.lamp(b, Path3((b.jitter(0.0, 200.0), 250.0, 130.0)), 25.0, b.color(0.5, 1.0), 2.0)
    props.screen(b, 300.0, 630.0, 80.0, 0.0, 160.0, 55.0)
    props.glass(b, Motion(Path3((0.0, -320.0, 100.0), sway=(260.0, 0.0, 0.0), sway_hz=0.35, sway_phase=b.phase()),
                          pitch_deg=90.0), (60.0, 80.0, 0.0), 0.4)
    # Walls and pillars stay below the eye: no object is seen against the sky, whose disocclusion
    # would otherwise dominate the warp error (as in the Blender captures' first orbit).
    phase = b.jitter(0.0, 180.0)
    rig = CameraRig(Path3((0.0, -850.0, 200.0), orbit=(450.0, 150.0), orbit_deg_s=70.0, orbit_phase_deg=phase),
                    Path3((0.0, 0.0, 90.0), orbit=(250.0, 0.0), orbit_deg_s=70.0, orbit_phase_deg=phase + 180.0), fov_x_deg=70.0)
    return rig, _sun(b, 50.0), (), 1.0


def _moving_light(b: Builder):
    """A point light circling fast between towers and a turning sun, seen by a circling camera: shadows
    and shading move in ways the motion vectors do not describe."""
    props.ground(b, period=60.0, glossy=False)
    plinth = Material((0.6, 0.6, 0.58), (0.45, 0.45, 0.5), Pattern.STRIPES, 50.0, roughness=0.9)
    b.add("plinth", Shape.BOX, (70.0, 70.0, 60.0), plinth, still(0.0, 0.0, 60.0, yaw_deg=b.jitter(0.0, 45.0)))
    for i in range(6):
        a = np.radians(60.0 * i + b.jitter(30.0, 15.0))
        h = b.jitter(95.0, 25.0)
        mat = props.textured(b, Pattern.CHECKER, 40.0, metallic=float(i % 3 == 0), roughness=0.35)
        b.add("tower", Shape.BOX, (25.0, 25.0, h), mat, still(240 * np.cos(a), 240 * np.sin(a), h, yaw_deg=b.jitter(0.0, 45.0)))
    props.mirror_ball(b, Path3((0.0, 0.0, 165.0), sway=(0.0, 0.0, 10.0), sway_hz=0.5), 40.0)
    path = Path3((0.0, 0.0, 170.0), orbit=(150.0, 150.0), orbit_deg_s=100.0, orbit_phase_deg=b.jitter(0.0, 180.0),
                 sway=(0.0, 0.0, 30.0), sway_hz=0.5)
    props.lamp(b, path, 10.0, (1.0, 0.85, 0.6), 0.0)
    props.lamp(b, Path3((-380.0, 300.0, 30.0)), 25.0, b.color(0.5, 1.0), 1.7)
    props.screen(b, 380.0, 380.0, 80.0, 45.0, 100.0, 50.0)
    props.glass(b, Motion(Path3((-160.0, -160.0, 60.0), sway=(0.0, 0.0, 25.0), sway_hz=0.9), spin_deg_s=60.0),
                (40.0, 40.0, 40.0), 0.35, Shape.SPHERE)
    rig = CameraRig(Path3((0.0, 0.0, 240.0), orbit=(650.0, 650.0), orbit_deg_s=-40.0, orbit_phase_deg=b.jitter(0.0, 180.0),
                          sway=(0.0, 0.0, 20.0), sway_hz=0.4),
                    Path3((0.0, 0.0, 60.0), sway=(50.0, 50.0, 10.0), sway_hz=0.3, sway_phase=b.phase()), fov_x_deg=70.0)
    sun = Sun(b.jitter(200.0, 30.0), 18.0, (1.2, 1.0, 0.8), azimuth_deg_s=10.0)
    return rig, sun, (PointLight(path, (45.0, 36.0, 24.0)),), 0.5


def _translucency(b: Builder):
    """Several tinted glass panes and bubbles drifting and overlapping in front of textured walls."""
    props.ground(b)
    wall = Material((0.7, 0.55, 0.35), (0.2, 0.3, 0.5), Pattern.WAVES, 70.0, roughness=0.7)
    b.add("wall", Shape.BOX, (600.0, 15.0, 85.0), wall, still(0.0, 400.0, 85.0))
    props.screen(b, -250.0, 380.0, 95.0, 0.0, 110.0, 55.0)
    mat = props.textured(b, Pattern.CHECKER, 30.0, metallic=1.0, roughness=0.2)
    b.add("cube", Shape.BOX, (45.0, 45.0, 45.0), mat, Motion(Path3((150.0, 200.0, 45.0)), spin_deg_s=45.0))
    props.mirror_ball(b, Path3((-120.0, 150.0, 50.0)), 50.0)
    props.lamp(b, Path3((260.0, 80.0, 150.0)), 22.0, b.color(0.5, 1.0), 1.2)
    for i in range(4):
        path = Path3((b.jitter(-220.0 + 150.0 * i, 40.0), b.jitter(-100.0 + 60.0 * i, 30.0), b.jitter(110.0, 30.0)),
                     sway=(b.jitter(0.0, 160.0), 0.0, b.jitter(0.0, 40.0)), sway_hz=b.jitter(0.5, 0.2), sway_phase=b.phase())
        motion = Motion(path, yaw_deg=b.jitter(0.0, 30.0), pitch_deg=90.0, spin_axis=(0.0, 1.0, 0.0),
                        spin_deg_s=b.jitter(0.0, 40.0))
        props.glass(b, motion, (b.jitter(55.0, 15.0), b.jitter(70.0, 15.0), 0.0), b.jitter(0.45, 0.15))
    for i in range(3):
        r = b.jitter(35.0, 10.0)
        path = Path3((b.jitter(-150.0 + 150.0 * i, 30.0), -250.0, r + 20.0), sway=(0.0, 60.0, 50.0), sway_hz=b.jitter(0.7, 0.2),
                     sway_phase=b.phase())
        props.glass(b, Motion(path), (r, r, r), b.jitter(0.3, 0.1), Shape.SPHERE)
    props.water(b, 0.0, -80.0, 90.0)
    phase = b.jitter(0.0, 180.0)
    rig = CameraRig(Path3((-100.0, -620.0, 195.0), orbit=(400.0, 100.0), orbit_deg_s=70.0, orbit_phase_deg=phase),
                    Path3((-50.0, 100.0, 110.0), orbit=(200.0, 0.0), orbit_deg_s=70.0, orbit_phase_deg=phase + 180.0),
                    fov_x_deg=70.0)
    return rig, _sun(b, 45.0), (), 1.0


def _flythrough(b: Builder):
    """The camera flies fast down an avenue of pillars between facades (radial motion, wide depth
    range); 60 m long, so about 10 s (600 frames) before it reaches the open ground."""
    props.ground(b, period=120.0)
    for side in (-1.0, 1.0):
        facade = Material((0.55, 0.5, 0.45), b.color(), Pattern.CHECKER, 90.0, roughness=0.8)
        b.add("facade", Shape.BOX, (40.0, 3200.0, 400.0), facade, still(side * 520.0, 2800.0, 400.0))
    for i in range(15):
        for side in (-1.0, 1.0):
            mat = props.textured(b, Pattern.STRIPES, 40.0, metallic=float(i % 4 == 0), roughness=0.4)
            b.add("pillar", Shape.BOX, (25.0, 25.0, 180.0), mat, still(side * 260.0, 400.0 * i, 180.0))
    for i in range(6):
        r = b.jitter(40.0, 10.0)
        path = Path3((0.0, 500.0 + 900.0 * i, r), sway=(230.0, 0.0, 0.0), sway_hz=b.jitter(0.5, 0.15), sway_phase=b.phase())
        b.add("ball", Shape.SPHERE, (r, r, r), props.textured(b, Pattern.DOTS, 25.0, roughness=0.3), Motion(path, spin_deg_s=180.0,
              spin_axis=(0.0, 1.0, 0.0)))
    props.mirror_ball(b, Path3((-120.0, 1800.0, 60.0)), 60.0)
    props.lamp(b, Path3((150.0, 1200.0, 60.0)), 30.0, b.color(0.5, 1.0), 1.8)
    props.screen(b, 0.0, 6100.0, 250.0, 0.0, 200.0, 110.0)
    props.water(b, 60.0, 2600.0, 120.0)
    props.glass(b, Motion(Path3((0.0, 900.0, 120.0), sway=(150.0, 0.0, 0.0), sway_hz=0.4), pitch_deg=90.0), (90.0, 100.0, 0.0), 0.4)
    rig = CameraRig(Path3((0.0, -500.0, 170.0), velocity=(0.0, 600.0, 0.0), sway=(80.0, 0.0, 20.0), sway_hz=0.6),
                    Path3((0.0, 1500.0, 150.0), velocity=(0.0, 600.0, 0.0), sway=(250.0, 0.0, 40.0), sway_hz=0.35,
                          sway_phase=b.phase()), fov_x_deg=75.0, roll_deg=3.0, roll_hz=0.4)
    return rig, _sun(b, 35.0), (), 1.0


def _sun(b: Builder, elevation: float) -> Sun:
    """A warm sun at a random azimuth."""
    return Sun(b.jitter(0.0, 180.0), elevation, (2.7, 2.5, 2.2))


SCENES: dict[str, SceneSpec] = {
    "orbit": SceneSpec("fast orbiting, rolling camera (large camera-rotation motion)", _orbit),
    "occlusion": SceneSpec("many objects crossing in three depth lanes (occlusion and disocclusion)", _occlusion),
    "moving_light": SceneSpec("fast circling point light and a turning sun (moving shadows)", _moving_light),
    "translucency": SceneSpec("overlapping drifting glass panes and bubbles (separate translucency)", _translucency),
    "flythrough": SceneSpec("fast forward flight down an avenue (radial motion, wide depth range)", _flythrough),
}
"""Scene name → spec, in the order `--scene all` renders them."""


def build_scene(name: str, seed: int, *, static_shading: bool = False) -> SynthScene:
    """Build the named scene for a seed (deterministic). Raises `ConfigError` for an unknown name."""
    spec = SCENES.get(name)
    if spec is None:
        raise ConfigError(f"unknown scene {name!r}; valid scenes: {', '.join(SCENES)} (or 'all')")
    b = Builder(np.random.default_rng([seed, zlib.crc32(name.encode())]))
    rig, sun, lights, ambient = spec.build(b)
    sky = props.sky(b)
    return SynthScene(name, spec.description, rig, tuple(b.objects), sun, sky, lights, ambient, static_shading)
