"""Reading an lmv store (docs/store.md#completeness-and-resuming): `open_store` refuses anything but a complete store of this format
version, and serves frames, windows of frames and random crops as numpy arrays to the data loader.

Arrays come back in their stored dtype (colours float16, depth and motion_vector float32,
skybox_mask uint8); cast them where they are turned into tensors.

Nothing here goes through zarr: metadata is read as JSON and checked against the format
(`metadata`), and every chunk is read by `chunks.read_chunk`, which verifies its checksum. A frame of
a complete store is packed by definition, so a missing or damaged chunk is a `StoreError` naming
store, scene, buffer, frame and chunk file — never zeros.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout, lock, metadata
from lmv_cli.core.store.chunks import ChunkDamage, read_chunk

Crop = tuple[int, int, int, int]
"""(y0, x0, h, w) in pixels."""


def open_store(path: str | Path) -> Store:
    """Open a packed store for reading. Raises `StoreError` for a missing path, a folder that is not an
    lmv store, another format version, damaged root metadata, or an incomplete store (saying how far
    packing got, or which process is packing it now)."""
    path = Path(path)
    if not path.exists():
        raise StoreError("no such store", path=path)
    if not path.is_dir():
        raise StoreError("is a file, not an lmv store (a folder written by `lmv pack`)", path=path)
    attrs = layout.read_root_attrs(path)
    if attrs is None or attrs.get("format") != layout.FORMAT:
        if layout.recognisable(path):
            raise StoreError("damaged lmv store: the root zarr.json is missing or unreadable; re-pack it with "
                             "`pack.overwrite`", path=path, option="pack.overwrite")
        raise StoreError(f"not an lmv store (no '{layout.FORMAT}' root group; create one with `lmv pack`)", path=path)
    version = attrs.get("format_version")
    if version != layout.FORMAT_VERSION:
        raise StoreError(f"store format version {version}, this lmv reads {layout.FORMAT_VERSION}; "
                         "re-pack the export with `pack.overwrite`", path=path, option="pack.overwrite")
    if attrs.get("complete") is not True:
        raise StoreError(_incomplete(path, attrs), path=path)
    return Store(path, attrs)


def _incomplete(path: Path, attrs: dict) -> str:
    """Say who is packing the store, or how far an interrupted pack got (first unfinished scene)."""
    pid = lock.holder(path)
    if pid is not None:
        return f"store is being packed ({pid}); open it once that `lmv pack` has finished"
    for scene in attrs.get("layout", {}).get("scenes", []):
        name, frames = scene["name"], scene["frames"]
        done = int(frames_done(path / name, frames).sum())
        if done < frames:
            return f"store is incomplete: {done}/{frames} frames of scene {name} packed; finish it with `pack.resume`"
    return "store is incomplete: packing stopped while finishing; finish it with `pack.resume`"


def frames_done(scene_dir: Path, frames: int) -> np.ndarray:
    """The (T,) uint8 "frames done" bookkeeping of a scene; zeros when packing has not recorded a frame
    yet. Raises `ChunkDamage` / `MetadataDamage` when it exists but is damaged."""
    array = scene_dir / layout.FRAMES_DONE
    if not (array / "zarr.json").exists():
        return np.zeros(frames, dtype=np.uint8)
    metadata.check_array(array, (frames,), (frames,), "uint8")
    try:
        return read_chunk(array / "c" / "0", (frames,), "uint8")
    except ChunkDamage as e:
        if e.code == "chunk-missing":
            return np.zeros(frames, dtype=np.uint8)
        raise


class Store:
    """A complete store: its scenes by name, and the root attributes."""

    def __init__(self, path: Path, attrs: dict):
        self.path = path
        self.attrs = attrs
        self.scenes: tuple[str, ...] = tuple(attrs["scenes"])
        self._layout = {s["name"]: s for s in attrs["layout"]["scenes"]}
        self._opened: dict[str, Scene] = {}  # metadata and bookkeeping are checked once per scene

    def scene(self, name: str) -> Scene:
        """The scene `name`; `StoreError` lists the scenes when there is no such scene, and names the
        file when its metadata or bookkeeping is damaged."""
        if name not in self.scenes:
            raise StoreError(f"no scene {name!r}; scenes: {', '.join(self.scenes)}", path=self.path)
        if name not in self._opened:
            self._opened[name] = Scene(self.path, name, self._layout[name])
        return self._opened[name]

    def __getitem__(self, name: str) -> Scene:
        return self.scene(name)

    def __iter__(self) -> Iterator[Scene]:
        return (self.scene(name) for name in self.scenes)

    def __len__(self) -> int:
        return len(self.scenes)


class Scene:
    """One scene of a store: T frames of H×W, one (T, C, H, W) array per buffer."""

    def __init__(self, store: Path, name: str, planned: dict):
        """Check the scene's metadata and bookkeeping against the root layout `planned` (cheap: two
        small files); raises `StoreError` naming the file when they are damaged."""
        self.store = store
        self.name = name
        self.path = store / name
        self.attrs = metadata.group_attrs(self.path)
        self.frames: int = planned["frames"]
        self.height: int = planned["height"]
        self.width: int = planned["width"]
        self.buffers: tuple[str, ...] = layout.BUFFER_NAMES
        self._checked: set[str] = set()
        self._check_bookkeeping(planned)

    def _check_bookkeeping(self, planned: dict) -> None:
        size = {k: self.attrs.get(k) for k in ("frames", "height", "width")}
        if size != {k: planned[k] for k in size} or self.attrs.get("complete") is not True:
            raise StoreError(f"scene {self.name}: attributes {size} (complete: {self.attrs.get('complete')}) "
                             f"disagree with the store's layout; run `lmv capture-check {self.store}`",
                             path=self.path / "zarr.json")
        missing = np.flatnonzero(frames_done(self.path, self.frames) == 0)
        if missing.size:
            raise StoreError(f"scene {self.name}: the store is marked complete but frame(s) "
                             f"{', '.join(map(str, missing[:5]))} are not marked packed; repair it with `pack.resume`",
                             path=self.path / layout.FRAMES_DONE, option="pack.resume")

    @property
    def stats(self) -> dict[str, dict[str, float]]:
        """Per buffer {min, max, mean} over all frames (min/max of stored values)."""
        return self.attrs["stats"]

    def read(self, buffer: str, t: int, crop: Crop | None = None) -> np.ndarray:
        """Frame t of one buffer: (C, H, W), or (C, h, w) for `crop` = (y0, x0, h, w)."""
        self._check_frames(t, 1)
        ys, xs = self._window(crop)
        values = self._chunk(buffer, t)
        return values if crop is None else values[:, ys, xs].copy()  # a crop must not pin the whole chunk

    def frame(self, t: int, buffers: Iterable[str] | None = None, crop: Crop | None = None) -> dict[str, np.ndarray]:
        """Frame t of several buffers (all when None): name → (C, H, W)."""
        return {name: self.read(name, t, crop) for name in self._names(buffers)}

    def window(
        self, t0: int, n: int, buffers: Iterable[str] | None = None, crop: Crop | None = None
    ) -> dict[str, np.ndarray]:
        """Frames t0 … t0+n−1 of several buffers (all when None): name → (n, C, H, W)."""
        self._check_frames(t0, n)
        ys, xs = self._window(crop)
        return {name: np.stack([self._chunk(name, t)[:, ys, xs] for t in range(t0, t0 + n)])
                for name in self._names(buffers)}

    def _chunk(self, name: str, t: int) -> np.ndarray:
        """The whole (C, H, W) chunk of frame t of buffer `name`, checksum verified."""
        spec = self._spec(name)
        path = self.path / layout.chunk_key(name, t)
        try:
            return read_chunk(path, (spec.channels, self.height, self.width), spec.dtype)
        except ChunkDamage as e:
            raise StoreError(f"damaged store {self.store}: scene {self.name}, buffer {name}, frame {t}: "
                             f"{e.message}; `lmv capture-check {self.store}` lists all damage, "
                             f"`pack.resume` repairs it", path=path, frame=t, option="pack.resume") from None

    def _spec(self, name: str) -> layout.BufferSpec:
        """The buffer's spec, once its array metadata has been checked against the format."""
        if name not in layout.BUFFERS_BY_NAME:
            raise StoreError(f"scene {self.name}: no buffer {name!r}; buffers: {', '.join(self.buffers)}")
        spec = layout.BUFFERS_BY_NAME[name]
        if name not in self._checked:
            shape = layout.buffer_shape(spec, self.frames, self.height, self.width)
            metadata.check_array(self.path / name, shape, (1, *shape[1:]), spec.dtype)
            self._checked.add(name)
        return spec

    def _names(self, buffers: Iterable[str] | None) -> Sequence[str]:
        return self.buffers if buffers is None else list(buffers)

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
