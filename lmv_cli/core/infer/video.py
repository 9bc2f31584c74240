"""Side-by-side MP4 (prediction | truth | warp) of a whole extrapolated sequence, because frame
generation is judged in motion: flicker and drift show there, not in stills (docs/evaluation.md#lmv-extrapolate-output).

Needs PyAV (the `video` extra); `video_available()` says whether it is installed. H.264 (libx264,
yuv420p) when the FFmpeg inside PyAV has it, MPEG-4 Part 2 otherwise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from lmv_cli.core.errors import LmvError

CODECS = ("libx264", "mpeg4")
"""Encoders tried in order."""


def video_available() -> bool:
    """Whether PyAV (the `video` extra) is installed."""
    return importlib.util.find_spec("av") is not None


class VideoWriter:
    """Write (H, W, 3) uint8 frames to an MP4 at `fps`; odd sizes are padded by one black row/column
    (yuv420p needs even sizes). Use as a context manager; the file is complete after `close`."""

    def __init__(self, path: str | Path, fps: int = 60):
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
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _open_stream(self, width: int, height: int):
        codec = next((c for c in CODECS if c in self._av.codecs_available), None)
        if codec is None:
            raise LmvError(f"video: PyAV's FFmpeg has none of the encoders {', '.join(CODECS)}", path=self.path)
        stream = self._container.add_stream(codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
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
