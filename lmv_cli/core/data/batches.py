"""Windows → augmented batches, in an order that a checkpoint can reproduce exactly.

Randomness is a pure function of (seed, epoch, window): the epoch's permutation of the index comes from
`seed + epoch`, each item's crop and mirroring from `(seed, epoch, window)`. So the data a step sees does not
depend on how many loader workers run, and a resumed run sees the same items as an uninterrupted one.
Under DistributedDataParallel every rank walks the same permutation and takes every `world`-th item,
so the ranks train on distinct windows.

Mirroring flips every buffer left-right and/or top-bottom and negates the motion-vector component along
the mirrored axis (docs/training.md#augmentation).
Motion vectors are NDC (a full frame is 2 wide), so a crop rescales them to the crop's size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from lmv_cli.core.data.index import DataIndex, Window
from lmv_cli.core.inputs import CURRENT_BUFFERS, TARGET_BUFFERS
from lmv_cli.core.rollout import RENDERED_BUFFERS
from lmv_cli.core.store import open_store

TRAIN_BUFFERS = tuple(dict.fromkeys(CURRENT_BUFFERS + RENDERED_BUFFERS + TARGET_BUFFERS))
"""Store buffers a training window reads: G-buffer, rendered history layers, ground truth."""
MOTION = "motion_vector"

Key = tuple[int, int]
"""(epoch, window index): what the sampler hands the dataset."""


class WindowDataset(torch.utils.data.Dataset):
    """Reads window `index.windows[i]` with its random crop and mirroring for epoch `e` (item key (e, i)).

    Items are buffer name → float32 array (T, C, h, w). Stores open lazily in each loader process.
    """

    def __init__(self, index: DataIndex, crop: tuple[int, int] | None, mirror: bool, seed: int):
        self.index = index
        self.crop = crop
        self.mirror = mirror
        self.seed = seed
        self._stores: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.index.windows)

    def __getitem__(self, key: Key) -> dict[str, np.ndarray]:
        epoch, i = key
        window = self.index.windows[i]
        rng = np.random.default_rng([self.seed, epoch, i])
        scene = self._scene(window)
        crop = None
        if self.crop is not None:
            h, w = self.crop
            crop = (int(rng.integers(0, scene.height - h + 1)), int(rng.integers(0, scene.width - w + 1)), h, w)
        arrays = scene.window(window.start, self.index.length, TRAIN_BUFFERS, crop)
        arrays = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
        if crop is not None:
            arrays[MOTION] = rescale_motion(arrays[MOTION], (scene.height, scene.width), self.crop)
        mirror_x, mirror_y = (bool(rng.integers(0, 2)), bool(rng.integers(0, 2))) if self.mirror else (False, False)
        return {name: mirror(a, name, mirror_x, mirror_y) for name, a in arrays.items()}

    def _scene(self, window: Window):
        if window.store not in self._stores:
            self._stores[window.store] = open_store(window.store)
        return self._stores[window.store].scene(window.scene)  # type: ignore[attr-defined]


def rescale_motion(mv: np.ndarray, frame: tuple[int, int], crop: tuple[int, int]) -> np.ndarray:
    """Motion vectors (T, 2, h, w) cut from an H×W frame, re-expressed in the crop's NDC: a displacement
    of d·W/2 px is d·W/w in units of the crop's half-width (conventions: `flow_px = mv · W/2`)."""
    (h_full, w_full), (h, w) = frame, crop
    scale = np.array([w_full / w, h_full / h], dtype=np.float32).reshape(1, 2, 1, 1)
    return mv * scale


def mirror(a: np.ndarray, name: str, mirror_x: bool, mirror_y: bool) -> np.ndarray:
    """Mirror a (T, C, H, W) buffer left-right (`mirror_x`) and/or top-bottom (`mirror_y`); motion vectors
    (NDC x right, y down) also change the sign of the component along each mirrored axis."""
    if mirror_x:
        a = a[..., ::-1]
    if mirror_y:
        a = a[..., ::-1, :]
    a = np.ascontiguousarray(a)
    if name == MOTION and (mirror_x or mirror_y):
        a[:, 0] *= -1 if mirror_x else 1
        a[:, 1] *= -1 if mirror_y else 1
    return a


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of the n windows in `epoch` (the same on every rank)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))


def epoch_batches(
    order: torch.Tensor, epoch: int, batch_size: int, rank: int = 0, world: int = 1, start: int = 0
) -> list[list[Key]]:
    """This rank's batches of one epoch from batch `start` on: rank r takes items r, r+world, … of the
    permutation `order`, cut into full batches (a last partial batch is dropped, equally on every rank)."""
    per_rank = len(order) // world
    mine = order[rank : per_rank * world : world].tolist()
    batches = [mine[i : i + batch_size] for i in range(0, len(mine) - batch_size + 1, batch_size)]
    return [[(epoch, int(i)) for i in batch] for batch in batches[start:]]


def batches_per_epoch(windows: int, batch_size: int, world: int = 1) -> int:
    """Full batches each rank gets per epoch."""
    return (windows // world) // batch_size


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack items into buffer name → (B, T, C, h, w) float32 tensors."""
    return {name: torch.from_numpy(np.stack([item[name] for item in items])) for name in items[0]}


def load_batch(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a collated batch to `device` (non-blocking from pinned memory on CUDA)."""
    return {name: x.to(device, non_blocking=True) for name, x in batch.items()}


def frame_at(batch: Mapping[str, torch.Tensor], t: int) -> dict[str, torch.Tensor]:
    """Frame t of a batch as the rollout's frame dict: buffer name → (B, C, h, w)."""
    return {name: x[:, t] for name, x in batch.items()}
