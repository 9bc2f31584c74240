"""`lmv import-checkpoint OFFICIAL.pt OUT.pt`: a checkpoint of the original FSNet code → an lmv model file."""

from __future__ import annotations

from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command


@lmv_command
def command(
    source: Path = typer.Argument(..., help="Checkpoint written or loaded by the original FSNet code."),
    out: Path = typer.Argument(..., help="lmv model file to write (usable as MODEL by extrapolate, test, export-onnx)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Convert a checkpoint of the original FSNet (VicRanger/learnable-motion-vector) into an lmv model file.

    Forms read: a bare state dict, {'state_dict': sd}, and the trainer's {'net': <pickled module>} (model/best.pt).
    Pickled modules are read without running code from the file: tensors and plain containers are rebuilt,
    every other class becomes an inert record, and a file that would call anything else is refused.
    OUT is preset fsnet in original mode (model.compat: original): the released warp grid, gather and clamp.
    A wrong architecture, a missing, extra or renamed key or a wrong shape is a one-line error naming the key.
    Nothing is written on error. Exit code 0 on success, 1 on a bad or unsafe checkpoint or an existing OUT.
    """
    from lmv_cli.core.model.official import import_official_checkpoint

    summary = import_official_checkpoint(source, out, overwrite=overwrite)
    typer.echo(
        f"wrote {summary['out']}: {summary['tensors']} tensors, {summary['parameters']:,} parameters "
        f"(from a {summary['form']}); model preset fsnet, compat original"
    )
