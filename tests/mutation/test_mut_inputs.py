"""Input assembly (`lmv_cli.core.inputs`) details pinned where mutation testing found them unpinned
(README "Mutation testing"): store windows land on the requested device; frame t needs only its
G-buffer (its colour may never have been rendered) and t−3 no motion vector; every check names frame t,
takes frame t's (B, H, W) as the size and reports shapes before values; the assembled BRDF colour is
floored at 0.01 and the targets carry every clamped layer.

Expected values are written by hand (0.01 floor, clamps to [0, ∞) and [0, 1]), never computed with
the functions under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import (
    CURRENT_BUFFERS,
    HISTORY_BUFFERS,
    TARGET_BUFFERS,
    assemble_inputs,
    assemble_targets,
    window_frames,
)
from procedural import moving_frames


def minimal_frames(h: int = 4, w: int = 4) -> list[dict[str, torch.Tensor]]:
    """`[t, t−1, t−2, t−3]` holding only what `assemble_inputs` needs: frame t its G-buffer, BRDF colour,
    sky mask and MV; every history frame its colours; only t−1 and t−2 a motion vector."""
    frames = moving_frames(b=1, h=h, w=w)
    needs = [CURRENT_BUFFERS] + [HISTORY_BUFFERS + ("motion_vector",)] * 2 + [HISTORY_BUFFERS]
    return [{name: f[name] for name in names} for f, names in zip(frames, needs)]


def test_window_frames_puts_every_buffer_on_the_requested_device():
    window = {"depth": np.ones((4, 1, 2, 3), np.float32), "skybox_mask": np.ones((4, 1, 2, 3), np.uint8)}
    for frame in window_frames(window, device="meta"):
        assert {x.device.type for x in frame.values()} == {"meta"}
        assert {x.dtype for x in frame.values()} == {torch.float32}


def test_frames_need_only_their_own_buffers():
    # frame t without any colour (never rendered), history without G-buffers, t-3 without a motion vector
    inputs = assemble_inputs(minimal_frames())
    assert len(inputs.history) == 3 and len(inputs.merged_mv) == 3
    assert inputs.gbuffer.shape == (1, 6, 4, 4)


@pytest.mark.parametrize("k", [1, 2])
def test_missing_history_motion_vector_is_named(k):
    frames = minimal_frames()
    del frames[k]["motion_vector"]
    with pytest.raises(InputError, match=rf"^frame t-{k}: input buffer 'motion_vector' is missing"):
        assemble_inputs(frames)


def test_bad_first_current_buffer_is_named_as_frame_t():
    frames = minimal_frames()
    del frames[0]["world_normal"]
    with pytest.raises(InputError, match=r"^frame t: input buffer 'world_normal' is missing \(frame has: brdf_color"):
        assemble_inputs(frames)
    frames = minimal_frames()
    frames[0]["world_normal"] = torch.zeros(3, 4, 4)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'world_normal': expected a float tensor \(B, C, H, W\), got \(3, 4, 4\)$"):
        assemble_inputs(frames)


def test_current_frame_size_is_that_of_frame_t():
    # frame t is 4x4; a current buffer of another size is named, whatever the history frames' size
    frames = minimal_frames()
    frames[0]["depth"] = torch.zeros(1, 1, 4, 8)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'depth': expected \(B, H, W\) = \(1, 4, 4\), got shape \(1, 1, 4, 8\)$"):
        assemble_inputs(frames)
    frames = minimal_frames()
    frames[0]["skybox_mask"] = torch.zeros(2, 1, 4, 4)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'skybox_mask': expected \(B, H, W\) = \(1, 4, 4\)"):
        assemble_inputs(frames)


def test_shapes_of_frame_t_are_checked_before_its_values():
    # a NaN in depth and a wrong channel count in roughness: the shape error comes first
    frames = minimal_frames()
    frames[0]["depth"][0, 0, 1, 1] = float("nan")
    frames[0]["roughness"] = torch.zeros(1, 2, 4, 4)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'roughness': expected 1 channels, got 2"):
        assemble_inputs(frames)


def test_assembled_brdf_colour_is_frame_t_floored_at_one_percent():
    frames = minimal_frames(h=1, w=4)
    frames[0]["brdf_color"] = torch.tensor([[0.0, 0.005, 0.01, 0.5]] * 3).view(1, 3, 1, 4)
    expected = torch.tensor([[0.01, 0.01, 0.01, 0.5]] * 3).view(1, 3, 1, 4)
    assert torch.equal(assemble_inputs(frames).brdf_color, expected)


def target_frame(h: int = 1, w: int = 3) -> dict[str, torch.Tensor]:
    """Frame t with exactly the target buffers, all finite, of size (1, h, w)."""
    f = moving_frames(b=1, h=h, w=w)[0]
    return {name: f[name] for name in TARGET_BUFFERS}


def test_targets_hold_every_layer_clamped():
    f = target_frame()
    f["sky_color"] = torch.tensor([[-1.0, 0.0, 2.5]] * 3).view(1, 3, 1, 3)
    f["st_alpha"] = torch.tensor([-0.5, 0.25, 1.5]).view(1, 1, 1, 3)
    f["skybox_mask"] = torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    t = assemble_targets(f)
    assert torch.equal(t.sky, torch.tensor([[0.0, 0.0, 2.5]] * 3).view(1, 3, 1, 3))
    assert torch.equal(t.st_alpha, torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 1, 3))
    assert torch.equal(t.sky_mask, torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 1, 3))


def test_bad_target_buffers_are_named_as_frame_t():
    f = target_frame()
    del f["scene_color_no_st"]
    with pytest.raises(InputError, match=r"^frame t: input buffer 'scene_color_no_st' is missing"):
        assemble_targets(f)
    f = target_frame()
    f["scene_color_no_st"] = torch.zeros(3, 1, 3)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'scene_color_no_st': expected a float tensor"):
        assemble_targets(f)


def test_target_size_is_that_of_scene_color_no_st():
    f = target_frame()
    f["st_color"] = torch.zeros(1, 3, 1, 6)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'st_color': expected \(B, H, W\) = \(1, 1, 3\), got shape \(1, 3, 1, 6\)$"):
        assemble_targets(f)


def test_target_shapes_are_checked_before_values():
    f = target_frame()
    f["st_color"][0, 0, 0, 0] = float("inf")
    f["st_alpha"] = torch.zeros(1, 3, 1, 3)
    with pytest.raises(InputError, match=r"^frame t: input buffer 'st_alpha': expected 1 channels, got 3"):
        assemble_targets(f)
