"""`lmv synth`: procedural scenes rendered by a small CPU ray caster in the exact UE4 export layout.

Modules, in the order data flows: `motion` (closed-form animation), `camera`, `primitives` (ray
intersection), `materials` (band-limited textures), `world` (scene data), `trace` (ray casting),
`shading` (sky, lights, shadows, reflections, translucency), `props` and `scenes` (the named scenes),
`render` (one frame → 11 buffers), `capture_writer` (folders and `camera.json`).
"""

from lmv_cli.core.synth.capture_writer import resolve_scenes, write_capture
from lmv_cli.core.synth.render import FPS, render_frame
from lmv_cli.core.synth.scenes import SCENES, build_scene

__all__ = ["FPS", "SCENES", "build_scene", "render_frame", "resolve_scenes", "write_capture"]
