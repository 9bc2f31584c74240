"""What `lmv extrapolate` writes for one scene, fed frame by frame by `evaluate_scene`'s `on_frame`:

    <scene>/exr/frame_<t>.exr      linear HDR prediction (half R, G, B, ZIP), predicted frames only
    <scene>/png/frame_<t>.png      its ACES + sRGB preview
    <scene>/contact_sheet.png      prediction | ground truth | error heat-map | warp | regions, a few
                                   frames, with the regions' colour legend (`region_tile`)
    <scene>/video.mp4              prediction | truth | warp with labels, every frame (R and P), `video` extra

`on_frame` only takes the frame's colours off the device and queues one task on a `BackgroundTasks`
(core/background.py); tonemapping, encoding and writing run on the writer thread while the next frame is
predicted. Only the contact sheet's few rows are kept in memory; everything else is written as it comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lmv_cli.core import exr
from lmv_cli.core.errors import LmvError
from lmv_cli.core.evaluate import FrameRecord
from lmv_cli.core.infer import video as vid
from lmv_cli.core.background import BackgroundTasks
from lmv_cli.core.infer.images import contact_sheet, error_heat, legend, preview, region_overlay, write_png
from lmv_cli.core.inputs import Targets
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.regions import REGION_COLORS, REGIONS

SHEET_COLUMNS = ("prediction", "ground truth", "error (ACES)", "warp")
SHEET_TILE_WIDTH = 640
"""Widest contact sheet tile (px): larger frames are averaged down by a whole factor (1920 → 640)."""
REGIONS_COLUMN = "regions"
HALF_MAX = 65504.0
"""Largest finite float16: predicted EXRs are clamped to it."""


def frame_name(t: int) -> str:
    """File stem of frame t: frame_00012."""
    return f"frame_{t:05d}"


class SceneWriter:
    """`on_frame` callback of one scene: queues, per frame, the EXR + PNG of a predicted frame, the video
    frame and (for `sheet_frames`) a contact sheet row on `background`; `finish()` queues the sheet and
    the closing of the video. Errors surface from `background` (at a later frame or at its `close`)."""

    def __init__(self, folder: Path, model: str, sheet_frames: set[int], background: BackgroundTasks,
                 video: vid.VideoWriter | None = None):
        self.folder, self.model, self.sheet_frames, self.video = folder, model, sheet_frames, video
        self.background = background
        self.rows: list[tuple[str, list[np.ndarray]]] = []  # appended on the writer thread only
        self.written = 0
        for sub in ("exr", "png"):
            make_folder(folder / sub)

    def __call__(self, record: FrameRecord, outputs: Mapping[str, NetOutputs], targets: Targets) -> None:
        # (3, H, W) float32 linear HDR on the CPU; the writer thread only reads them (nothing is in place)
        truth = _host(targets.scene_color)
        labels = None
        if record.predicted:
            color, warp = _host(outputs[self.model].color), _host(outputs["warp"].color)
            self.written += 1
            if record.frame in self.sheet_frames and record.region_labels is not None:
                # copied here: the record's labels are only valid while on_frame runs
                labels = record.region_labels[0].to("cpu").numpy().copy()
        else:
            color = warp = None
        self.background.submit(lambda: self._write(record, color, truth, warp, labels))

    def _write(self, record: FrameRecord, color: torch.Tensor | None, truth: torch.Tensor,
               warp: torch.Tensor | None, labels: np.ndarray | None = None) -> None:
        """Writer thread: the files of one frame."""
        t = record.frame
        if color is not None:
            name = frame_name(t)
            exr.write_exr(self.folder / "exr" / f"{name}.exr", {c: _half(color[i]) for i, c in enumerate("RGB")})
            write_png(self.folder / "png" / f"{name}.png", preview(color))
            if t in self.sheet_frames:
                self.rows.append((f"frame {t} (P{record.source})", sheet_tiles(color, truth, warp, labels)))
        if self.video is not None:
            tag = f"frame {t}  " + (f"P{record.source}" if record.predicted else "R")
            shown = (color, truth, warp) if color is not None else (truth, truth, truth)
            self.video.write(vid.frame_for(*shown, tag))

    def finish(self) -> Path | None:
        """Queue the contact sheet (when frames were picked for it) and the closing of the video;
        returns the sheet's path, complete once `background` is closed."""
        sheet = self.folder / "contact_sheet.png" if self.sheet_frames else None
        self.background.submit(lambda: self._finish(sheet))
        return sheet

    def _finish(self, sheet: Path | None) -> None:
        if self.video is not None:
            self.video.close()
        if sheet is not None and self.rows:
            with_regions = len(self.rows[0][1]) > len(SHEET_COLUMNS)
            image = contact_sheet(self.rows, SHEET_COLUMNS + ((REGIONS_COLUMN,) if with_regions else ()))
            if with_regions:
                image = np.concatenate([image, legend(image.shape[1], list(REGION_COLORS.items()))], axis=0)
            write_png(sheet, image)


def sheet_tiles(color: torch.Tensor, truth: torch.Tensor, warp: torch.Tensor, labels: np.ndarray | None) -> list[np.ndarray]:
    """One contact sheet row (`SHEET_COLUMNS`, then the regions tile when `labels` (H, W) are given) of
    linear colours (3, H, W), averaged down by a whole factor to at most `SHEET_TILE_WIDTH` px wide (the
    sheet is an overview; the frames themselves are in png/ and exr/): at 1920x1080 five full-size
    columns made a 9,600 px wide PNG costing seconds to encode."""
    down = max(1, -(-truth.shape[-1] // SHEET_TILE_WIDTH))  # ceil
    small = [vid.reduce(x, down)[0] for x in (color, truth, warp)]
    shown = preview(small[1])
    tiles = [preview(small[0]), shown, error_heat(small[0], small[1]), preview(small[2])]
    if labels is not None:
        h, w = shown.shape[:2]
        tiles += region_tile(shown, labels[down // 2::down, down // 2::down][:h, :w])  # the block centres' regions
    return tiles


def region_tile(truth: np.ndarray, labels: np.ndarray | None) -> list[np.ndarray]:
    """The contact sheet's regions tile of a predicted frame: the truth preview (H, W, 3) tinted by region
    (`labels` (H, W), index into `REGIONS`, colours `REGION_COLORS`), or nothing without labels."""
    if labels is None:
        return []
    return [region_overlay(truth, labels, [REGION_COLORS[r] for r in REGIONS])]


def _half(channel: torch.Tensor) -> np.ndarray:
    """One (H, W) float32 channel as float16 for the EXR, clamped to half's largest finite value: the
    precision of the colours it was predicted from (stores and UE's SceneColor are half), and the
    file and its ZIP time about half of float32's."""
    return channel.clamp(max=HALF_MAX).numpy().astype(np.float16)


def _host(color: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) colour of any device/dtype → (3, H, W) float32 on the CPU (no copy when it is already)."""
    return color.detach()[0, :3].to("cpu", torch.float32)


def make_folder(path: Path) -> Path:
    """mkdir -p, with a one-line `LmvError` when a file is in the way or it cannot be created."""
    if path.exists() and not path.is_dir():
        raise LmvError("output folder is a file", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LmvError(f"cannot create output folder: {e.strerror or e}", path=path) from None
    return path
