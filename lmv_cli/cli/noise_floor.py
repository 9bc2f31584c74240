"""`lmv noise-floor STORE_A STORE_B`: a second render of the same frames scored as a prediction (docs/regions.md#the-noise-floor-lmv-noise-floor-store_a-store_b)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from lmv_cli.cli._common import lmv_command, progress_bar
from lmv_cli.cli._tables import BACKEND_HELP, DEVICE_HELP, FRAMES_HELP, PRECISION_HELP, Backend, Precision


@lmv_command
def command(
    store_a: Path = typer.Argument(..., help="The store whose frames are the ground truth (`lmv pack`)."),
    store_b: Path = typer.Argument(..., help="The same scenes and frames rendered with another sampling seed."),
    scene: Optional[list[str]] = typer.Option(None, "--scene", "-s", help="Scene (repeatable); default: every "
                                              "scene of STORE_A."),
    frames: int = typer.Option(1, "--frames", "-n", min=1, max=3, help=FRAMES_HELP),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Also score this model (repeatable; "
                                              "file, run or job directory, or 'bundled')."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("auto", "--precision", help=PRECISION_HELP),
    backend: Backend = typer.Option("auto", "--backend", help=BACKEND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (schema lmv.noise-floor/1: "
                                 "lmv.test/2's layout plus 'reference') instead of tables."),
) -> None:
    """Score STORE_B's colour against STORE_A's truth per region, beside warp and repeat.

    The frames scored and the regions are exactly those of `lmv test --regions --frames N` on STORE_A
    (regions computed from STORE_A). The method `noise_floor` is what any predictor could at best reach
    on path-traced data: the gap between it and a model is what is left to gain.
    """
    from lmv_cli.core.noise_floor import noise_floor

    with progress_bar(not as_json) as progress:
        result = noise_floor(store_a, store_b, scenes=scene, n=frames, models=model or (), device=device,
                             precision=precision, backend=backend, progress=progress)
    if as_json:
        from lmv_cli.core.infer.reports import NOISE_FLOOR_SCHEMA, comparison_document

        document = comparison_document(result.records, result.summaries, store=str(result.store), n=result.n,
                                       models={k: str(v) for k, v in result.models.items()},
                                       metrics=result.metrics, plot=None)
        document.update(schema=NOISE_FLOOR_SCHEMA, reference=str(result.reference))
        typer.echo(json.dumps(document, allow_nan=False))
        return
    from lmv_cli.cli._tables import print_region_summaries, print_summaries

    print_summaries(result.summaries, result.metrics, result.n)
    print_region_summaries(result.summaries, result.n)
