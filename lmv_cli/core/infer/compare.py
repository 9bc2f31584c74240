"""`lmv test`: models against the `warp` and `repeat` baselines on exactly the same frames (docs/evaluation.md#baselines).

Every scene is streamed once in the R P…P pattern with all models side by side (`evaluate_scene`), so
all methods are scored on the same predicted frames against the same ground truth. No images are
written; the optional plot shows PSNR over frames with the rendered frames marked. With `regions`, every
figure is also given per region (`regions.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmv_cli.core.devices import pick_device
from lmv_cli.core.errors import LmvError
from lmv_cli.core.evaluate import (
    FLIP_METRICS,
    FRAME_METRICS,
    METRICS,
    FrameRecord,
    Summary,
    evaluate_scene,
    frame_range,
    summarize,
)
from lmv_cli.core.infer.models import load_models, select_scenes
from lmv_cli.core.infer.plot import psnr_plot
from lmv_cli.core.metrics import flip_available
from lmv_cli.core.progress import ProgressFn
from lmv_cli.core.store import open_store


@dataclass
class Comparison:
    """What `compare` measured: per-frame records, summaries per scene and overall (`evaluate.OVERALL`)."""

    store: Path
    n: int
    models: dict[str, Path]  # report name → model file
    metrics: tuple[str, ...]
    records: list[FrameRecord]
    summaries: dict[str, Summary]
    plot: Path | None
    reference: Path | None = None  # the second render scored as `noise_floor` (`noise_floor.py`), if any


def compare(
    model_specs: Sequence[str | Path],
    store_path: str | Path,
    *,
    scenes: Sequence[str] | None = None,
    n: int = 1,
    device: str | None = None,
    flip: bool | None = None,
    plot: str | Path | None = None,
    precision: str = "auto",
    backend: str = "auto",
    regions: bool = False,
    all_metrics: bool = False,
    progress: ProgressFn | None = None,
) -> Comparison:
    """Score every model and both baselines on the scenes of a store with N predictions per rendered
    frame (and, with `regions`, per region). Store, scenes, frame ranges, models (and their agreement
    with the store) and the plot path are all checked before any frame is predicted. The layers' SSIM
    only with `all_metrics` (`FRAME_METRICS` otherwise), ꟻLIP only with `flip` (seconds per image)."""
    store = open_store(store_path)
    selected = select_scenes(store, scenes)
    for scene in selected:
        frame_range(scene, n, 0, None)
    plot_path = _plot_path(plot)
    use_flip = bool(flip)
    if use_flip and not flip_available():
        raise LmvError("ꟻLIP needs the 'metrics' extra: pip install 'lmv[metrics]' (package flip-evaluator)")
    dev = pick_device(device)
    loaded = load_models(model_specs, store, dev, precision, backend)
    models = {m.name: m.model for m in loaded}
    scored = METRICS if all_metrics else FRAME_METRICS
    records: list[FrameRecord] = []
    for scene in selected:
        records += evaluate_scene(scene, n, models, device=dev, metrics=scored, flip_metrics=use_flip,
                                  regions=regions, progress=progress, overlap=True)
    if plot_path is not None:
        psnr_plot(plot_path, records)
    metrics = scored + (FLIP_METRICS if use_flip else ())
    return Comparison(store.path, n, {m.name: m.path for m in loaded}, metrics, records, summarize(records), plot_path)


def _plot_path(plot: str | Path | None) -> Path | None:
    """The plot's path, refused up front when it is a folder or its folder cannot be made."""
    if plot is None:
        return None
    path = Path(plot)
    if path.is_dir():
        raise LmvError("plot path is a folder; give a file name such as psnr.png", path=path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LmvError(f"cannot create the plot's folder: {e.strerror or e}", path=path.parent) from None
    return path
