"""Training data (`lmv_cli.core.data`): every data error names what is wrong and what exists (scenes
listed, sizes sorted, each once); windows run up to the last full one and a scene of exactly one window's length is accepted; a
crop as large as the frame is allowed per axis (H against the height, W against the width) and a crop
lifts the "scenes differ in size" error, which needs two sizes; crops reach every offset, flips are two
independent fair coins that mirror every buffer and negate the matching MV component; cropped MVs are
rescaled per axis and stay float32; the epoch permutation is seeded with seed + epoch; epoch_batches'
defaults are rank 0 of 1 and batches start at item 0; batches_per_epoch is an int; a batch of one
collates; load_batch moves every buffer to the device.

Expected values are written by hand (window starts, messages, offsets, MV scales), never computed with
the functions under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmv_cli.core.config import DataConfig
from lmv_cli.core.data import (
    WindowDataset,
    batches_per_epoch,
    build_index,
    collate,
    epoch_batches,
    epoch_order,
    inventory,
    load_batch,
)
from lmv_cli.core.data.batches import rescale_motion
from lmv_cli.core.data.index import SceneRef, _check_sizes
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.store import open_store

# eval_store (tests/conftest.py): scenes occlusion and translucency, 12 frames of 32 (H) x 48 (W) px.
H, W = 32, 48


def data(store: Path, **kw) -> DataConfig:
    base = dict(stores=(str(store),), val_scenes=("translucency",), sequence_length=3, crop=None, window_stride=2,
                mirror=False)
    return DataConfig(**{**base, **kw})


def raw_window(store: Path, start: int, length: int) -> dict[str, np.ndarray]:
    scene = open_store(store).scene("occlusion")
    return {k: v.astype(np.float32) for k, v in scene.window(start, length, ["depth", "motion_vector"]).items()}


def offsets(item: np.ndarray, full: np.ndarray) -> list[tuple[int, int]]:
    """Every (y0, x0) at which `item` (…, h, w) is the crop of `full` (…, H, W)."""
    h, w = item.shape[-2:]
    return [(y, x) for y in range(full.shape[-2] - h + 1) for x in range(full.shape[-1] - w + 1)
            if np.array_equal(full[..., y : y + h, x : x + w], item)]


# --- index: messages ---------------------------------------------------------------------------------


def test_an_empty_store_list_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"data\.stores.*empty"):
        inventory(())


def test_unknown_scenes_are_listed_comma_separated(eval_store):
    with pytest.raises(ConfigError, match=r"data\.train_scenes.*nope, gone.*occlusion, translucency"):
        build_index(data(eval_store, train_scenes=("nope", "gone")))


def test_no_training_scenes_message_lists_the_scenes(eval_store):
    with pytest.raises(ConfigError, match=r"no training scenes.*occlusion, translucency.*data\.val_scenes"):
        build_index(data(eval_store, val_scenes=("occlusion", "translucency")))


# --- index: windows and sizes ------------------------------------------------------------------------


def test_windows_run_up_to_the_last_full_window(eval_store):
    index = build_index(data(eval_store, window_stride=1))  # 12 frames, windows of 6: starts 0..6
    assert [w.start for w in index.windows] == [0, 1, 2, 3, 4, 5, 6]


def test_a_scene_exactly_one_window_long_is_accepted(eval_store):
    index = build_index(data(eval_store, sequence_length=9, window_stride=1))  # 3 + 9 = 12 = every frame
    assert index.length == 12 and [(w.scene, w.start) for w in index.windows] == [("occlusion", 0)]


def test_a_crop_as_large_as_the_frame_is_accepted_per_axis(eval_store):
    # (H, W) = (32, 48): W = 48 is compared with the width only, and equal is not larger
    assert build_index(data(eval_store, crop=(32, 48))).windows
    assert build_index(data(eval_store, crop=(8, 48))).windows
    for crop in ((33, 48), (32, 49)):
        with pytest.raises(ConfigError, match="is larger than scene occlusion"):
            build_index(data(eval_store, crop=crop))


def refs(*sizes: tuple[int, int]) -> tuple[SceneRef, ...]:
    return tuple(SceneRef("s.zarr", f"scene{i}", 12, h, w) for i, (h, w) in enumerate(sizes))


def test_scenes_of_different_sizes_need_a_crop():
    _check_sizes(refs((64, 96), (32, 48)), DataConfig(sequence_length=3, crop=(16, 16)))  # a crop batches them
    _check_sizes(refs((32, 48), (32, 48)), DataConfig(sequence_length=3, crop=None))  # one size
    with pytest.raises(ConfigError, match=r"data\.crop.*32x48, 64x96"):
        _check_sizes(refs((64, 96), (32, 48)), DataConfig(sequence_length=3, crop=None))  # two sizes
    with pytest.raises(ConfigError, match=r"32x40, 32x48, 64x96\)?$"):  # sorted, each size once
        _check_sizes(refs((64, 96), (32, 48), (32, 40), (64, 96)), DataConfig(sequence_length=3, crop=None))


# --- items: crops, flips, motion vectors -----------------------------------------------------------------


def test_a_crop_as_large_as_the_frame_is_the_frame(eval_store):
    index = build_index(data(eval_store, crop=(32, 48)))
    item = WindowDataset(index, (32, 48), False, seed=0)[(0, 1)]  # window 1 starts at frame 2
    raw = raw_window(eval_store, 2, 6)
    np.testing.assert_array_equal(item["depth"], raw["depth"])
    np.testing.assert_array_equal(item["motion_vector"], raw["motion_vector"])  # scale 48/48, 32/32


def test_crops_reach_every_offset(eval_store):
    index = build_index(data(eval_store, crop=(28, 44)))
    ds = WindowDataset(index, (28, 44), False, seed=3)
    full = raw_window(eval_store, 0, 6)["depth"]
    found = []
    for epoch in range(60):
        (y0x0,) = offsets(ds[(epoch, 0)]["depth"], full)
        found.append(y0x0)
    assert {y for y, _ in found} == {0, 1, 2, 3, 4} and {x for _, x in found} == {0, 1, 2, 3, 4}


def test_cropped_motion_vectors_are_scaled_per_axis_and_stay_float32(eval_store):
    index = build_index(data(eval_store, crop=(16, 12)))
    item = WindowDataset(index, (16, 12), False, seed=0)[(2, 0)]
    raw = raw_window(eval_store, 0, 6)
    ((y0, x0),) = offsets(item["depth"], raw["depth"])
    mv = raw["motion_vector"][..., y0 : y0 + 16, x0 : x0 + 12]
    assert item["motion_vector"].dtype == np.float32
    np.testing.assert_array_equal(item["motion_vector"][:, 0], mv[:, 0] * 4)  # 48 / 12
    np.testing.assert_array_equal(item["motion_vector"][:, 1], mv[:, 1] * 2)  # 32 / 16
    assert rescale_motion(np.ones((1, 2, 1, 1), np.float32), (32, 48), (16, 12)).dtype == np.float32


def test_flips_are_two_fair_independent_coins_that_also_negate_motion(eval_store):
    index = build_index(data(eval_store, mirror=True))
    ds = WindowDataset(index, None, True, seed=0)
    raw = raw_window(eval_store, 0, 6)
    assert (raw["motion_vector"][:, 0] != 0).any() and (raw["motion_vector"][:, 1] != 0).any()  # both MV components move
    variants = {(fx, fy): raw["depth"][..., :: -1 if fy else 1, :: -1 if fx else 1]
                for fx in (False, True) for fy in (False, True)}
    assert len({v.tobytes() for v in variants.values()}) == 4  # each flip is visible in the depth
    draws = []
    for epoch in range(100):
        item = ds[(epoch, 0)]
        (fx, fy), = [k for k, v in variants.items() if np.array_equal(item["depth"], v)]
        mv = raw["motion_vector"][..., :: -1 if fy else 1, :: -1 if fx else 1]
        np.testing.assert_array_equal(item["motion_vector"][:, 0], -mv[:, 0] if fx else mv[:, 0])
        np.testing.assert_array_equal(item["motion_vector"][:, 1], -mv[:, 1] if fy else mv[:, 1])
        draws.append((fx, fy))
    assert set(draws) == set(variants)  # none, x, y and both all occur
    assert 0.4 <= np.mean([fx for fx, _ in draws]) <= 0.6 and 0.4 <= np.mean([fy for _, fy in draws]) <= 0.6


# --- order and batches ----------------------------------------------------------------------------------


def test_epoch_permutation_is_seeded_with_seed_plus_epoch():
    expected = torch.randperm(20, generator=torch.Generator().manual_seed(7))
    assert torch.equal(epoch_order(20, seed=3, epoch=4), expected)
    assert torch.equal(epoch_order(20, seed=7, epoch=0), expected)


def test_epoch_batches_defaults_to_rank_0_of_1_from_item_0():
    order = torch.tensor([5, 3, 0, 4, 1, 2, 6])
    assert epoch_batches(order, 9, 2) == [[(9, 5), (9, 3)], [(9, 0), (9, 4)], [(9, 1), (9, 2)]]  # 6 dropped
    assert epoch_batches(order, 9, 3) == [[(9, 5), (9, 3), (9, 0)], [(9, 4), (9, 1), (9, 2)]]


def test_batches_per_epoch_is_an_int_and_defaults_to_one_rank():
    assert batches_per_epoch(7, 2) == 3 and type(batches_per_epoch(7, 2)) is int
    assert batches_per_epoch(13, 2, 3) == 2 and type(batches_per_epoch(13, 2, 3)) is int


def test_a_batch_of_one_item_collates():
    batch = collate([{"depth": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}])
    assert list(batch) == ["depth"] and batch["depth"].shape == (1, 1, 1, 2, 3)
    assert batch["depth"].flatten().tolist() == [0, 1, 2, 3, 4, 5]


def test_load_batch_moves_every_buffer_to_the_device():
    batch = {"depth": torch.zeros(2, 6, 1, 4, 4), "motion_vector": torch.zeros(2, 6, 2, 4, 4)}
    moved = load_batch(batch, torch.device("meta"))
    assert {name: (x.device.type, tuple(x.shape)) for name, x in moved.items()} == {
        "depth": ("meta", (2, 6, 1, 4, 4)), "motion_vector": ("meta", (2, 6, 2, 4, 4))}
