"""What `lmv extrapolate` writes for one scene, fed frame by frame by `evaluate_scene`'s `on_frame`:

    <out>/<scene>/exr/frame_<t>.exr      linear HDR prediction (float32 R, G, B), predicted frames only
    <out>/<scene>/png/frame_<t>.png      its ACES + sRGB preview
    <out>/<scene>/contact_sheet.png      prediction | ground truth | error heat-map | warp | regions, a few
                                         frames, with the regions' colour legend (`region_tile`)
    <out>/<scene>/video.mp4              prediction | truth | warp, every frame (R and P), `video` extra

Only the contact sheet's few rows are kept in memory; everything else is written as it comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lmv_cli.core import exr
from lmv_cli.core.errors import LmvError
from lmv_cli.core.evaluate import FrameRecord
from lmv_cli.core.infer.images import (caption, contact_sheet, error_heat, legend, preview, region_overlay,
                                       side_by_side, write_png)
from lmv_cli.core.inputs import Targets
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.regions import REGION_COLORS, REGIONS

SHEET_COLUMNS = ("prediction", "ground truth", "error (ACES)", "warp")
REGIONS_COLUMN = "regions"
VIDEO_COLUMNS = "prediction | truth | warp"


def frame_name(t: int) -> str:
    """File stem of frame t: frame_00012."""
    return f"frame_{t:05d}"


class SceneWriter:
    """`on_frame` callback of one scene: writes EXR + PNG per predicted frame, feeds the video, keeps the
    contact sheet rows of `sheet_frames`; `finish()` writes the sheet and closes the video."""

    def __init__(self, folder: Path, model: str, sheet_frames: set[int], video=None):
        self.folder, self.model, self.sheet_frames, self.video = folder, model, sheet_frames, video
        self.rows: list[tuple[str, list[np.ndarray]]] = []
        self.written = 0
        for sub in ("exr", "png"):
            make_folder(folder / sub)

    def __call__(self, record: FrameRecord, outputs: Mapping[str, NetOutputs], targets: Targets) -> None:
        truth = preview(targets.scene_color)
        if record.predicted:
            color = outputs[self.model].color
            self._write_frame(record.frame, color)
            shown, warp = preview(color), preview(outputs["warp"].color)
            if record.frame in self.sheet_frames:
                tiles = [shown, truth, error_heat(color, targets.scene_color), warp]
                tiles += region_tile(record, truth)
                self.rows.append((f"frame {record.frame} (P{record.source})", tiles))
        else:
            shown = warp = truth
        if self.video is not None:
            label = f"P{record.source}" if record.predicted else "R"
            self.video.write(side_by_side([caption(shown, f"{label} {record.frame}"), truth, warp]))

    def _write_frame(self, t: int, color) -> None:
        image = color[0].detach().float().cpu().numpy()  # (3, H, W) linear HDR
        name = frame_name(t)
        exr.write_exr(self.folder / "exr" / f"{name}.exr", {c: image[i] for i, c in enumerate("RGB")})
        write_png(self.folder / "png" / f"{name}.png", preview(color))
        self.written += 1

    def finish(self) -> Path | None:
        """Write the contact sheet (if any row was kept) and close the video; returns the sheet's path."""
        if self.video is not None:
            self.video.close()
        if not self.rows:
            return None
        with_regions = len(self.rows[0][1]) > len(SHEET_COLUMNS)
        sheet = contact_sheet(self.rows, SHEET_COLUMNS + ((REGIONS_COLUMN,) if with_regions else ()))
        if with_regions:
            sheet = np.concatenate([sheet, legend(sheet.shape[1], list(REGION_COLORS.items()))], axis=0)
        return write_png(self.folder / "contact_sheet.png", sheet)


def make_folder(path: Path) -> Path:
    """mkdir -p, with a one-line `LmvError` when a file is in the way or it cannot be created."""
    if path.exists() and not path.is_dir():
        raise LmvError("output folder is a file", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LmvError(f"cannot create output folder: {e.strerror or e}", path=path) from None
    return path


def region_tile(record: FrameRecord, truth: np.ndarray) -> list[np.ndarray]:
    """The contact sheet's regions tile of a predicted frame: the truth tinted by region (`REGION_COLORS`),
    or nothing when the frame's regions were not computed."""
    if record.region_labels is None:
        return []
    labels = record.region_labels[0].cpu().numpy()  # (H, W) index into REGIONS
    return [region_overlay(truth, labels, [REGION_COLORS[r] for r in REGIONS])]
