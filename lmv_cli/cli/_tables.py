"""What `lmv test` and `lmv extrapolate` share on the command line: the metrics table they print: per scene and overall, each model beside
the `warp` and `repeat` baselines on the same predicted frames."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from lmv_cli.cli._common import stdout_console

FRAMES_HELP = "N: frames predicted after every rendered frame (1..3; pattern R P..P)."
DEVICE_HELP = "cpu, cuda, cuda:N, or auto (CUDA when available)."
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Backend = Literal["auto", "torch", "onnxruntime", "openvino"]
"""`--precision` and `--backend` values (core: `infer.select.PRECISIONS`, `BACKENDS`); another is a usage error."""
PRECISION_HELP = ("auto: bf16 where the CPU has native bf16 (AMX/AVX512-BF16) or on GPU, "
                  "else fp32.")
BACKEND_HELP = ("auto: OpenVINO for a full-resolution network (fsnet) when its "
                "extra is installed (fastest measured there), else torch (fsnet_lite, the bundled model).")
"""Help of the options `lmv test` and `lmv extrapolate` share (one wording for both)."""

HEADERS = {"psnr": "PSNR", "ssim": "SSIM", "psnr_no_st": "PSNR no-ST", "ssim_no_st": "SSIM no-ST",
           "psnr_st": "PSNR ST", "ssim_st": "SSIM ST", "flip_hdr": "FLIP HDR", "flip_ldr": "FLIP LDR"}


def print_summaries(summaries: Mapping[str, object], metrics: Sequence[str], n: int) -> None:
    """One rich table per summary (`evaluate.Summary`: frames, methods → metric → mean); "all" is overall."""
    from rich.table import Table

    console = stdout_console()
    for name, summary in summaries.items():
        title = "overall" if name == "all" else f"scene {name}"
        table = Table(title=f"{title}: {summary.frames} predicted frame(s), N = {n}", title_justify="left")
        table.add_column("method")
        for metric in metrics:
            table.add_column(HEADERS.get(metric, metric), justify="right")
        for method, values in summary.methods.items():
            table.add_row(method, *(_cell(metric, values[metric]) for metric in metrics))
        console.print(table)


def print_region_summaries(summaries: Mapping[str, object], n: int) -> None:
    """One rich table per summary with regions: rows = methods, columns = regions (with their share of
    the pixels), cells = pooled PSNR / SSIM of the final colour; nothing when regions were not computed."""
    from rich.table import Table

    console = stdout_console()
    for name, summary in summaries.items():
        if not summary.regions:
            continue
        title = "overall" if name == "all" else f"scene {name}"
        table = Table(title=f"{title}, per region (PSNR / SSIM, pooled): {summary.frames} predicted frame(s), "
                      f"N = {n}", title_justify="left")
        table.add_column("method")
        for region, stats in summary.regions.items():
            table.add_column(f"{region} {100.0 * stats.pixels / summary.pixels:.1f}%", justify="right")
        for method in summary.methods:
            cells = [stats.metrics(method) for stats in summary.regions.values()]
            table.add_row(method, *(f"{_cell('psnr', c['psnr'])} / {_cell('ssim', c['ssim'])}" for c in cells))
        console.print(table)


def _cell(metric: str, value: float) -> str:
    if math.isinf(value):
        return "inf"
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if metric.startswith("psnr") else f"{value:.4f}"
