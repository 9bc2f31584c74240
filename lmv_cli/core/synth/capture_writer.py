"""Write synthetic scenes in the UE4 export layout: `<out>/<scene>/<Folder>/frame_<k>.EXR` + `camera.json`.

Each frame's 11 buffers are written together (RGBA float32, ZIP, atomic renames), frames in order, and
`camera.json` last: a scene folder without `camera.json` (or with buffer folders of unequal length) is
an interrupted run. Rewriting a scene removes frames beyond the new frame count, so a folder never mixes
two runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from lmv_cli import __version__
from lmv_cli.core import exr
from lmv_cli.core.errors import ConfigError, LmvError
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.schema import BUFFERS, FRAME_NAME, SKY_DEPTH_CM, frame_path_name
from lmv_cli.core.synth.camera import camera_record
from lmv_cli.core.synth.render import FPS, render_frame
from lmv_cli.core.synth.scenes import SCENES, build_scene
from lmv_cli.core.synth.world import SynthScene

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 16, 8192
MAX_FRAMES = 100_000


def resolve_scenes(names: Sequence[str]) -> list[str]:
    """Expand `all` and comma lists into scene names (in `SCENES` order for `all`), without repeats.
    Raises `ConfigError` naming the valid scenes for an unknown one."""
    out: list[str] = []
    for item in names:
        for name in (n.strip() for n in item.split(",")):
            if not name:
                continue
            chosen = list(SCENES) if name == "all" else [name]
            for c in chosen:
                if c not in SCENES:
                    raise ConfigError(f"unknown scene {c!r}; valid scenes: {', '.join(SCENES)} (or 'all')",
                                      option="scene", value=c)
                if c not in out:
                    out.append(c)
    if not out:
        raise ConfigError(f"no scene given; valid scenes: {', '.join(SCENES)} (or 'all')", option="scene",
                          value=list(names))
    return out


def check_options(frames: int, size: tuple[int, int], seed: int) -> None:
    """Raise `ConfigError` for a frame count, size or seed `write_capture` cannot honour."""
    if not 2 <= frames <= MAX_FRAMES:
        raise ConfigError(f"frames must be between 2 and {MAX_FRAMES} (velocity needs a previous frame), got {frames}",
                          option="frames", value=frames)
    w, h = size
    if not (MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE):
        raise ConfigError(f"size must be between {MIN_SIZE}x{MIN_SIZE} and {MAX_SIZE}x{MAX_SIZE}, got {w}x{h}",
                          option="size", value=size)
    if not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be a non-negative integer below 2**63, got {seed}", option="seed",
                          value=seed)


def write_capture(out: Path, scenes: Sequence[str], *, frames: int = 64, size: tuple[int, int] = (320, 180),
                 seed: int = 0, workers: int = 0, progress: ProgressFn | None = None) -> list[Path]:
    """Render the named scenes (`all` allowed) and write each to `<out>/<scene>` in the UE4 export
    layout; deterministic for a seed (whatever `workers`: frames are independent). `workers`: frame
    rendering processes, 0 = one per core. Returns the scene folders written. Raises `ConfigError` for
    bad arguments and `LmvError` when the output cannot be written."""
    names = resolve_scenes(scenes)
    check_options(frames, size, seed)
    if workers < 0:
        raise ConfigError(f"`workers` must be 0 (one per core) or more, got {workers}", option="workers",
                          value=workers)
    written = []
    for name in names:
        scene = build_scene(name, seed)
        folder = Path(out) / name
        write_scene(scene, folder, frames=frames, size=size, seed=seed, workers=workers, progress=progress)
        written.append(folder)
    return written


def write_scene(scene: SynthScene, folder: Path, *, frames: int, size: tuple[int, int], seed: int, workers: int = 1,
                progress: ProgressFn | None = None) -> None:
    """Render `frames` frames of a built scene into `folder` (11 buffer folders + `camera.json`)."""
    try:
        for b in BUFFERS:
            (folder / b.folder).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LmvError(f"cannot create the output folder: {e.strerror}", path=folder) from e
    _remove_stale(folder, frames)
    (folder / "camera.json").unlink(missing_ok=True)
    workers = min(workers or os.cpu_count() or 1, frames)
    if workers == 1:
        for k in range(frames):
            write_frame(scene, folder, k, size)
            report(progress, f"synth {scene.name}", k + 1, frames)
    else:
        with ProcessPoolExecutor(workers) as pool:
            jobs = [pool.submit(write_frame, scene, folder, k, size) for k in range(frames)]
            for done, job in enumerate(as_completed(jobs), 1):
                job.result()
                report(progress, f"synth {scene.name}", done, frames)
    meta = camera_json(scene, frames=frames, size=size, seed=seed)
    (folder / "camera.json").write_text(json.dumps(meta, indent=1))
    log.info("wrote %d frames of %s (%dx%d) to %s", frames, scene.name, *size, folder)


def write_frame(scene: SynthScene, folder: Path, k: int, size: tuple[int, int]) -> None:
    """Render frame k and write its 11 buffers (RGBA float32, ZIP, atomic)."""
    buffers = render_frame(scene, k, *size)
    for b in BUFFERS:
        exr.write_rgba(folder / b.folder / frame_path_name(k), buffers[b.folder])


def camera_json(scene: SynthScene, *, frames: int, size: tuple[int, int], seed: int) -> dict:
    """Metadata UE does not write, in the format of the Blender captures' `camera.json`: per-frame
    camera matrices, the camera of the frame before frame 0, conventions and the stencil map."""
    w, h = size
    cams = [scene.camera.pose(k / FPS, w, h) for k in range(-1, frames)]
    records = [camera_record(c) for c in cams]
    return {
        "scene": scene.name,
        "description": scene.description,
        "seed": seed,
        "fps": FPS,
        "resolution": [w, h],
        "frames": frames,
        "sky_depth_cm": SKY_DEPTH_CM,
        "renderer": f"lmv synth {__version__} (numpy ray caster, 1 ray per pixel centre, no anti-aliasing)",
        "conventions": {
            "world": "right-handed, Z up; positions in metres in the matrices, position_cm in centimetres "
                     "(as WorldPosition)",
            "camera": "cam_to_world columns: right, up, -forward (camera looks down its local -Z)",
            "projection": "OpenGL-style 4x4, infinite far plane; NDC x right, y up, [-1,1]",
            "velocity": "VelocityDepth.RG = NDC(current) - NDC(previous), full width = full height = 2, y up",
            "time": "export frame k is t = k/60 s; prev_camera_of_frame_0 is t = -1/60 s",
        },
        "prev_camera_of_frame_0": records[0],
        "cameras": records[1:],
        "objects_pass_index": {f"{o.name}.{o.stencil:03d}": o.stencil for o in scene.objects},
        "static_pass_indices": [o.stencil for o in scene.objects if o.motion.is_static],
        "translucent_pass_indices": [o.stencil for o in scene.objects if o.material.translucent],
        "fov_x_deg": cams[0].fov_x_deg,
        "fov_y_deg": cams[0].fov_y_deg,
    }


def _remove_stale(folder: Path, frames: int) -> None:
    """Delete frame files numbered ≥ frames left by an earlier, longer run in our buffer folders."""
    for b in BUFFERS:
        for path in (folder / b.folder).iterdir():
            m = FRAME_NAME.match(path.name)
            if m and int(m.group(1)) >= frames:
                path.unlink()
