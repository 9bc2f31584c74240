"""`lmv extrapolate`: predict N frames after every rendered frame and write them (docs/evaluation.md#lmv-extrapolate-output).

Each scene is streamed once (`evaluate_scene`) with the model and the baselines; a `SceneWriter`
queues the predicted frames (EXR, PNG), the contact sheet and the video on one background writer
thread (core/background.py), so prediction never waits on encoders or disk; then the per-frame metrics (CSV,
JSON) and a PSNR plot. Everything is written into a staging folder that becomes OUT only when the whole
run succeeded (outdir.py). Everything is checked before the first prediction: precision/backend, the
output folder, the store, scenes and frame ranges, the model and its agreement with the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmv_cli.core.errors import InputError
from lmv_cli.core.evaluate import FRAME_METRICS, METRICS, FrameRecord, Summary, evaluate_scene, frame_range, summarize
from lmv_cli.core.infer import reports
from lmv_cli.core.background import BackgroundTasks
from lmv_cli.core.infer.memory import pin_mmap_threshold
from lmv_cli.core.devices import pick_device
from lmv_cli.core.infer.models import load_models, select_scenes
from lmv_cli.core.infer.outdir import OutputFolder
from lmv_cli.core.infer.plot import psnr_plot
from lmv_cli.core.infer.video import DEFAULT_FPS, VideoWriter, video_available
from lmv_cli.core.infer.writer import SceneWriter, make_folder
from lmv_cli.core.progress import ProgressFn
from lmv_cli.core.rollout import rp_schedule
from lmv_cli.core.store import open_store

SHEET_ROWS = 4
"""Predicted frames shown in a contact sheet, evenly spread over the scene."""


@dataclass
class SceneResult:
    """What was written for one scene."""

    name: str
    folder: Path
    predicted: int
    contact_sheet: Path | None
    video: Path | None
    files: dict[str, Path] = field(default_factory=dict)  # metrics_csv, metrics_json, plot


@dataclass
class Extrapolation:
    """The whole run: where it wrote, the model used, per-scene results and summaries."""

    out: Path
    model: Path
    n: int
    scenes: list[SceneResult]
    summaries: dict[str, Summary]
    video_note: str | None  # why no video was written, when none was


def extrapolate(
    store_path: str | Path,
    out: str | Path,
    *,
    model: str | Path = "bundled",
    scenes: Sequence[str] | None = None,
    n: int = 1,
    start: int = 0,
    end: int | None = None,
    device: str | None = None,
    precision: str = "auto",
    backend: str = "auto",
    video: bool = True,
    video_fps: int = DEFAULT_FPS,
    overwrite: bool = False,
    all_metrics: bool = False,
    progress: ProgressFn | None = None,
) -> Extrapolation:
    """Extrapolate the scenes of a store with `model` (a file, run dir, job dir or `bundled`), frames
    `start` … `end`−1, N predictions per rendered frame; write into `out`/<scene>/ (writer.py), all at
    once when the run succeeded (outdir.py: `out` must be empty unless `overwrite`). Per-frame metrics are
    `FRAME_METRICS`, or every metric of `lmv test` with `all_metrics`."""
    folder = OutputFolder(out, overwrite=overwrite)
    if video_fps < 1:
        raise InputError(f"video frame rate: expected an integer >= 1, got {video_fps}")
    store = open_store(store_path)
    selected = select_scenes(store, scenes)
    ranges = [frame_range(scene, n, start, end) for scene in selected]
    dev = pick_device(device)
    (loaded,) = load_models([model], store, dev, precision, backend)
    fps = video_fps if video and video_available() else None
    pin_mmap_threshold()  # the largest tensors mmap'd: 2.5 instead of 3.7 GiB peak at 1080p (memory.py)
    note = None if fps or not video else "no video: install the 'video' extra (pip install 'lmv[video]')"
    results, records = [], []
    with folder.staged() as staging:
        background = BackgroundTasks(name="lmv-writer")
        try:
            for scene, span in zip(selected, ranges):
                result, scene_records = _scene(scene, loaded, staging / scene.name, n, span, dev, background, fps,
                                               METRICS if all_metrics else FRAME_METRICS, progress)
                results.append(result)
                records += scene_records
            background.close()  # waits for the last files; raises the writer thread's error
        finally:
            background.close(raise_error=False)
        summaries = summarize(records)
        reports.write_json(staging / "summary.json", {
            "schema": "lmv.extrapolate/1", "store": str(store.path), "model": str(loaded.path),
            "frames_per_rendered": n, "summary": {k: reports.summary_dict(s) for k, s in summaries.items()}})
    results = [_moved(r, staging, folder.out) for r in results]
    return Extrapolation(folder.out, loaded.path, n, results, summaries, note)


def _scene(scene, loaded, folder: Path, n: int, span: tuple[int, int], device, background: BackgroundTasks,
           fps: int | None, metrics: Sequence[str], progress: ProgressFn | None) -> tuple[SceneResult, list[FrameRecord]]:
    """Stream frames span[0] … span[1]−1 of one scene through the model, queueing its files on
    `background` as it goes (a video at `fps` frames/s unless None); then the metrics and the plot."""
    first, stop = span
    predicted = [first + i for i, p in enumerate(rp_schedule(stop - first, n)) if p]
    picks = {predicted[int(round(k))] for k in np.linspace(0, len(predicted) - 1, min(SHEET_ROWS, len(predicted)))}
    video_path = folder / "video.mp4" if fps else None
    writer = SceneWriter(folder, loaded.name, picks, background, VideoWriter(video_path, fps) if fps else None)
    records = evaluate_scene(scene, n, {loaded.name: loaded.model}, device=device, start=first, end=stop,
                             metrics=metrics, regions=True, on_frame=writer, progress=progress, overlap=True)
    sheet = writer.finish()
    context = {"scene": scene.name, "model": str(loaded.path), "frames_per_rendered": n}
    plot = folder / "psnr.png"
    background.submit(lambda: psnr_plot(plot, records))
    files = {
        "metrics_csv": reports.write_csv(folder / "metrics.csv", records),
        "metrics_json": reports.write_json(folder / "metrics.json",
                                           reports.frames_document(records, summarize(records), **context)),
        "plot": plot,
    }
    return SceneResult(scene.name, folder, writer.written, sheet, video_path, files), records


def _moved(result: SceneResult, staging: Path, out: Path) -> SceneResult:
    """`result` with its paths in `out` instead of the staging folder it was written to."""
    def move(path: Path | None) -> Path | None:
        return None if path is None else out / path.relative_to(staging)

    return dataclasses.replace(result, folder=move(result.folder), contact_sheet=move(result.contact_sheet),
                               video=move(result.video), files={k: move(v) for k, v in result.files.items()})
