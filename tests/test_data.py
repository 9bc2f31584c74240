"""Training data on a real packed store: the window index and its split, every data error named, crops
and mirroring (mirrored motion vectors still reproject the mirrored frames), order per epoch and per rank."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from lmv_cli.core.baselines import warp
from lmv_cli.core.config import DataConfig
from lmv_cli.core.data import (
    TRAIN_BUFFERS,
    WindowDataset,
    batches_per_epoch,
    build_index,
    collate,
    epoch_batches,
    epoch_order,
    frame_at,
)
from lmv_cli.core.data.batches import mirror
from lmv_cli.core.errors import ConfigError, StoreError
from lmv_cli.core.store import open_store


def data(store: Path, **kw) -> DataConfig:
    base = dict(stores=(str(store),), val_scenes=("translucency",), sequence_length=3, crop=(32, 32), window_stride=2)
    return DataConfig(**{**base, **kw})


def test_index_splits_by_scene_and_cuts_windows(eval_store):
    index = build_index(data(eval_store))
    assert [r.scene for r in index.train_scenes] == ["occlusion"]
    assert [r.scene for r in index.val_scenes] == ["translucency"]
    assert index.length == 6  # 3 history + 3 predicted
    assert [(w.scene, w.start) for w in index.windows] == [("occlusion", s) for s in (0, 2, 4, 6)]  # 12 frames
    assert build_index(data(eval_store, window_stride=None)).windows[1].start == 3  # stride = sequence_length


def test_train_scenes_may_be_named(eval_store):
    index = build_index(data(eval_store, val_scenes=(), train_scenes=("translucency",)))
    assert {w.scene for w in index.windows} == {"translucency"} and not index.val_scenes


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (dict(val_scenes=("crossing",)), ConfigError,
         "'data.val_scenes': no store holds scene(s) crossing (scenes in data.stores: occlusion, translucency)"),
        (dict(train_scenes=("nope",)), ConfigError, "no store holds scene(s) nope"),
        (dict(stores=()), ConfigError, "'data.stores' is empty"),
        (dict(crop=(48, 48)), ConfigError, "'data.crop' [48, 48] (H, W) is larger than scene occlusion"),
        (dict(sequence_length=20), ConfigError, "a training window needs 23"),
        (dict(val_scenes=("occlusion", "translucency")), ConfigError, "no training scenes"),
    ],
)
def test_data_problems_are_named(eval_store, kw, error, message):
    with pytest.raises(error) as info:
        build_index(data(eval_store, **kw))
    assert message in str(info.value)


def test_missing_and_incomplete_stores_are_named(eval_store, tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        build_index(data(tmp_path / "nope.zarr"))
    broken = tmp_path / "broken.zarr"
    import shutil

    shutil.copytree(eval_store, broken)
    root = broken / "zarr.json"
    root.write_text(root.read_text().replace('"complete": true', '"complete": false'))
    with pytest.raises(StoreError, match="incomplete"):
        build_index(data(broken))


def test_items_are_deterministic_crops_of_the_store(eval_store):
    index = build_index(data(eval_store, mirror=False))
    ds = WindowDataset(index, (32, 32), False, seed=5)
    item = ds[(0, 1)]
    assert set(item) == set(TRAIN_BUFFERS)
    assert item["scene_color_no_st"].shape == (6, 3, 32, 32) and item["scene_color_no_st"].dtype == np.float32
    np.testing.assert_array_equal(item["depth"], ds[(0, 1)]["depth"])  # a pure function of (seed, epoch, window)
    scene = open_store(eval_store).scene("occlusion")
    full = scene.window(2, 6, ["depth"])["depth"].astype(np.float32)  # window 1 starts at frame 2
    x0s = [x0 for x0 in range(full.shape[-1] - 31) if np.array_equal(full[..., :, x0 : x0 + 32], item["depth"])]
    assert x0s, "the item is not a 32x32 crop of its window"
    crops = {ds[(e, 1)]["depth"].tobytes() for e in range(6)}
    assert len(crops) > 1  # epochs draw other crops


def test_mirrored_motion_vectors_reproject_mirrored_frames(eval_store):
    """Mirror frames and MVs: warping the mirrored t−1 with the mirrored MV gives the mirrored warp."""
    scene = open_store(eval_store).scene("occlusion")
    win = {k: v.astype(np.float32) for k, v in scene.window(3, 2, TRAIN_BUFFERS).items()}
    for fx, fy in ((True, False), (False, True), (True, True)):
        flipped = {k: mirror(v, k, fx, fy) for k, v in win.items()}
        frames = [{k: torch.from_numpy(v[t : t + 1].copy()) for k, v in w.items()}
                  for w in (win, flipped) for t in (1, 0)]
        plain, mirrored = warp(frames[:2]).color, warp(frames[2:]).color
        dims = [d for d, on in ((-1, fx), (-2, fy)) if on]
        torch.testing.assert_close(mirrored, plain.flip(dims), atol=1e-5, rtol=1e-5)
    mv = mirror(win["motion_vector"], "motion_vector", True, False)
    np.testing.assert_array_equal(mv[:, 0], -win["motion_vector"][:, 0, :, ::-1])
    np.testing.assert_array_equal(mv[:, 1], win["motion_vector"][:, 1, :, ::-1])


def test_epoch_order_is_reproducible_and_ranks_take_distinct_windows():
    order = epoch_order(11, seed=3, epoch=2)
    assert torch.equal(order, epoch_order(11, seed=3, epoch=2)) and not torch.equal(order, epoch_order(11, 3, 3))
    r0, r1 = (epoch_batches(order, 2, 2, rank, 2) for rank in (0, 1))
    assert len(r0) == len(r1) == batches_per_epoch(11, 2, 2) == 2
    seen0, seen1 = ({i for b in r for _, i in b} for r in (r0, r1))
    assert not seen0 & seen1 and len(seen0) == len(seen1) == 4
    assert epoch_batches(order, 2, 2, 0, 2, start=1) == r0[1:]  # resume mid-epoch
    assert all(e == 2 for b in r0 for e, _ in b)


def test_collate_and_frame_at(eval_store):
    index = build_index(data(eval_store))
    ds = WindowDataset(index, (32, 32), True, seed=0)
    batch = collate([ds[(0, 0)], ds[(0, 3)]])
    assert batch["motion_vector"].shape == (2, 6, 2, 32, 32)
    frame = frame_at(batch, 4)
    assert frame["world_normal"].shape == (2, 3, 32, 32)
    torch.testing.assert_close(frame["depth"][1], torch.from_numpy(ds[(0, 3)]["depth"][4]))


def test_data_config_has_no_dead_history_key():
    assert "history" not in {f.name for f in dataclasses.fields(DataConfig)}


def test_cropped_motion_vectors_still_reproject_the_crop(eval_store):
    """MVs are NDC of the frame they belong to: the warp of a cropped window equals the crop of the
    full-frame warp (inside the crop, where the source pixels are inside it too)."""
    index = build_index(data(eval_store, mirror=False, crop=(32, 32)))
    scene = open_store(eval_store).scene("occlusion")
    ds = WindowDataset(index, (32, 32), False, seed=1)
    full = WindowDataset(build_index(data(eval_store, mirror=False, crop=None)), None, False, seed=1)
    for key in ((0, 0), (1, 2), (3, 3)):
        item, whole = ds[key], full[key]
        x0s = [x for x in range(scene.width - 31) if np.array_equal(whole["depth"][..., x : x + 32], item["depth"])]
        (x0,) = x0s
        crop_frames = [{k: torch.from_numpy(v[t : t + 1]) for k, v in item.items()} for t in (4, 3)]
        full_frames = [{k: torch.from_numpy(v[t : t + 1]) for k, v in whole.items()} for t in (4, 3)]
        cropped, reference = warp(crop_frames).color, warp(full_frames).color[..., x0 : x0 + 32]
        src = (torch.from_numpy(whole["motion_vector"][4:5]).abs().amax() * scene.width / 2).ceil().int().item() + 1
        inner = (slice(None), slice(None), slice(src, 32 - src), slice(src, 32 - src))
        assert src < 12
        torch.testing.assert_close(cropped[inner], reference[inner], atol=1e-4, rtol=1e-4)
