"""The `lmv` executable: registers one thin command per file of this package.

Command modules import only typer and the standard library at module level, so `lmv --help` never
pays for torch or zarr; the core is imported inside each command.
"""

from __future__ import annotations

import typer

from lmv_cli import __version__
from lmv_cli.cli import capture_check
from lmv_cli.cli import export_onnx
from lmv_cli.cli import import_checkpoint
from lmv_cli.cli import noise_floor
from lmv_cli.cli import pack
from lmv_cli.cli import resume
from lmv_cli.cli import train
from lmv_cli.cli import synth
from lmv_cli.cli import test
from lmv_cli.cli import extrapolate
from lmv_cli.cli._common import LmvCommand, LmvGroup, set_verbose

app = typer.Typer(
    name="lmv",
    help="Neural frame extrapolation for real-time rendering: UE4 capture -> Zarr store -> FSNet -> predicted frames.",
    no_args_is_help=True,
    add_completion=True,
    cls=LmvGroup,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lmv {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details and show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """lmv: capture-check -> pack -> train -> test / extrapolate."""
    set_verbose(verbose)


app.command("capture-check", cls=LmvCommand)(capture_check.command)
app.command("export-onnx", cls=LmvCommand)(export_onnx.command)
app.command("import-checkpoint", cls=LmvCommand)(import_checkpoint.command)
app.command("pack", cls=LmvCommand)(pack.command)
app.command("train", cls=LmvCommand)(train.command)
app.command("resume", cls=LmvCommand)(resume.command)
app.command("synth", cls=LmvCommand)(synth.command)
app.command("test", cls=LmvCommand)(test.command)
app.command("extrapolate", cls=LmvCommand)(extrapolate.command)
app.command("noise-floor", cls=LmvCommand)(noise_floor.command)


def main() -> None:
    app()
