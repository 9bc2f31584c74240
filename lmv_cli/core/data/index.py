"""The training index: every (store, scene, start) window of the training scenes, and the validation scenes.

`build_index(cfg.data)` opens every store of `data.stores` (a missing, foreign or incomplete store is a
`StoreError` naming it), splits the scenes by name into training and validation (`data.train_scenes`,
`data.val_scenes`; a named scene that no store holds is a `ConfigError` listing the scenes that exist),
and cuts each training scene into windows of `HISTORY_SLOTS + data.sequence_length` frames: three
rendered history frames, then one optimizer step per following frame. Windows start every
`data.window_stride` frames (default: `sequence_length`, so each frame is predicted about once an epoch).
"""

from __future__ import annotations

from dataclasses import dataclass

from lmv_cli.core.config import HISTORY_SLOTS, DataConfig
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.store import open_store


@dataclass(frozen=True)
class SceneRef:
    """One scene of one store and its size."""

    store: str
    scene: str
    frames: int
    height: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.scene} ({self.store})"


@dataclass(frozen=True)
class Window:
    """Frames start … start + length − 1 of one scene of one store."""

    store: str
    scene: str
    start: int


@dataclass(frozen=True)
class DataIndex:
    """Training windows (in a fixed order; epochs permute indices into it) and validation scenes."""

    windows: tuple[Window, ...]
    length: int  # frames per window: HISTORY_SLOTS rendered + sequence_length predicted
    train_scenes: tuple[SceneRef, ...]
    val_scenes: tuple[SceneRef, ...]


def window_length(data: DataConfig) -> int:
    """Frames per training window: three rendered history frames, then `sequence_length` steps."""
    return HISTORY_SLOTS + data.sequence_length


def inventory(stores: tuple[str, ...]) -> list[SceneRef]:
    """Every scene of every store, opened and checked (`StoreError` for a bad store)."""
    if not stores:
        raise ConfigError("'data.stores' is empty: name at least one store written by `lmv pack`")
    refs = []
    for path in stores:
        store = open_store(path)
        for name in store.scenes:
            scene = store.scene(name)
            refs.append(SceneRef(str(path), name, scene.frames, scene.height, scene.width))
    return refs


def build_index(data: DataConfig) -> DataIndex:
    """Open the stores, split the scenes, cut the training windows; raise on any problem (module docstring)."""
    refs = inventory(data.stores)
    names = sorted({r.scene for r in refs})
    for key in ("val_scenes", "train_scenes"):
        unknown = [s for s in getattr(data, key) if s not in names]
        if unknown:
            raise ConfigError(f"'data.{key}': no store holds scene(s) {', '.join(unknown)} "
                              f"(scenes in data.stores: {', '.join(names)})")
    val = tuple(r for r in refs if r.scene in data.val_scenes)
    wanted = set(data.train_scenes) if data.train_scenes else set(names) - set(data.val_scenes)
    train = tuple(r for r in refs if r.scene in wanted)
    if not train:
        raise ConfigError(f"no training scenes: every scene of data.stores ({', '.join(names)}) is in data.val_scenes")
    _check_sizes(train, data)
    length = window_length(data)
    stride = data.window_stride or data.sequence_length
    windows = tuple(Window(r.store, r.scene, s) for r in train for s in range(0, r.frames - length + 1, stride))
    return DataIndex(windows, length, train, val)


def _check_sizes(train: tuple[SceneRef, ...], data: DataConfig) -> None:
    length = window_length(data)
    for r in train:
        if r.frames < length:
            raise ConfigError(f"scene {r.label} has {r.frames} frames; a training window needs {length} "
                              f"({HISTORY_SLOTS} history + data.sequence_length {data.sequence_length})")
        if data.crop is not None and (data.crop[0] > r.height or data.crop[1] > r.width):
            raise ConfigError(f"'data.crop' {list(data.crop)} (H, W) is larger than scene {r.label} "
                              f"({r.height}x{r.width} H x W)")
    sizes = {(r.height, r.width) for r in train}
    if data.crop is None and len(sizes) > 1:
        raise ConfigError("training scenes differ in size and 'data.crop' is null: set a crop to batch them "
                          f"(sizes H x W: {', '.join(f'{h}x{w}' for h, w in sorted(sizes))})")
