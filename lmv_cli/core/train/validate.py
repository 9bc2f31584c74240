"""Validation on the held-out scenes, full frames: the model next to `warp` and `repeat` on the same
predicted frames, for N = 1 and N = 2 predictions per rendered frame (`core.evaluate`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lmv_cli.core.data.index import SceneRef
from lmv_cli.core.evaluate import OVERALL, evaluate_scene, summarize
from lmv_cli.core.store import open_store

VAL_N = (1, 2)
"""Predicted frames per rendered frame that validation reports."""
VAL_METRICS = ("psnr", "ssim")
MODEL = "model"

Preview = Callable[[str, int, object, object], None]
"""(tag, n, outputs by method, targets) for the first predicted frame of each N: preview images."""


def validate(
    model: torch.nn.Module, scenes: Sequence[SceneRef], device: torch.device, frames: int | None = None,
    preview: Preview | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Score `model` on every validation scene: {"n1": {method: {psnr, ssim}}, "n2": …} over all their
    predicted frames; `frames` limits each scene to its first frames. `preview` sees one frame per N."""
    result = {}
    for n in VAL_N:
        records = []
        for ref in scenes:
            scene = open_store(ref.store).scene(ref.scene)
            end = min(scene.frames, frames) if frames else None
            hook = _first_predicted(preview, f"{ref.scene}", n) if preview and ref is scenes[0] else None
            records += evaluate_scene(scene, n, {MODEL: model}, device=device, end=end, metrics=VAL_METRICS,
                                      on_frame=hook)
        summary = summarize(records)[OVERALL]
        result[f"n{n}"] = {m: {k: summary.methods[m][k] for k in VAL_METRICS} for m in summary.methods}
    return result


def selection_psnr(result: dict[str, dict[str, dict[str, float]]]) -> float:
    """The figure `best.pt` is chosen on: the model's PSNR averaged over N = 1 and N = 2."""
    return sum(result[f"n{n}"][MODEL]["psnr"] for n in VAL_N) / len(VAL_N)


def _first_predicted(preview: Preview, tag: str, n: int):
    done = []

    def on_frame(record, outputs, targets) -> None:
        if record.predicted and not done:
            done.append(True)
            preview(tag, n, outputs, targets)

    return on_frame
