"""Regenerate docs/regions_example.png: truth | region overlay | warp error for one predicted frame per
scene of a packed Blender store (`python docs/make_regions_example.py STORE OUT.png [FRAME]`)."""

from __future__ import annotations

import sys

import numpy as np

from lmv_cli.core.evaluate import evaluate_scene
from lmv_cli.core.infer.images import caption, error_heat, legend, preview, region_overlay, side_by_side
from lmv_cli.core.regions import REGION_COLORS, REGIONS
from lmv_cli.core.store import open_store


def rows(store_path: str, frame: int) -> list[np.ndarray]:
    """One row (truth | regions | warp error) per scene, at predicted frame `frame` (N = 1)."""
    result = []
    for scene in open_store(store_path):
        def keep(record, outputs, targets, scene=scene):
            if record.frame == frame and record.predicted:
                labels = record.region_labels[0].cpu().numpy()
                truth = preview(targets.scene_color)
                tiles = [caption(truth, f"{scene.name} {frame}"),
                         region_overlay(truth, labels, [REGION_COLORS[r] for r in REGIONS]),
                         error_heat(outputs["warp"].color, targets.scene_color)]
                result.append(side_by_side(tiles))

        evaluate_scene(scene, 1, {}, regions=True, start=frame - 3, end=frame + 1, on_frame=keep)
    return result


def main() -> None:
    store, out = sys.argv[1], sys.argv[2]
    frame = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    image = np.concatenate(rows(store, frame), axis=0)
    strip = legend(image.shape[1], [(r, REGION_COLORS[r]) for r in REGIONS] + [("(right: warp error)", (0, 0, 0))])
    from PIL import Image

    # a 256-colour octree palette keeps the picture under 300 KB for the repository
    sheet = Image.fromarray(np.concatenate([image, strip], axis=0))
    sheet.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


if __name__ == "__main__":
    main()
