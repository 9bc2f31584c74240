"""`lmv resume RUN_DIR`: continue a training run exactly where its last checkpoint left off (docs/training.md#checkpoints-and-resume)."""

from __future__ import annotations

from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command


@lmv_command
def command(
    run: Path = typer.Argument(..., help="A run directory, or a job directory (its newest run is resumed)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Extend the run to this many epochs in all."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Extend the run to this many optimizer steps in all."
    ),
) -> None:
    """Resume a run from checkpoint/checkpoint.pt with its own config.yaml, in its own run directory.

    Weights, optimizer, learning-rate schedule, data order and every RNG state are restored, so a run
    killed (even with kill -9) after a checkpoint ends bit-identical on CPU to one never interrupted.
    --epochs / --steps extend a finished run (written back to its config.yaml). Under torchrun, resume
    with the same number of processes. Exit code 0 on success, 1 when the folder is not a run or its
    checkpoint does not match, 130 on Ctrl-C (a checkpoint is saved first).
    """
    from lmv_cli.cli._training import reporter
    from lmv_cli.core.train.run import resume

    with reporter() as on_event:
        result = resume(run, epochs=epochs, steps=steps, on_event=on_event)
    if result.main:
        typer.echo(f"run directory: {result.run}")
