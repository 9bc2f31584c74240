"""`lmv synth OUT`: write procedural scenes in the exact UE4 export layout (test data, demos)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command, progress_bar, stdout_console
from lmv_cli.cli._errors import flag, word

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def _check_size(value: str) -> str:
    if not _SIZE.match(value):
        raise typer.BadParameter(f"expected WIDTHxHEIGHT such as 320x180, got {value!r}")
    return value


@lmv_command
def command(
    out: Path = typer.Argument(..., metavar="OUT", help="Output folder; each scene is written to OUT/<scene>/."),
    scene: str = typer.Option("all", "--scene", "-s", help="Scene name, a comma list, or 'all'."),
    frames: int = typer.Option(64, "--frames", "-n", help="Frames per scene (60 fps, at least 2)."),
    size: str = typer.Option("320x180", "--size", callback=_check_size, help="Resolution WIDTHxHEIGHT, e.g. 64x64 or 1280x720."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (>= 0): jitters placements, colours and phases."),
    workers: int = typer.Option(0, "--workers", min=0, help="Rendering processes (0 = one per core)."),
) -> None:
    """Render procedural scenes (ray-cast, exact G-buffers and velocity) into the UE4 export layout.

    Writes OUT/<scene>/<Buffer>/frame_<k>.EXR for the 11 buffer folders plus camera.json.
    Scenes: orbit, occlusion, moving_light, translucency, flythrough. Deterministic for a seed.
    """
    width, height = (int(v) for v in _SIZE.match(size).groups())
    from lmv_cli.core.errors import ConfigError
    from lmv_cli.core.synth import SCENES, write_capture

    try:  # bad options are usage errors (exit 2): write_capture checks them all before rendering anything
        with progress_bar() as progress:
            written = write_capture(out, [scene], frames=frames, size=(width, height), seed=seed, workers=workers,
                                    progress=progress)
    except ConfigError as e:
        if flag(e.option) is None:
            raise
        raise typer.BadParameter(word(e.message), param_hint=flag(e.option)) from None
    console = stdout_console()
    for folder in written:
        console.print(f"wrote {folder} ({frames} frames, {width}x{height}, seed {seed}): {SCENES[folder.name].description}")
