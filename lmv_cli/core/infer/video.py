"""Side-by-side MP4 (prediction | truth | warp) of a whole extrapolated sequence, because frame
generation is judged in motion: flicker and drift show there, not in stills (docs/evaluation.md#lmv-extrapolate-output).

Every frame of the scene (rendered and predicted) is one video frame: three tiles, reduced by a whole
factor so the video is at most `MAX_WIDTH` px wide (what common players and hardware decoders open;
tiny scenes are enlarged instead),
under a label band naming the columns and tagging the frame (`frame 12  P1`, or `R` when rendered).
It plays at `DEFAULT_FPS` (a slow motion of a 60 fps capture, so a 24-frame scene lasts 2.4 s).

Needs PyAV (the `video` extra); `video_available()` says whether it is installed. H.264 (libx264,
yuv420p, even sizes) when the FFmpeg inside PyAV has it, MPEG-4 Part 2 otherwise.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from lmv_cli.core.errors import LmvError
from lmv_cli.core.infer.images import preview, side_by_side

CODECS = ("libx264", "mpeg4")
"""Encoders tried in order."""
DEFAULT_FPS = 10
"""Playback rate (frames/s) unless `--video-fps` says otherwise: ≥ 2 s for a 24-frame scene."""
MAX_WIDTH = 2048
"""Widest video written (px): three 1920- or 1280-wide tiles are reduced to 640 px each."""
COLUMNS = ("prediction", "truth", "warp")
"""Column labels, left to right."""
GAP = 2
"""Grey gap between tiles (px)."""
MIN_TILE_WIDTH = 160
"""Tiles narrower than this (px) are enlarged by a whole factor, so their labels fit."""


def video_available() -> bool:
    """Whether PyAV (the `video` extra) is installed."""
    return importlib.util.find_spec("av") is not None


def layout(height: int, width: int) -> tuple[int, int, int]:
    """(reduction factor, enlargement factor, label band height in px) of the video of a `height` ×
    `width` scene: wide scenes are averaged down so the video fits `MAX_WIDTH`, tiny ones (tests, crops)
    enlarged by a whole factor (nearest) so their labels fit."""
    down = max(1, -(-(len(COLUMNS) * width + (len(COLUMNS) - 1) * GAP) // MAX_WIDTH))  # ceil
    up = max(1, -(-MIN_TILE_WIDTH // width))
    tile_w = width // down * up
    return down, up, 2 * max(8, tile_w // 48) + 8  # band: font size (≈ tile width / 24) plus margins, even


def reduce(color: torch.Tensor, factor: int) -> torch.Tensor:
    """Linear HDR colour (1, 3, H, W) or (3, H, W) averaged over `factor` × `factor` blocks (light is
    averaged before tonemapping, as a camera would): (1, 3, H // factor, W // factor)."""
    x = color.detach().float().reshape(1, -1, *color.shape[-2:])[:, :3].cpu()
    return x if factor == 1 else torch.nn.functional.avg_pool2d(x, factor)


def compose(tiles: list[np.ndarray], tag: str, band: int) -> np.ndarray:
    """One video frame: (h, w, 3) uint8 tiles side by side under a `band`-px label band holding the
    column names and, at the right of the first column, `tag`."""
    row = side_by_side(tiles, GAP)
    canvas = Image.new("RGB", (row.shape[1], band + row.shape[0]), (16, 16, 16))
    canvas.paste(Image.fromarray(row, "RGB"), (0, band))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=band - 8)
    w = tiles[0].shape[1]
    for i, name in enumerate(COLUMNS):
        draw.text((i * (w + GAP) + 4, 3), name, fill=(255, 255, 255), font=font)
    right = draw.textbbox((0, 0), tag, font=font)[2]
    draw.text((max(w // 2, w - right - 4), 3), tag, fill=(255, 210, 0), font=font)
    return np.asarray(canvas)


def frame_for(prediction: torch.Tensor, truth: torch.Tensor, warp: torch.Tensor, tag: str) -> np.ndarray:
    """The composed video frame of three linear HDR colours (3, H, W) (resized per `layout`, ACES + sRGB)."""
    down, up, band = layout(*truth.shape[-2:])
    tiles = {}
    for t in (prediction, truth, warp):  # a rendered frame shows one colour three times: tonemap it once
        if id(t) not in tiles:
            tile = preview(reduce(t, down))
            tiles[id(t)] = tile.repeat(up, axis=0).repeat(up, axis=1) if up > 1 else tile
    return compose([tiles[id(prediction)], tiles[id(truth)], tiles[id(warp)]], tag, band)


class VideoWriter:
    """Write (H, W, 3) uint8 frames to an MP4 at `fps`; odd sizes are padded by one black row/column
    (yuv420p needs even sizes). Use as a context manager; the file is complete after `close`."""

    def __init__(self, path: str | Path, fps: int = DEFAULT_FPS):
        if not video_available():
            raise LmvError("video needs the 'video' extra: pip install 'lmv[video]' (package av)")
        import av

        self.path = Path(path)
        self.fps = fps
        self._av = av
        try:
            self._container = av.open(str(self.path), mode="w")
        except OSError as e:
            raise LmvError(f"cannot write video: {e}", path=self.path) from None
        self._stream = None
        self._count = 0

    def write(self, image: np.ndarray) -> None:
        """Append one frame (H, W, 3) uint8; every frame must have the size of the first."""
        h, w = image.shape[:2]
        padded = np.zeros((h + h % 2, w + w % 2, 3), dtype=np.uint8)
        padded[:h, :w] = image
        if self._stream is None:
            self._stream = self._open_stream(padded.shape[1], padded.shape[0])
        if (padded.shape[1], padded.shape[0]) != (self._stream.width, self._stream.height):
            raise LmvError(f"video frame {w}x{h} differs from the first frame's size", path=self.path)
        frame = self._av.VideoFrame.from_ndarray(padded, format="rgb24")
        frame.pts, frame.time_base = self._count, Fraction(1, self.fps)  # one tick per frame
        self._count += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _open_stream(self, width: int, height: int):
        codec = next((c for c in CODECS if c in self._av.codecs_available), None)
        if codec is None:
            raise LmvError(f"video: PyAV's FFmpeg has none of the encoders {', '.join(CODECS)}", path=self.path)
        stream = self._container.add_stream(codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, self.fps)
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        return stream

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
