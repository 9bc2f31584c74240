"""Input assembly (`lmv_cli.core.inputs`) as the training loop and the CLI see it: store windows land on the requested device; frame t needs only its
G-buffer (its colour may never have been rendered) and t−3 no motion vector; every check names frame t,
takes frame t's (B, H, W) as the size and reports shapes before values; a missing buffer's message lists
what the frame has, a non-tensor is named by its type; float16 values whose sum overflows are still
finite; demodulation zeroes only pixels whose BRDF colour
sums to 0 over channels; merged MVs honour the warp convention; the assembled BRDF colour is floored at
0.01; targets, rendered and predicted history carry every layer clamped.

Expected values are written by hand (0.01 floor, clamps to [0, ∞) and [0, 1]), never computed with
the functions under test.
"""

from __future__ import annotations

import math

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
    check_frame,
    demodulate,
    frame_label,
    merged_motion_vectors,
    predicted_history_frame,
    window_frames,
)
from lmv_cli.core.model.interface import NetOutputs
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
    with pytest.raises(InputError, match=rf"frame t-{k}\b.*'motion_vector'.*missing"):
        assemble_inputs(frames)


def test_bad_first_current_buffer_is_named_as_frame_t():
    frames = minimal_frames()
    del frames[0]["world_normal"]
    with pytest.raises(InputError, match=r"frame t\b.*'world_normal'.*missing.*brdf_color"):
        assemble_inputs(frames)
    frames = minimal_frames()
    frames[0]["world_normal"] = torch.zeros(3, 4, 4)
    expected = r"frame t\b.*'world_normal'.*float tensor.*got \(3, 4, 4\)"
    with pytest.raises(InputError, match=expected):
        assemble_inputs(frames)


def test_current_frame_size_is_that_of_frame_t():
    # frame t is 4x4; a current buffer of another size is named, whatever the history frames' size
    frames = minimal_frames()
    frames[0]["depth"] = torch.zeros(1, 1, 4, 8)
    expected = r"frame t\b.*'depth'.*\(1, 4, 4\).*\(1, 1, 4, 8\)"
    with pytest.raises(InputError, match=expected):
        assemble_inputs(frames)
    frames = minimal_frames()
    frames[0]["skybox_mask"] = torch.zeros(2, 1, 4, 4)
    with pytest.raises(InputError, match=r"frame t\b.*'skybox_mask'.*\(1, 4, 4\)"):
        assemble_inputs(frames)


def test_shapes_of_frame_t_are_checked_before_its_values():
    # a NaN in depth and a wrong channel count in roughness: the shape error comes first
    frames = minimal_frames()
    frames[0]["depth"][0, 0, 1, 1] = float("nan")
    frames[0]["roughness"] = torch.zeros(1, 2, 4, 4)
    with pytest.raises(InputError, match=r"frame t\b.*'roughness'.*1 channels.*got 2"):
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
    with pytest.raises(InputError, match=r"frame t\b.*'scene_color_no_st'.*missing"):
        assemble_targets(f)
    f = target_frame()
    f["scene_color_no_st"] = torch.zeros(3, 1, 3)
    with pytest.raises(InputError, match=r"frame t\b.*'scene_color_no_st'.*float tensor"):
        assemble_targets(f)


def test_target_size_is_that_of_scene_color_no_st():
    f = target_frame()
    f["st_color"] = torch.zeros(1, 3, 1, 6)
    expected = r"frame t\b.*'st_color'.*\(1, 1, 3\).*\(1, 3, 1, 6\)"
    with pytest.raises(InputError, match=expected):
        assemble_targets(f)


def test_target_shapes_are_checked_before_values():
    f = target_frame()
    f["st_color"][0, 0, 0, 0] = float("inf")
    f["st_alpha"] = torch.zeros(1, 3, 1, 3)
    with pytest.raises(InputError, match=r"frame t\b.*'st_alpha'.*1 channels.*got 3"):
        assemble_targets(f)


def test_frame_labels_count_back_from_t():
    assert [frame_label(k) for k in range(4)] == ["t", "t-1", "t-2", "t-3"]


def test_missing_buffer_message_lists_what_the_frame_has():
    with pytest.raises(InputError, match=r"frame t\b.*'scene_color_no_st'.*missing.*nothing"):
        assemble_targets({})
    f = {"st_alpha": torch.zeros(1, 1, 1, 1), "depth": torch.zeros(1, 1, 1, 1)}
    with pytest.raises(InputError, match=r"frame t-2\b.*'sky_color'.*missing.*depth, st_alpha"):
        check_frame(f, ("sky_color",), "t-2")


