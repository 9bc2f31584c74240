"""`lmv extrapolate`: predict N frames after every rendered frame and write them (docs/evaluation.md#lmv-extrapolate-output).

Each scene is streamed once (`evaluate_scene`) with the model and the baselines; a `SceneWriter`
writes the predicted frames (EXR, PNG), the contact sheet and the video as they come, then the
per-frame metrics (CSV, JSON) and a PSNR plot. Everything is checked before the first prediction:
precision/backend, the output folder, the store, scenes and frame ranges, the model and its agreement
with the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmv_cli.core.evaluate import FrameRecord, Summary, evaluate_scene, frame_range, summarize
from lmv_cli.core.infer import reports
from lmv_cli.core.infer.models import load_models, pick_device, select_scenes
from lmv_cli.core.infer.plot import psnr_plot
from lmv_cli.core.infer.video import VideoWriter, video_available
from lmv_cli.core.infer.writer import SceneWriter, make_folder
from lmv_cli.core.progress import ProgressFn
from lmv_cli.core.rollout import rp_schedule
from lmv_cli.core.store import open_store

SHEET_ROWS = 4
"""Predicted frames shown in a contact sheet, evenly spread over the scene."""
VIDEO_FPS = 60
"""Frame rate of the side-by-side video: every store frame (R and P) shown once."""


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
    progress: ProgressFn | None = None,
) -> Extrapolation:
    """Extrapolate the scenes of a store with `model` (a file, run dir, job dir or `bundled`), frames
    `start` … `end`−1, N predictions per rendered frame; write into `out`/<scene>/ (writer.py)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        make_folder(out)  # raises: a file is in the way
    store = open_store(store_path)
    selected = select_scenes(store, scenes)
    ranges = [frame_range(scene, n, start, end) for scene in selected]
    dev = pick_device(device)
    (loaded,) = load_models([model], store, dev, precision, backend)
    use_video = video and video_available()
    note = None if use_video or not video else "no video: install the 'video' extra (pip install 'lmv[video]')"
    results, records = [], []
    for scene, (first, stop) in zip(selected, ranges):
        folder = make_folder(out / scene.name)
        result, scene_records = _scene(scene, loaded, folder, n, (first, stop), dev, use_video, progress)
        results.append(result)
        records += scene_records
    summaries = summarize(records)
    reports.write_json(out / "summary.json", {"schema": "lmv.extrapolate/1", "store": str(store.path),
                                              "model": str(loaded.path), "frames_per_rendered": n,
                                              "summary": {k: reports.summary_dict(s) for k, s in summaries.items()}})
    return Extrapolation(out, loaded.path, n, results, summaries, note)


def _scene(scene, loaded, folder: Path, n: int, span: tuple[int, int], device, use_video: bool,
           progress: ProgressFn | None) -> tuple[SceneResult, list[FrameRecord]]:
    """Stream frames span[0] … span[1]−1 of one scene through the model, writing as it goes; then the
    metrics and the plot."""
    first, stop = span
    predicted = [first + i for i, p in enumerate(rp_schedule(stop - first, n)) if p]
    picks = {predicted[int(round(k))] for k in np.linspace(0, len(predicted) - 1, min(SHEET_ROWS, len(predicted)))}
    video_path = folder / "video.mp4" if use_video else None
    writer = SceneWriter(folder, loaded.name, picks, VideoWriter(video_path, VIDEO_FPS) if use_video else None)
    try:
        records = evaluate_scene(scene, n, {loaded.name: loaded.model}, device=device, start=first, end=stop,
                                 regions=True, on_frame=writer, progress=progress)
    finally:
        sheet = writer.finish()
    context = {"scene": scene.name, "model": str(loaded.path), "frames_per_rendered": n}
    files = {
        "metrics_csv": reports.write_csv(folder / "metrics.csv", records),
        "metrics_json": reports.write_json(folder / "metrics.json",
                                           reports.frames_document(records, summarize(records), **context)),
        "plot": psnr_plot(folder / "psnr.png", records),
    }
    return SceneResult(scene.name, folder, writer.written, sheet, video_path, files), records
