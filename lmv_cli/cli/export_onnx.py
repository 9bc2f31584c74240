"""`lmv export-onnx MODEL OUT.onnx`: one recurrent step as an ONNX graph for engines (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command, stdout_console

CHECK_SIZE = (80, 144)
"""Random-input check size: another size than the export's, so a silently fixed shape cannot pass."""


@lmv_command
def command(
    model: str = typer.Argument(..., help="Model file, run directory, job directory, or 'bundled'."),
    out: Path = typer.Argument(..., help="The .onnx file to write."),
    opset: int = typer.Option(18, "--opset", min=16, help="ONNX opset (GridSample needs >= 16; dynamo needs >= 18)."),
    exporter: str = typer.Option("dynamo", "--exporter",
                                 help="dynamo (torch.export, minutes on 2 cores) or torchscript (legacy, seconds)."),
    store: Path = typer.Option(None, "--store", help="Also validate on a real frame of this store."),
    scene: str = typer.Option(None, "--scene", help="Scene of --store (default: the first)."),
    frame: int = typer.Option(None, "--frame", help="Frame of --scene to predict (default 4: t-1 predicted first)."),
) -> None:
    """Export one FSNet step (float32, batch 1, any H and W that are multiples of 16) and validate it.

    The graph takes the current G-buffer, BRDF colour, sky mask, the three merged motion vectors, the
    three history frames and the streamed state, and returns the prediction and its streamed state
    (names and shapes: docs/deployment.md). It is checked with onnxruntime against
    PyTorch on random inputs of another size than the export size and, with --store, on a real frame;
    the max abs errors are printed and a mismatch is an error (exit 1). Needs `pip install 'lmv[onnx]'`.
    """
    if exporter not in ("dynamo", "torchscript"):
        raise typer.BadParameter("expected dynamo or torchscript", param_hint="--exporter")
    from lmv_cli.core.export import example_inputs, export_onnx, store_inputs
    from lmv_cli.core.model.files import load_model, resolve_model

    net, _, _ = load_model(resolve_model(model))
    console = stdout_console()
    console.print(f"exporting with {exporter} at opset {opset} …", highlight=False)
    export_onnx(net, out, opset=opset, exporter=exporter)
    _check(console, net, out, "random inputs", example_inputs(net, CHECK_SIZE, seed=1))
    if store is not None:
        inputs, name, t = store_inputs(net, store, scene, frame)
        _check(console, net, out, f"{store} scene {name} frame {t}", inputs)
    console.print(f"wrote {out} (opset {opset}, dynamic H×W in multiples of 16)", highlight=False)


def _check(console, net, out: Path, label: str, inputs: dict) -> None:
    """Validate the graph on `inputs`, print the errors; a mismatch is an `ExportError` (exit 1)."""
    from lmv_cli.core.export import ExportError, validate_onnx

    v = validate_onnx(net, out, inputs)
    console.print(f"onnxruntime vs PyTorch, {label}, {v.size[0]}x{v.size[1]}: max abs error colour "
                  f"{v.color_error:.2e} (peak {v.color_peak:.3g}), all outputs {v.max_error:.2e}", highlight=False)
    if not v.ok:
        raise ExportError(f"the graph does not match PyTorch on {label} (colour error {v.color_error:.2e})", path=out)
