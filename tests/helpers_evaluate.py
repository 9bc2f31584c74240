"""A packed synth store and a tiny trained model for the `lmv test` / `lmv extrapolate` tests.

The model is `fsnet_small` after a few real Adam steps (ACES-space L1 on the final colour, history
rendered) on the store's first frames, saved with `save_model` like a training run would: tests
exercise a network whose weights are not the untrained init. Built once per session (conftest).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmv_cli.core.color import aces
from lmv_cli.core.compat import DATA_META_KEY, data_signature
from lmv_cli.core.config import ModelConfig
from lmv_cli.core.evaluate import read_frame
from lmv_cli.core.inputs import assemble_targets
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import save_model
from lmv_cli.core.rollout import Rollout
from lmv_cli.core.store import open_store, pack
from lmv_cli.core.synth import write_capture

STORE_SCENES = ("occlusion", "translucency")
STORE_FRAMES = 12
STORE_SIZE = (48, 32)  # (W, H): SSIM needs >= 11 px, the network any size
TRAIN_STEPS = 3


def make_store(root: Path) -> Path:
    """`lmv synth` two scenes (12 frames, 48x32) and `lmv pack` them into root/store.zarr."""
    export = root / "export"
    write_capture(export, list(STORE_SCENES), frames=STORE_FRAMES, size=STORE_SIZE, seed=0, workers=1)
    store = root / "store.zarr"
    pack(export, store, workers=1)
    return store


def train_tiny_model(store_path: Path, out: Path, steps: int = TRAIN_STEPS) -> Path:
    """A few optimizer steps of `fsnet_small` predicting frame 3 from rendered frames 0..2 of the first
    scene; saved to `out` with the store's data signature in its meta."""
    torch.manual_seed(0)
    cfg = ModelConfig(preset="fsnet_small")
    model = build_model(cfg).train()
    store = open_store(store_path)
    scene = store.scene(STORE_SCENES[0])
    frames = [read_frame(scene, t) for t in range(4)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        rollout = Rollout(model, reuse_encodings=False)
        for frame in frames[:3]:
            rollout.history.advance_rendered(frame)
        out_ = rollout.predict(frames[3])
        target = assemble_targets(frames[3]).scene_color
        loss = (aces(out_.color) - aces(target)).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    meta = {"steps": steps, DATA_META_KEY: data_signature(store)}
    return save_model(out, model.eval(), cfg, meta)
