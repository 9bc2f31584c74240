"""`lmv_cli.core.train` helpers pinned where mutation testing would find them unpinned (README "Mutation
testing"), without running a training loop:

- `schedule`: `cosine_lr` at both ends, a quarter of the way, past the end and for totals of 0 and 1;
  `draw_pattern`'s strict comparison and lengths; `sequence_probs`' strict threshold;
  `sequence_rng`'s seed words.
- `validate`: `validate` over two fake scenes (store and `evaluate_scene` replaced by recorders): the
  arguments passed, the `frames` limit, means over every scene's predicted frames, only psnr/ssim kept,
  the preview hook (first predicted frame of the first scene, once per N); `selection_psnr`.
- `logs`: the exact JSONL lines (non-finite floats as strings, tuples as lists), the TensorBoard
  scalars (tags, steps, which values), images, close, and the preview image layout.
- `rundir`: the run directory layout, names and `_2` suffixes, `config.yaml`, refusals and their exact
  messages, `is_run` and `find_run`.
- `checkpoint`: the payload fields, RNG state round trip, `read_checkpoint`'s refusals word for word,
  `restore`'s architecture and optimizer checks, `keep_history`'s names and pruning.
"""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from lmv_cli.core.data.index import SceneRef
from lmv_cli.core.evaluate import FrameRecord
from lmv_cli.core.train import validate as val
from lmv_cli.core.train.schedule import cosine_lr, draw_pattern, sequence_probs, sequence_rng

# --- schedule --------------------------------------------------------------------------------------------

RNG0 = (0.6369616873214543, 0.2697867137638703, 0.04097352393619469)  # default_rng(0).random(3)


def test_cosine_lr_values():
    assert cosine_lr(0, 100, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(50, 100, 3.0, 1.0) == pytest.approx(2.0)
    assert cosine_lr(100, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(25, 100, 1.0, 0.0) == pytest.approx(0.5 * (1 + math.sqrt(0.5)))
    assert cosine_lr(75, 100, 3.0, 1.0) == pytest.approx(1.0 + (1 - math.sqrt(0.5)))


def test_cosine_lr_past_the_end_and_tiny_totals():
    assert cosine_lr(150, 100, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(1, 1, 3.0, 1.0) == pytest.approx(1.0)
    assert cosine_lr(0, 1, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(0, 0, 3.0, 1.0) == pytest.approx(3.0)
    assert cosine_lr(5, 0, 3.0, 1.0) == pytest.approx(3.0)


def test_draw_pattern_draws_one_number_per_slot():
    both = ((True, True),) * 3
    assert draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), both) == (False, True, True)
    # the comparison is strict: a draw equal to the probability is not taken
    assert draw_pattern(np.random.default_rng(0), RNG0, both) == (False, False, False)
    assert draw_pattern(np.random.default_rng(0), (1.0, 1.0, 1.0), ((True, False),) * 3) == (False,) * 3
    out = draw_pattern(np.random.default_rng(0), (0.0, 0.0), ((True, True),) * 2)
    assert out == (False, False) and all(type(v) is bool for v in out)


def test_draw_pattern_lengths_must_match():
    with pytest.raises(ValueError):
        draw_pattern(np.random.default_rng(0), (0.5, 0.5, 0.5), ((True, True),) * 2)


def test_sequence_probs_threshold():
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 1.0) == (0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2, 0.3], 1.0) == (0.5, 0.5, 0.5)
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.0) == (0.1, 0.2)
    kept = sequence_probs(np.random.default_rng(0), [0.1, 0.2], RNG0[0])  # draw == random_prob: kept
    assert kept == (0.1, 0.2) and type(kept) is tuple
    assert sequence_probs(np.random.default_rng(0), [0.1, 0.2], 0.7) == (0.5, 0.5)


def test_sequence_rng_seed_words():
    a = sequence_rng(3, 1, 5).random(4)
    np.testing.assert_array_equal(a, np.random.default_rng([3, 1, 5, 7]).random(4))
    assert sequence_rng(3, 1, 5).random() != sequence_rng(3, 1, 6).random()