def test_non_tensor_buffer_is_named_by_its_type():
    f = target_frame()
    f["st_color"] = np.zeros((1, 3, 1, 3), np.float32)  # has a .shape, but is no tensor
    expected = r"frame t\b.*'st_color'.*float tensor.*ndarray"
    with pytest.raises(InputError, match=expected):
        assemble_targets(f)


def test_a_finite_float16_frame_whose_sums_overflow_is_accepted_and_a_nan_is_counted():
    # float16 store colours: 4 x 60000 sums past float16's 65504, which must not read as non-finite
    f = {"st_color": torch.full((1, 3, 2, 2), 60000.0, dtype=torch.float16),
         "st_alpha": torch.full((1, 1, 2, 2), 60000.0, dtype=torch.float16)}
    check_frame(f, ("st_color", "st_alpha"), "t")
    f["st_alpha"][0, 0, 1, 0] = float("nan")
    with pytest.raises(InputError, match=r"frame t\b.*'st_alpha'.*\b1 NaN"):
        check_frame(f, ("st_color", "st_alpha"), "t")


def test_demodulation_zeroes_pixels_whose_brdf_colour_sums_to_zero_over_channels():
    # (B, 3, H=2, W=2). Column 0: row 0 brdf (0, 0.5, 0.5) keeps light (channel 0 floored to 0.01),
    # row 1 all zero -> 0. Column 1: brdf 0.25 everywhere.
    color = torch.full((1, 3, 2, 2), 0.5)
    brdf = torch.full((1, 3, 2, 2), 0.25)
    brdf[0, :, 0, 0] = torch.tensor([0.0, 0.5, 0.5])
    brdf[0, :, 1, 0] = 0.0
    light = demodulate(color, brdf)
    assert torch.allclose(light[0, :, 0, 0], torch.tensor([50.0, 1.0, 1.0]))
    assert torch.equal(light[0, :, 1, 0], torch.zeros(3))
    assert torch.allclose(light[0, :, :, 1], torch.full((3, 2), 2.0))


def test_merged_mvs_follow_the_original_warp_convention():
    # W = 5, H = 2. M_0 = 1.16 NDC in x: "exact" moves 1.16·W/2 = 2.9 px, "original" 1.16·(W−1)/2 = 2.32 px,
    # so the nearest gather of mv_{t-1} (0.01 per column) reads column x−3 resp. x−2 (0 outside).
    w, h = 5, 2
    mv_t = torch.zeros(1, 2, h, w)
    mv_t[:, 0] = 1.16
    mv_1 = torch.zeros(1, 2, h, w)
    mv_1[:, 0] = torch.arange(w, dtype=torch.float32) * 0.01
    _, m1_exact = merged_motion_vectors([mv_t, mv_1])
    _, m1_original = merged_motion_vectors([mv_t, mv_1], convention="original")
    assert torch.allclose(m1_exact[0, 0, 0], torch.tensor([1.16, 1.16, 1.16, 1.16, 1.17]), atol=1e-6)
    assert torch.allclose(m1_original[0, 0, 0], torch.tensor([1.16, 1.16, 1.16, 1.17, 1.18]), atol=1e-6)
    assert torch.equal(m1_original[:, 1], torch.zeros(1, h, w))


def test_history_alpha_is_clamped_to_zero_one():
    frames = minimal_frames(h=1, w=3)
    frames[1]["st_alpha"] = torch.tensor([-0.5, 0.25, 1.5]).view(1, 1, 1, 3)
    assert torch.equal(assemble_inputs(frames).history[0].st_alpha, torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 1, 3))


def test_predicted_history_clamps_each_layer():
    # light/sky/st_color in gamma_log after clamping at 0: gamma_log(0) = 0, gamma_log(0.125) = ln 2 / ln 9,
    # gamma_log(0.5) = ln 5 / ln 9; alpha clamped to [0, 1]; linear colour clamped at 0
    values = torch.tensor([-1.0, 0.125, 0.5]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    gl = torch.tensor([0.0, math.log(2) / math.log(9), math.log(5) / math.log(9)]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    alpha = torch.tensor([-0.5, 0.25, 1.5]).view(1, 1, 1, 3)
    outputs = NetOutputs(color=values, color_no_st=values, light_no_st=values, sky=values, st_color=values,
                         st_alpha=alpha)
    brdf = torch.full((1, 3, 1, 3), 0.5)
    hist = predicted_history_frame(outputs, brdf)
    for name in ("light", "sky", "st_color"):
        assert torch.allclose(getattr(hist, name), gl, rtol=0, atol=1e-6), name
    assert torch.equal(hist.st_alpha, torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 1, 3))
    assert torch.equal(hist.color_no_st, torch.tensor([0.0, 0.125, 0.5]).view(1, 1, 1, 3).expand(1, 3, 1, 3))
    assert hist.brdf_color is brdf
