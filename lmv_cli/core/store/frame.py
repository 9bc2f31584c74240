"""One unit of packing work: read one frame's EXRs, convert, write all of that frame's chunks.

`pack_frame` runs in a worker process (or in-process with one worker). It touches only the chunks of
its own frame — one per buffer, chunks being (1, C, H, W) — so no two workers ever share a chunk. It
returns the frame's statistics to the parent, which alone writes the bookkeeping arrays.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmv_cli.core import brdf_lut, derived, exr
from lmv_cli.core.errors import ExrError, LmvError, StoreError
from lmv_cli.core.store import layout


@dataclass(frozen=True)
class FrameTask:
    """Where frame `frame` of a scene comes from and goes to (picklable)."""

    store: Path
    scene: str
    frame: int
    files: dict[str, Path]  # export folder -> this frame's EXR file
    height: int
    width: int


@dataclass(frozen=True)
class FrameResult:
    """What the parent records once all chunks of a frame are written."""

    scene: str
    frame: int
    stats: np.ndarray  # (B, 3) float64: min, max, mean of every buffer as stored
    nonfinite: np.ndarray  # (F,) int64: NaN/Inf replaced by 0, per export folder


def pack_frame(task: FrameTask) -> FrameResult:
    """Convert and write one frame (see module docstring). Raises `ExrError` naming the file for an
    unreadable, truncated or wrongly sized input."""
    try:
        raw, nonfinite = read_raw_frame(task.files, task.frame, task.height, task.width)
        values = derived.convert_frame(raw, brdf_lut.load_lut())
        stored = derived.storage_frame(raw, values, {b.name: np.dtype(b.dtype) for b in layout.BUFFERS})
        stats = np.array([buffer_stats(values[b.name], stored[b.name].dtype) for b in layout.BUFFERS])
        write_frame(task, stored)
    except LmvError as e:
        # Exceptions cross the process boundary as (type, message): keep the rendered path and frame.
        raise type(e)(str(e)) from None
    return FrameResult(task.scene, task.frame, stats, nonfinite)


def exit_with_parent() -> None:
    """Worker initializer: end this worker as soon as the packing process is gone (kill -9 included)
    instead of leaving it blocked on the task queue for ever. A chunk being written then stays a
    temporary file, which --resume removes."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="lmv-parent-watch", daemon=True).start()


def read_raw_frame(
    files: dict[str, Path], frame: int, height: int, width: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Decode the channels `derived.SOURCE_CHANNELS` names from each folder's file: (C, H, W) arrays in
    the file's pixel type (float16 or float32) with NaN/Inf replaced by 0, and the (F,) replacement
    counts in `layout.SOURCE_FOLDERS` order."""
    raw: dict[str, np.ndarray] = {}
    counts = np.zeros(len(layout.SOURCE_FOLDERS), dtype=np.int64)
    for i, folder in enumerate(layout.SOURCE_FOLDERS):
        path = files[folder]
        planes = list(exr.read_channels(path, derived.SOURCE_CHANNELS[folder]).values())
        if planes[0].shape != (height, width):
            raise ExrError(f"resolution {planes[0].shape[1]}x{planes[0].shape[0]}, expected {width}x{height}",
                           path=path, frame=frame)
        dtype = np.float16 if all(p.dtype == np.float16 for p in planes) else np.float32
        stack = np.stack([p.astype(dtype, copy=False) for p in planes])
        counts[i] = derived.replace_nonfinite(stack)
        raw[folder] = stack
    return raw, counts


def write_frame(task: FrameTask, stored: dict[str, np.ndarray]) -> None:
    """Write frame `task.frame` of every buffer array of the scene (one chunk file each).

    The chunk bytes come from `layout.encode_chunk` (identical to zarr's) and are written like zarr's
    LocalStore does it: a `*.partial` file renamed over the chunk, so a killed worker leaves only a
    temporary file, which --resume removes. Going through zarr's asynchronous API instead cost ~50 ms
    per 720p frame on top of compression (metadata reads, chunk selection, thread hand-offs).
    """
    scene = task.store / task.scene
    for name, values in stored.items():
        path = scene / layout.chunk_key(name, task.frame)
        data = layout.encode_chunk(values)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write chunk: {e.strerror}", path=path, frame=task.frame) from None


def buffer_stats(values: np.ndarray, dtype: np.dtype) -> tuple[float, float, float]:
    """min, max and mean of one buffer: min/max of the stored values (the cast to the store dtype is
    monotonic, so it is applied to the float32 extremes only), mean of the float32 values (pairwise
    float32 summation: fast and deterministic)."""
    lo = derived.to_storage(np.min(values, keepdims=True), dtype)
    hi = derived.to_storage(np.max(values, keepdims=True), dtype)
    total = np.add.reduce(values.reshape(-1), dtype=np.float32)
    return float(lo.item()), float(hi.item()), float(total) / values.size