# --- validate --------------------------------------------------------------------------------------------

PSNR = {("a", 1): [30.0, 33.0], ("b", 1): [24.0], ("a", 2): [20.0, 22.0], ("b", 2): [18.0]}


class _Scene:
    def __init__(self, store, name, frames):
        self.store, self.name, self.frames = store, name, frames


def _fake_validation(monkeypatch):
    calls = []
    frames = {"a": 12, "b": 3}

    class Store:
        def __init__(self, path):
            self.path = path

        def scene(self, name):
            return _Scene(self.path, name, frames[name])

    def evaluate_scene(scene, n, models, *, device, end, on_frame):
        calls.append((scene.store, scene.name, n, models, device, end))
        records = [FrameRecord(scene.name, 0, False, 0)]
        if on_frame is not None:
            on_frame(records[0], {}, f"tgt-{scene.name}-{n}-0")
        for i, psnr in enumerate(PSNR[(scene.name, n)], start=1):
            metrics = {"model": {"psnr": psnr, "ssim": 0.75, "lpips": 0.5},
                       "warp": {"psnr": psnr - 10, "ssim": 0.5, "lpips": 0.5},
                       "repeat": {"psnr": psnr - 20, "ssim": 0.25, "lpips": 0.5}}
            rec = FrameRecord(scene.name, i, True, 1, metrics)
            records.append(rec)
            if on_frame is not None:
                on_frame(rec, f"out-{scene.name}-{n}-{i}", f"tgt-{scene.name}-{n}-{i}")
        return records

    import lmv_cli.core.store as store_mod

    monkeypatch.setattr(store_mod, "open_store", Store)
    monkeypatch.setattr(val, "evaluate_scene", evaluate_scene)
    scenes = [SceneRef("sa", "a", 12, 8, 8), SceneRef("sb", "b", 3, 8, 8)]
    return calls, scenes


def test_validate_means_over_every_scene(monkeypatch):
    calls, scenes = _fake_validation(monkeypatch)
    model, device = object(), object()
    result = val.validate(model, scenes, device)
    assert result == {
        "n1": {"model": {"psnr": 29.0, "ssim": 0.75}, "warp": {"psnr": 19.0, "ssim": 0.5},
               "repeat": {"psnr": 9.0, "ssim": 0.25}},
        "n2": {"model": {"psnr": 20.0, "ssim": 0.75}, "warp": {"psnr": 10.0, "ssim": 0.5},
               "repeat": {"psnr": 0.0, "ssim": 0.25}},
    }
    assert [c[:3] for c in calls] == [("sa", "a", 1), ("sb", "b", 1), ("sa", "a", 2), ("sb", "b", 2)]
    assert all(c[3] == {"model": model} and c[3]["model"] is model and c[4] is device and c[5] is None
               for c in calls)
    assert val.selection_psnr(result) == pytest.approx(24.5)


@pytest.mark.parametrize(("frames", "ends"), [(5, [5, 3]), (2, [2, 2]), (0, [None, None]), (None, [None, None])])
def test_validate_frames_limit(monkeypatch, frames, ends):
    calls, scenes = _fake_validation(monkeypatch)
    val.validate(object(), scenes, "cpu", frames=frames)
    assert [c[5] for c in calls] == ends * 2


def test_validate_preview_first_predicted_frame_of_first_scene(monkeypatch):
    calls, scenes = _fake_validation(monkeypatch)
    seen = []
    val.validate(object(), scenes, "cpu", preview=lambda *args: seen.append(args))
    assert seen == [("a", 1, "out-a-1-1", "tgt-a-1-1"), ("a", 2, "out-a-2-1", "tgt-a-2-1")]


def test_selection_psnr_is_the_mean_of_the_model_psnr():
    result = {"n1": {"model": {"psnr": 30.0, "ssim": 0.1}, "warp": {"psnr": 1.0}},
              "n2": {"model": {"psnr": 20.0, "ssim": 0.2}, "warp": {"psnr": 2.0}}}
    assert val.selection_psnr(result) == 25.0
