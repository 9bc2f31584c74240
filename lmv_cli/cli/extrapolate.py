"""`lmv extrapolate STORE`: predict N frames after every rendered one and write them (docs/evaluation.md#lmv-extrapolate-output)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lmv_cli.cli._common import lmv_command, progress_bar, stdout_console
from lmv_cli.cli._tables import BACKEND_HELP, DEVICE_HELP, FRAMES_HELP, PRECISION_HELP, Backend, Precision


@lmv_command
def command(
    store: Path = typer.Argument(..., help="A store written by `lmv pack` (holds ground truth for every frame)."),
    scene: Optional[list[str]] = typer.Option(None, "--scene", "-s", help="Scene to extrapolate (repeatable); "
                                              "default: every scene of the store."),
    frames: int = typer.Option(1, "--frames", "-n", min=1, max=3,
                               help=FRAMES_HELP),
    model: str = typer.Option("bundled", "--model", "-m", help="Model file, run directory (its best model), job "
                              "directory (newest run) or 'bundled'."),
    out: Path = typer.Option(Path("extrapolated"), "--out", "-o", help="Output folder; one sub-folder per scene. "
                             "Must be missing or empty unless --overwrite."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out: replace the files an "
                                   "earlier lmv run wrote there (its .lmv-outputs.json), keep every other file."),
    start: int = typer.Option(0, "--start", min=0, help="First frame (rendered, with the next two: history)."),
    end: Optional[int] = typer.Option(None, "--end", min=1, help="Stop before this frame (default: scene end)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("auto", "--precision", help=PRECISION_HELP),
    backend: Backend = typer.Option("auto", "--backend", help=BACKEND_HELP),
    video: bool = typer.Option(True, "--video/--no-video", help="Write the side-by-side MP4 (needs the 'video' "
                               "extra)."),
    video_fps: int = typer.Option(10, "--video-fps", min=1, max=240, help="Playback rate of the video, frames/s "
                                  "(10: a 24-frame scene lasts 2.4 s, slow motion of a 60 fps capture)."),
    all_metrics: bool = typer.Option(False, "--all-metrics", help="Also the SSIM of the no-translucency and "
                                     "translucency-only layers, as `lmv test` reports them (about 1 s more "
                                     "per 1920x1080 frame on 2 cores); by default their PSNR only."),
) -> None:
    """Predict N frames after every rendered frame and write them, with metrics against the ground truth.

    Each predicted frame uses its own G-buffer and motion vectors and the previous frames (rendered or
    predicted) as history, with feature streaming. Per scene, in OUT/<scene>/: exr/frame_<t>.exr (linear
    HDR prediction), png/frame_<t>.png (ACES + sRGB preview), contact_sheet.png (prediction | ground
    truth | error heat-map | warp | regions, a few frames), metrics.csv and metrics.json (per frame, for the
    model, warp and repeat: PSNR/SSIM of the final colour and per region, PSNR of the no-translucency and
    translucency-only layers), psnr.png (PSNR over frames, rendered frames grey), video.mp4 (prediction | truth |
    warp, every frame, labelled; `video` extra). OUT/summary.json holds the means. Files appear in OUT only
    when the whole run succeeded (a failed or interrupted run leaves OUT as it was).
    """
    from lmv_cli.core.infer.extrapolate import extrapolate

    with progress_bar() as progress:
        result = extrapolate(store, out, model=model, scenes=scene, n=frames, start=start, end=end,
                             device=device, precision=precision, backend=backend, video=video,
                             video_fps=video_fps, overwrite=overwrite, all_metrics=all_metrics,
                             progress=progress)
    from lmv_cli.cli._tables import print_summaries

    metrics = ("psnr", "ssim", "psnr_no_st", "psnr_st")
    print_summaries({k: v for k, v in result.summaries.items() if k != "all" or len(result.scenes) > 1}, metrics,
                    result.n)
    console = stdout_console()
    for s in result.scenes:
        console.print(f"{s.name}: {s.predicted} predicted frame(s) in {s.folder}/", highlight=False)
        console.print(f"  exr/ (linear HDR), png/ (ACES + sRGB previews), metrics.csv, metrics.json", highlight=False)
        if s.contact_sheet is not None:
            console.print(f"  contact sheet: {s.contact_sheet}", highlight=False)
        if s.video is not None:
            console.print(f"  video: {s.video}", highlight=False)
    if result.video_note:
        console.print(result.video_note, highlight=False)
    console.print(f"wrote {sum(s.predicted for s in result.scenes)} predicted frame(s) with model "
                  f"{result.model} -> {result.out}", highlight=False)
