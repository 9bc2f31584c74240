"""`lmv pack EXPORT OUT.zarr`: convert a UE4 export into one Zarr v3 store (docs/store.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command, progress_bar, stdout_console


@lmv_command
def command(
    export: Path = typer.Argument(
        ..., help="A scene folder (holding SceneColor/, VelocityDepth/, ...) or a folder of scene folders."
    ),
    out: Path = typer.Argument(..., help="The store to write, e.g. data.zarr (a folder)."),
    workers: int = typer.Option(0, "--workers", "-j", min=0,
                                help="Packing processes (0 = one per core, at most 8; in-process for a small export)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted pack of the same export, and "
                                "repair: every frame whose chunks fail verification is packed again."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store (also one whose metadata "
                                   "is damaged; never a folder that is not an lmv store)."),
) -> None:
    """Convert every scene of a UE4 export into one Zarr v3 store for training and inference.

    The export is checked first (capture-check, headers only) and refused when broken. Buffers are
    converted once (motion vectors y-down NDC, depth in cm, translucency colour, sky mask, BRDF
    demodulation colour; NaN/Inf replaced by 0 and counted). An existing store is an error unless
    --resume (continue it, also after kill -9, and repair damaged frames) or --overwrite (replace it)
    is given. One pack at a time writes a store: a second one exits 1 naming the first's PID.
    """
    if resume and overwrite:
        raise typer.BadParameter("choose one, not both", param_hint="--resume/--overwrite")
    from lmv_cli.core.store.writer import pack

    with progress_bar() as progress:
        result = pack(export, out, workers=workers, resume=resume, overwrite=overwrite,
                      progress=progress)
    console = stdout_console()
    for warning in result.warnings:
        console.print(f"[yellow]warning[/] {warning}", highlight=False)
    replaced = {k: v for k, v in result.nonfinite.items() if v}
    if replaced:
        listed = ", ".join(f"{k} {v}" for k, v in replaced.items())
        console.print(f"[yellow]warning[/] NaN/Inf values replaced by 0: {listed}", highlight=False)
    frames = sum(total for _, total, _ in result.scenes)
    rate = result.frames_packed / result.seconds if result.seconds > 0 else 0.0
    if result.repaired:
        console.print(f"repaired {result.repaired} damaged frame(s) found by verifying the store", highlight=False)
    console.print(f"packed {len(result.scenes)} scene(s), {frames} frames ({result.frames_packed} this run, "
                  f"{rate:.1f} frames/s) -> {result.store}", highlight=False)
