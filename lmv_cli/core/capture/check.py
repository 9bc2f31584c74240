"""`capture-check`: validate a UE4 export and report every problem (docs/capture.md#checking-a-capture).

Passes, cheapest first: folder layout and frame numbering (`layout`), every file's header
(`headers`; all that `--quick` does), then every pixel of every frame in worker processes (`pixels`),
aggregated here into per-buffer findings and the motion-vector sanity figure (`motion`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lmv_cli.core.capture.headers import check_headers
from lmv_cli.core.capture.folders import SceneLayout, discover_scenes, scan_scene
from lmv_cli.core.capture.motion import CONVENTION_MARGIN_DB, DESCRIPTIONS, DOCUMENTED, finite_median
from lmv_cli.core.capture.pixels import NEGATIVE_COLOUR, PixelResult, PixelTask, check_pixels, conventions_for
from lmv_cli.core.capture.report import CheckReport, MotionFigure, SceneReport, Severity
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.schema import BUFFERS_BY_FOLDER

SAMPLED_PAIRS = 12
"""Frame pairs on which every velocity convention is tried (the documented one runs on all pairs)."""
IN_PROCESS_PIXELS_PER_SCENE = 4_000_000
"""Below this many pixels per scene (frames × H × W) worker processes cost more than they save."""


def check_export(
    export: str | Path, *, quick: bool = False, workers: int = 0, progress: ProgressFn | None = None
) -> CheckReport:
    """Check a UE4 export (one scene folder or a folder of scene folders) and return every problem.

    `quick` reads headers only. `workers` is the number of decoding processes (0 = one per core).
    Raises `CaptureError` only when EXPORT holds no scene at all; everything else is in the report.
    """
    result = CheckReport(Path(export), quick)
    for path in discover_scenes(Path(export)):
        result.scenes.append(check_scene(path, quick=quick, workers=workers, progress=progress))
    return result


def check_scene(path: Path, *, quick: bool = False, workers: int = 0, progress: ProgressFn | None = None) -> SceneReport:
    """Check one scene folder (see `check_export`)."""
    layout = scan_scene(path)
    good = check_headers(layout, progress)
    width, height = layout.resolution or (None, None)
    scene = SceneReport(layout.name, path, layout.frames, width, height, sorted(layout.files))
    if not quick and layout.frames:
        results = list(_run_frames(layout, good, workers, progress))
        _aggregate_buffers(layout, scene, results)
        _aggregate_velocity(layout, scene, results)
    scene.problems = layout.problems
    return scene


def _run_frames(layout: SceneLayout, good: dict[str, dict[int, Path]], workers: int,
                progress: ProgressFn | None) -> Iterator[PixelResult]:
    n = layout.frames
    sampled = {int(k) for k in np.unique(np.linspace(1, n - 1, min(SAMPLED_PAIRS, n - 1)).round())} if n > 1 else set()
    tasks = [
        PixelTask(
            frame=k,
            files={folder: frames[k] for folder, frames in good.items() if k in frames},
            prev_color=good.get("SceneColorNoST", {}).get(k - 1),
            conventions=conventions_for(k, sampled),
        )
        for k in range(n)
    ]
    width, height = layout.resolution or (0, 0)
    workers = workers or os.cpu_count() or 1
    description = f"pixels {layout.name}"
    if workers == 1 or n * width * height < IN_PROCESS_PIXELS_PER_SCENE:
        for i, task in enumerate(tasks):
            yield check_pixels(task)
            report(progress, description, i + 1, n)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=context) as pool:
        for i, result in enumerate(pool.map(check_pixels, tasks)):
            yield result
            report(progress, description, i + 1, n)


def _aggregate_buffers(layout: SceneLayout, scene: SceneReport, results: list[PixelResult]) -> None:
    """Per buffer: value ranges for the summary, NaN/Inf and range-rule findings with their first frame."""
    for result in results:
        for folder, message in result.errors.items():
            layout.add(Severity.ERROR, "unreadable", message, buffer=folder,
                       path=layout.files[folder][result.frame], frame=result.frame)
    for folder in scene.buffers:
        per_frame = [(r.frame, r.buffers[folder]) for r in results if folder in r.buffers]
        if not per_frame:
            continue
        channels = BUFFERS_BY_FOLDER[folder].channel_names
        lo = np.nanmin([[c[0] for c in s.ranges] for _, s in per_frame], axis=0)
        hi = np.nanmax([[c[1] for c in s.ranges] for _, s in per_frame], axis=0)
        scene.ranges[folder] = {ch: [float(a), float(b)] for ch, a, b in zip(channels, lo, hi)}
        checks = (("nan", "nan"), ("inf", "inf"), ("impossible", "negative-colour"), ("out_of_range", "range"))
        for attr, code in checks:
            hits = [(k, getattr(s, attr)) for k, s in per_frame if getattr(s, attr)]
            if not hits:
                continue
            first = hits[0][0]
            rule = per_frame[0][1].rule
            what = {"nan": "NaN values", "inf": "Inf values", "out_of_range": f"pixels with {rule}",
                    "impossible": f"pixels with colour below {NEGATIVE_COLOUR:g} (physically impossible)"}[attr]
            severity = Severity.WARNING if code == "range" and rule != "depth <= 0" else Severity.ERROR
            layout.add(severity, code,
                       f"{sum(c for _, c in hits)} {what} in {len(hits)} frame(s), first in frame {first}",
                       buffer=folder, path=layout.files[folder][first], frame=first)
    bad = [(r.frame, r.composite_violations) for r in results if r.composite_violations]
    if bad:
        layout.add(Severity.WARNING, "composite",
                   f"SceneColor < SceneColorNoST·STAlpha in {sum(c for _, c in bad)} pixels of {len(bad)} frame(s) "
                   f"(first in frame {bad[0][0]}): the separate-translucency composite does not hold",
                   buffer="SceneColor", path=layout.files["SceneColor"][bad[0][0]], frame=bad[0][0])


def _aggregate_velocity(layout: SceneLayout, scene: SceneReport, results: list[PixelResult]) -> None:
    """All-zero velocity and the motion-vector sanity figure (documented convention vs the others)."""
    zero = [r.frame for r in results if r.zero_velocity]
    checked = [r for r in results if r.zero_velocity is not None]
    folder = "VelocityDepth"
    if checked and len(zero) == len(checked):
        layout.add(Severity.ERROR, "zero-velocity",
                   "velocity is zero in every frame: the velocity buffer was not written (motion blur or "
                   "temporal sub-samples on in the capture, r.BasePassForceOutputsVelocity 0, or the VelocityDepth "
                   "material missing; see ue4/README.md)", buffer=folder)
        return
    if zero:
        layout.add(Severity.WARNING, "zero-velocity",
                   f"velocity is zero in {len(zero)} frame(s), first in frame {zero[0]} (static shot?)",
                   buffer=folder, path=layout.files[folder][zero[0]], frame=zero[0])
    pairs = [r.pair for r in results if r.pair is not None]
    if not pairs:
        return
    sampled = [p for p in pairs if len(p.warp) > 1]
    conventions = {name: finite_median([p.warp[name] for p in sampled]) for name in DESCRIPTIONS} if sampled else {}
    advantage = {name: finite_median([p.advantage[name] for p in sampled]) for name in DESCRIPTIONS} if sampled else {}
    warp = finite_median([p.warp[DOCUMENTED] for p in pairs])
    repeat = finite_median([p.repeat for p in pairs])
    fits = {name: a for name, a in advantage.items() if a > CONVENTION_MARGIN_DB}
    best = max(fits, key=fits.get) if fits else DOCUMENTED
    scene.motion = MotionFigure(warp, repeat, len(pairs), conventions, advantage, best)
    summary = f"warp {warp:.2f} dB vs repeat {repeat:.2f} dB (median of {len(pairs)} pairs)"
    if best != DOCUMENTED:
        layout.add(Severity.ERROR, "velocity-convention",
                   f"velocity does not follow the documented convention ({DESCRIPTIONS[DOCUMENTED]}): {summary}; "
                   f"best fit: {best} = {DESCRIPTIONS[best]} ({conventions[best]:.2f} dB, "
                   f"{advantage[best]:+.1f} dB where the two disagree)", buffer=folder)
    elif not warp > repeat:
        layout.add(Severity.ERROR, "velocity-no-gain",
                   f"warping with the velocity does not beat repeating the previous frame: {summary}; "
                   "check velocity sign, axis and scale", buffer=folder)
