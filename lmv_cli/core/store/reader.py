"""Reading an lmv store (SPEC §3): `open_store` refuses anything but a complete store of this format
version, and serves frames, windows of frames and random crops as numpy arrays to the data loader.

Arrays come back in their stored dtype (colours float16, depth and motion_vector float32,
skybox_mask uint8); cast them where they are turned into tensors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout

Crop = tuple[int, int, int, int]
"""(y0, x0, h, w) in pixels."""


def open_store(path: str | Path) -> Store:
    """Open a packed store for reading. Raises `StoreError` for a missing path, a folder that is not an
    lmv store, another format version, or an incomplete store (saying how far packing got)."""
    path = Path(path)
    if not path.exists():
        raise StoreError("no such store", path=path)
    if not path.is_dir():
        raise StoreError("is a file, not an lmv store (a folder written by `lmv pack`)", path=path)
    attrs = layout.read_root_attrs(path)
    if attrs is None or attrs.get("format") != layout.FORMAT:
        raise StoreError(f"not an lmv store (no '{layout.FORMAT}' root group; create one with `lmv pack`)", path=path)
    version = attrs.get("format_version")
    if version != layout.FORMAT_VERSION:
        raise StoreError(f"store format version {version}, this lmv reads {layout.FORMAT_VERSION}; "
                         "repack the export with `lmv pack --overwrite`", path=path)
    import zarr

    root = zarr.open_group(str(path), mode="r")
    if attrs.get("complete") is not True:
        raise StoreError(_incomplete(root, attrs), path=path)
    return Store(path, root, attrs)


def _incomplete(root, attrs: dict) -> str:
    """Say how far an interrupted pack got, naming the first unfinished scene."""
    for scene in attrs.get("layout", {}).get("scenes", []):
        name, frames = scene["name"], scene["frames"]
        done = 0
        if name in root and layout.FRAMES_DONE in root[name]:
            done = int(np.asarray(root[name][layout.FRAMES_DONE][:]).sum())
        if done < frames:
            return f"store is incomplete: {done}/{frames} frames of scene {name} packed; run `lmv pack --resume`"
    return "store is incomplete: packing stopped while finishing; run `lmv pack --resume`"


class Store:
    """A complete store: its scenes by name, and the root attributes."""

    def __init__(self, path: Path, root, attrs: dict):
        self.path = path
        self.attrs = attrs
        self._root = root
        self.scenes: tuple[str, ...] = tuple(attrs["scenes"])

    def scene(self, name: str) -> Scene:
        """The scene `name`; `StoreError` lists the scenes when there is no such scene."""
        if name not in self.scenes:
            raise StoreError(f"no scene {name!r}; scenes: {', '.join(self.scenes)}", path=self.path)
        return Scene(name, self._root[name])

    def __getitem__(self, name: str) -> Scene:
        return self.scene(name)

    def __iter__(self) -> Iterator[Scene]:
        return (self.scene(name) for name in self.scenes)

    def __len__(self) -> int:
        return len(self.scenes)


class Scene:
    """One scene of a store: T frames of H×W, one (T, C, H, W) array per buffer."""

    def __init__(self, name: str, group):
        self.name = name
        self.attrs = dict(group.attrs)
        self.frames: int = self.attrs["frames"]
        self.height: int = self.attrs["height"]
        self.width: int = self.attrs["width"]
        self.buffers: tuple[str, ...] = layout.BUFFER_NAMES
        self._group = group
        self._arrays: dict[str, object] = {}

    @property
    def stats(self) -> dict[str, dict[str, float]]:
        """Per buffer {min, max, mean} over all frames (min/max of stored values)."""
        return self.attrs["stats"]

    def read(self, buffer: str, t: int, crop: Crop | None = None) -> np.ndarray:
        """Frame t of one buffer: (C, H, W), or (C, h, w) for `crop` = (y0, x0, h, w)."""
        self._check_frames(t, 1)
        ys, xs = self._window(crop)
        return self._array(buffer)[t, :, ys, xs]

    def frame(self, t: int, buffers: Iterable[str] | None = None, crop: Crop | None = None) -> dict[str, np.ndarray]:
        """Frame t of several buffers (all when None): name → (C, H, W)."""
        return {name: self.read(name, t, crop) for name in self._names(buffers)}

    def window(
        self, t0: int, n: int, buffers: Iterable[str] | None = None, crop: Crop | None = None
    ) -> dict[str, np.ndarray]:
        """Frames t0 … t0+n−1 of several buffers (all when None): name → (n, C, H, W)."""
        self._check_frames(t0, n)
        ys, xs = self._window(crop)
        return {name: self._array(name)[t0 : t0 + n, :, ys, xs] for name in self._names(buffers)}

    def _names(self, buffers: Iterable[str] | None) -> Sequence[str]:
        return self.buffers if buffers is None else list(buffers)

    def _array(self, name: str):
        if name not in self._arrays:
            if name not in layout.BUFFERS_BY_NAME:
                raise StoreError(f"scene {self.name}: no buffer {name!r}; buffers: {', '.join(self.buffers)}")
            self._arrays[name] = self._group[name]
        return self._arrays[name]

    def _check_frames(self, t0: int, n: int) -> None:
        if n < 1 or t0 < 0 or t0 + n > self.frames:
            what = f"frame {t0}" if n == 1 else f"frames {t0}..{t0 + n - 1}"
            raise StoreError(f"scene {self.name}: {what} out of range (scene has frames 0..{self.frames - 1})")

    def _window(self, crop: Crop | None) -> tuple[slice, slice]:
        if crop is None:
            return slice(None), slice(None)
        y0, x0, h, w = crop
        if h < 1 or w < 1 or y0 < 0 or x0 < 0 or y0 + h > self.height or x0 + w > self.width:
            raise StoreError(f"scene {self.name}: crop (y0, x0, h, w) = {tuple(crop)} outside the "
                             f"{self.width}x{self.height} frame")
        return slice(y0, y0 + h), slice(x0, x0 + w)
