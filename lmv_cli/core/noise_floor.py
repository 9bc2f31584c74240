"""The noise floor of path-traced data: how close any predictor could get to the truth.

A path-traced frame is one sample of a noisy estimate: the same frame rendered again with another
sampling seed differs from it by the rendering noise alone. Scoring that second render (store B) as if
it were a prediction of store A's frames gives the best figure a predictor can hope for — it cannot
know A's noise — per region and overall. The scenes of A are walked exactly as `lmv test --regions`
walks them (`evaluate_scene`: same R/P pattern, same predicted frames, regions computed from A), with
B's `scene_color` layers scored as the method `noise_floor` beside `warp`, `repeat` and any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lmv_cli.core.devices import pick_device
from lmv_cli.core.errors import InputError
from lmv_cli.core.evaluate import METRICS, FrameRecord, evaluate_scene, frame_range, read_frame, summarize
from lmv_cli.core.infer.compare import Comparison
from lmv_cli.core.infer.models import load_models, select_scenes
from lmv_cli.core.inputs import rendered_layers
from lmv_cli.core.progress import ProgressFn
from lmv_cli.core.store import open_store

NOISE_FLOOR = "noise_floor"
"""Method name of the second render in the reports."""


def noise_floor(
    store_a: str | Path,
    store_b: str | Path,
    *,
    scenes: Sequence[str] | None = None,
    n: int = 1,
    models: Sequence[str | Path] = (),
    device: str | None = None,
    precision: str = "auto",
    backend: str = "auto",
    progress: ProgressFn | None = None,
) -> Comparison:
    """Score store B's renders of A's scenes against A's ground truth on the predicted frames of the
    R/P pattern with N predictions, per region, beside `warp`, `repeat` and `models` (optional).

    Every scene must exist in B at A's resolution with at least A's frames; all is checked (stores,
    scenes, frame ranges, models) before the first frame is scored. Returns a `Comparison` whose
    `reference` is B."""
    a, b = open_store(store_a), open_store(store_b)
    selected = select_scenes(a, scenes)
    pairs = [(scene, _matching_scene(scene, b)) for scene in selected]
    for scene, _ in pairs:
        frame_range(scene, n, 0, None)
    dev = pick_device(device)
    loaded = load_models(models, a, dev, precision, backend) if models else []
    nets = {m.name: m.model for m in loaded}
    records: list[FrameRecord] = []
    for scene, other in pairs:
        def second_render(t: int, other=other):
            return rendered_layers(read_frame(other, t, dev))

        records += evaluate_scene(scene, n, nets, device=dev, regions=True,
                                  references={NOISE_FLOOR: second_render}, progress=progress, overlap=True)
    return Comparison(a.path, n, {m.name: m.path for m in loaded}, METRICS, records, summarize(records), None,
                      reference=b.path)


def _matching_scene(scene, store_b):
    """Store B's scene of the same name (a missing one is a `StoreError` listing B's scenes), refused
    (`InputError` naming both) when it has another frame size or fewer frames."""
    other = store_b.scene(scene.name)
    if (other.height, other.width) != (scene.height, scene.width) or other.frames < scene.frames:
        raise InputError(f"scene {scene.name}: the second render {store_b.path} has {other.frames} frames of "
                         f"{other.width}x{other.height}, store {scene.store} has {scene.frames} frames of "
                         f"{scene.width}x{scene.height}")
    return other
