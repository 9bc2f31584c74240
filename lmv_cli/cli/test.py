"""`lmv test MODEL… --data STORE`: models against the warp and repeat baselines, same frames (docs/evaluation.md#baselines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from lmv_cli.cli._common import lmv_command, progress_bar, stdout_console
from lmv_cli.cli._tables import BACKEND_HELP, DEVICE_HELP, FRAMES_HELP, PRECISION_HELP, Backend, Precision

@lmv_command
def command(
    models: list[str] = typer.Argument(..., metavar="MODEL", help="Model file(s), run director(ies) (best model) or job "
                                       "director(ies) (newest run), or 'bundled'."),
    data: Path = typer.Option(..., "--data", "-d", help="A store written by `lmv pack`."),
    scene: Optional[list[str]] = typer.Option(None, "--scene", "-s", help="Scene to test (repeatable); default: "
                                              "every scene of the store."),
    frames: int = typer.Option(1, "--frames", "-n", min=1, max=3,
                               help=FRAMES_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    flip: bool = typer.Option(False, "--flip/--no-flip", help="Add FLIP HDR/LDR columns (opt-in: needs the 'metrics' "
                              "extra and costs about 1-4 s per image at 320x180, 10-30 s at 1280x720)."),
    regions: bool = typer.Option(False, "--regions", help="Also PSNR/SSIM per region (sky, translucent, "
                                 "disoccluded, shading change, static; docs/regions.md) and each region's share."),
    all_metrics: bool = typer.Option(False, "--all-metrics", help="Also the SSIM of the no-translucency and "
                                     "translucency layers (two more blurs per method: about the network's cost "
                                     "again at 1280x720)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of PSNR over frames (rendered frames "
                                        "grey) here."),
    precision: Precision = typer.Option("auto", "--precision", help=PRECISION_HELP),
    backend: Backend = typer.Option("auto", "--backend", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (schema lmv.test/2, docs/evaluation.md) "
                                 "instead of tables."),
) -> None:
    """Score models and the repeat/warp baselines on exactly the same predicted frames.

    Streams whole scenes in the pattern R P..P (N predictions after every rendered frame; predictions
    feed back as history) and prints, per scene and overall, the mean PSNR / SSIM (ACES tonemapped) of
    the final colour and the PSNR of the no-translucency and translucency layers (their SSIM with
    --all-metrics, FLIP with --flip), and with --regions the same per region. A model that does not
    beat warp is not done.
    """
    from lmv_cli.core.infer.compare import compare

    with progress_bar(not as_json) as progress:
        result = compare(models, data, scenes=scene, n=frames, device=device, flip=flip, plot=plot,
                         precision=precision, backend=backend, regions=regions, all_metrics=all_metrics,
                         progress=progress)
    if as_json:
        from lmv_cli.core.infer.reports import comparison_document

        document = comparison_document(result.records, result.summaries, store=str(result.store), n=result.n,
                                       models={k: str(v) for k, v in result.models.items()},
                                       metrics=result.metrics, plot=None if plot is None else str(result.plot))
        typer.echo(json.dumps(document, allow_nan=False))
        return
    _tables(result)


def _tables(result) -> None:
    from lmv_cli.cli._tables import print_region_summaries, print_summaries

    print_summaries(result.summaries, result.metrics, result.n)
    console = stdout_console()
    for name, path in result.models.items():
        note = " (the run has no best.pt: validation never ran)" if path.name == "last.pt" else ""
        console.print(f"{name} = {path}{note}", highlight=False)
    print_region_summaries(result.summaries, result.n)
    if result.plot is not None:
        console.print(f"plot: {result.plot}", highlight=False)
