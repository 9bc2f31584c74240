"""Training data: packed stores → an index of windows, split by scene → augmented batches (docs/training.md#what-one-step-is).

`index`: which (store, scene, start) windows exist, split into training and validation scenes, with
every problem (missing or incomplete store, unknown scene, crop larger than a frame) found up front.
`batches`: reading one window with its random crop and mirroring, the per-epoch order (distributed-aware),
and batch assembly into the frame dicts the rollout reads.
"""

from lmv_cli.core.data.batches import (
    TRAIN_BUFFERS,
    WindowDataset,
    batches_per_epoch,
    collate,
    epoch_batches,
    epoch_order,
    frame_at,
    load_batch,
)
from lmv_cli.core.data.index import DataIndex, SceneRef, Window, build_index, inventory

__all__ = [
    "TRAIN_BUFFERS",
    "DataIndex",
    "SceneRef",
    "Window",
    "WindowDataset",
    "batches_per_epoch",
    "build_index",
    "collate",
    "epoch_batches",
    "epoch_order",
    "frame_at",
    "inventory",
    "load_batch",
]
