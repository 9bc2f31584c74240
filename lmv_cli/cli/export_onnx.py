"""`lmv export-onnx MODEL OUT.onnx`: one recurrent step as an ONNX graph for engines (docs/deployment.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

import typer

from lmv_cli.cli._common import lmv_command, stdout_console

DEFAULT_CHECKS = ("320x180", "148x100", "162x90")
"""Frame sizes (WxH) the graph is validated at by default; none has a side that is a multiple of 32."""
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def _check_sizes(values: Optional[list[str]]) -> list[str]:
    for value in values or ():
        match = _SIZE.match(value)
        if not match or min(int(match[1]), int(match[2])) < 1:
            raise typer.BadParameter(f"expected WIDTHxHEIGHT such as 1280x720, got {value!r}")
    return values


@lmv_command
def command(
    model: str = typer.Argument(..., help="Model file, run directory, job directory, or 'bundled'."),
    out: Path = typer.Argument(..., help="The .onnx file to write (written only once validated)."),
    opset: int = typer.Option(18, "--opset", min=16, help="ONNX opset (GridSample needs >= 16; dynamo needs >= 18)."),
    exporter: Literal["dynamo", "torchscript"] = typer.Option(
        "dynamo", "--exporter", help="dynamo (torch.export, minutes on 2 cores) or torchscript (legacy, seconds)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Also validate on a real frame of this store."),
    scene: Optional[str] = typer.Option(None, "--scene", help="Scene of --store (default: the first)."),
    frame: Optional[int] = typer.Option(None, "--frame", help="Frame of --scene to predict (default 4: t-1 "
                                        "predicted first)."),
    check_size: Optional[list[str]] = typer.Option(
        None, "--check-size", metavar="WxH", callback=_check_sizes,
        help="Validate on random frames of this size, padded as an engine pads them (repeatable; default "
             f"{', '.join(DEFAULT_CHECKS)})."),
) -> None:
    """Export one FSNet step (float32, batch 1, dynamic H and W) and validate it before writing OUT.

    The graph takes H and W that are multiples of 16 at the network's resolution: multiples of 16 for
    fsnet and fsnet_small, of 32 for fsnet_lite (the bundled model), whose network runs at half
    resolution; pad other frames at the bottom and right (edge replication, motion vectors rescaled)
    and crop the outputs (docs/deployment.md). Inputs: the current G-buffer, BRDF colour,
    sky mask, the three merged motion vectors, the three history frames and the streamed state;
    outputs: the prediction and its streamed state. Before OUT is written, onnxruntime is checked
    against PyTorch on random frames of 320x180, 148x100 and 162x90 (padded as above) and, with
    --store, on a real frame; the max abs errors are printed and a mismatch is an error (exit 1,
    nothing written). Needs the onnx extra: pip install 'lmv\\[onnx]'.
    """
    from lmv_cli.core.onnx_export_job import export_model

    console = stdout_console()
    console.print(f"exporting {model} with {exporter} at opset {opset} …", highlight=False)
    frames = tuple((int(h), int(w)) for w, h in (_SIZE.match(s).groups() for s in check_size or DEFAULT_CHECKS))
    result = export_model(model, out, opset=opset, exporter=exporter, check_frames=frames, store=store, scene=scene,
                          frame=frame)
    for check in result.checks:
        v = check.validation
        fh, fw = check.frame_size
        console.print(f"onnxruntime vs PyTorch, {check.label}, {fw}x{fh} (graph input {v.size[1]}x{v.size[0]}): "
                      f"max abs error colour {v.color_error:.2e} (peak {v.color_peak:.3g}), all outputs "
                      f"{v.max_error:.2e}", highlight=False)
    console.print(f"wrote {result.path} from {result.model_path} (preset {result.preset}, opset {result.opset}; "
                  f"H and W: multiples of {result.multiple}; network at 1/{result.factor} of the frame at every size)",
                  highlight=False)
