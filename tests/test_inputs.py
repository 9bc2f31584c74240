"""Input assembly: golden values for gamma_log, demodulation, merged MVs and the G-buffer remaps;
bad input named by buffer and frame; predicted-history substitution.

Golden values were computed by hand from the study's formulas with the standard library only; run this
file as a script (`python tests/test_inputs.py`) to print them again.
"""

from __future__ import annotations

import math

import pytest
import torch

from lmv_cli.core import baselines
from lmv_cli.core.color import gamma_log, inv_gamma_log
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import (
    assemble_inputs,
    assemble_targets,
    demodulate,
    merged_motion_vectors,
    substitute_prediction,
    window_frames,
)
from lmv_cli.core.metrics import psnr
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.model.warp import backward_warp
from procedural import moving_frames, synth_window

# gamma_log(x) = ln(1 + 8x) / ln 9 (docs/model.md#colour-space): x -> value
GAMMA_LOG_GOLDEN = {
    0.0: 0.0,
    0.125: 0.3154648767857287,  # ln 2 / ln 9
    0.5: 0.7324867603589634,  # ln 5 / ln 9
    1.0: 1.0,
    2.0: 1.2894509615812828,  # ln 17 / ln 9
    10.0: 2.0,  # ln 81 / ln 9
}


def regenerate_golden() -> dict:
    """The golden values of this file from the formulas alone (no lmv code)."""
    return {x: math.log1p(8 * x) / math.log(9) for x in GAMMA_LOG_GOLDEN}


def test_gamma_log_golden_and_inverse():
    x = torch.tensor(list(GAMMA_LOG_GOLDEN), dtype=torch.float64)
    expected = torch.tensor(list(GAMMA_LOG_GOLDEN.values()), dtype=torch.float64)
    assert torch.allclose(gamma_log(x), expected, rtol=0, atol=1e-12)
    assert torch.allclose(inv_gamma_log(gamma_log(x)), x, rtol=1e-12, atol=1e-12)
    assert regenerate_golden() == pytest.approx(GAMMA_LOG_GOLDEN, abs=1e-15)


def test_demodulation_golden():
    # pixel 0: brdf (0.25, 0.005 -> floored to 0.01, 0.5); pixel 1: brdf all zero -> light 0 (docs/model.md#scene-light-and-demodulation)
    color = torch.tensor([[0.5, 1.0], [0.02, 1.0], [1.0, 1.0]]).view(1, 3, 1, 2)
    brdf = torch.tensor([[0.25, 0.0], [0.005, 0.0], [0.5, 0.0]]).view(1, 3, 1, 2)
    light = demodulate(color, brdf)
    assert torch.allclose(light[0, :, 0, 0], torch.tensor([2.0, 2.0, 2.0]))
    assert torch.equal(light[0, :, 0, 1], torch.zeros(3))


def test_merged_motion_vectors_golden():
    # W = 8, H = 4: mv_t moves everything +1 px in x (0.25 NDC); mv_{t-1}, mv_{t-2} are x ramps of 0.01 per
    # column. M_1(x) = mv_{t-1}(x - 1) + 0.25 (zero outside, nearest); M_2(x) = mv_{t-2}(x - M_1 px) + M_1.
    w, h = 8, 4
    ramp = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w) * 0.01
    mv_t = torch.cat((torch.full((1, 1, h, w), 0.25), torch.zeros(1, 1, h, w)), 1)
    mv_1 = torch.cat((ramp, torch.zeros(1, 1, h, w)), 1)
    mv_2 = torch.cat((ramp * 0 + 0.5, torch.zeros(1, 1, h, w)), 1)  # +2 px everywhere
    m0, m1, m2 = merged_motion_vectors([mv_t, mv_1, mv_2])
    assert torch.equal(m0, mv_t)
    m1_golden = [0.25, 0.25, 0.26, 0.27, 0.28, 0.29, 0.30, 0.31]  # column 0 reads outside -> 0 + 0.25
    assert torch.allclose(m1[0, 0, 0], torch.tensor(m1_golden), atol=1e-6)
    # M_1 is 1.0..1.24 px: nearest source column x - round(M_1 px) = x - 1; inside from x = 1 -> +0.5
    m2_golden = [0.25, 0.75, 0.76, 0.77, 0.78, 0.79, 0.80, 0.81]
    assert torch.allclose(m2[0, 0, 0], torch.tensor(m2_golden), atol=1e-6)
    assert torch.equal(m1[:, 1], torch.zeros(1, h, w)) and torch.equal(m2[:, 1], torch.zeros(1, h, w))


def test_merged_motion_vectors_reproject_older_frames():
    # Content moving 2 px right, 1 px down per frame: M_k warps frame t-1-k onto frame t (interior).
    frames = moving_frames(b=1, h=32, w=48, shift=(2, 1))
    merged = merged_motion_vectors([f["motion_vector"] for f in frames[:3]])
    target = frames[0]["scene_color_no_st"]
    for k, m in enumerate(merged):
        warped = backward_warp(frames[k + 1]["scene_color_no_st"], m)
        border = 3 * (k + 1)
        inner = (slice(None), slice(None), slice(border, -border), slice(2 * border, -2 * border))
        assert torch.allclose(warped[inner], target[inner], atol=1e-5), f"M_{k}"


def test_assemble_inputs_fields():
    frames = moving_frames(b=2, h=16, w=32)
    inputs = assemble_inputs(frames)
    cur = frames[0]
    assert inputs.gbuffer.shape == (2, 6, 16, 32)
    assert torch.allclose(inputs.gbuffer[:, :3], cur["world_normal"] * 0.5 + 0.5)
    assert torch.allclose(inputs.gbuffer[:, 3:4], cur["depth"] / 65536)
    assert torch.equal(inputs.gbuffer[:, 4:5], cur["roughness"]) and torch.equal(inputs.gbuffer[:, 5:6], cur["metallic"])
    assert torch.equal(inputs.sky_mask, cur["skybox_mask"])
    assert len(inputs.merged_mv) == 3 and len(inputs.history) == 3
    for k, hist in enumerate(inputs.history):
        f = frames[k + 1]
        assert torch.allclose(hist.light, gamma_log(f["scene_color_no_st"] / f["brdf_color"]))
        assert torch.allclose(hist.sky, gamma_log(f["sky_color"]))
        assert torch.allclose(hist.st_color, gamma_log(f["st_color"]))
        assert torch.equal(hist.st_alpha, f["st_alpha"])
        assert torch.equal(hist.color_no_st, f["scene_color_no_st"])  # linear: the residual base
        assert hist.encoder_input().shape == (2, 10, 16, 32)


def test_depth_and_normal_remap_golden():
    frames = moving_frames(b=1, h=4, w=4)
    frames[0]["depth"][:] = torch.tensor([0.0, 16384.0, 65536.0, 1.0e6]).view(1, 1, 1, 4)  # cm
    frames[0]["world_normal"][:] = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    g = assemble_inputs(frames).gbuffer
    assert torch.equal(g[0, 3, 0], torch.tensor([0.0, 0.25, 1.0, 1.0]))  # min(d, 65536) / 65536
    assert torch.equal(g[0, :3, 0, 0], torch.tensor([0.0, 0.5, 1.0]))


def test_targets_recompose_and_demodulate():
    frames = moving_frames(b=2, h=16, w=16)
    f = frames[0]
    t = assemble_targets(f)
    assert torch.allclose(t.scene_color, f["scene_color_no_st"] * f["st_alpha"] + f["st_color"])
    assert torch.allclose(t.light_no_st, f["scene_color_no_st"] / f["brdf_color"])
    assert torch.equal(t.sky_mask, f["skybox_mask"])


def test_float16_store_buffers_are_assembled_in_float32():
    frames = moving_frames(b=1, h=8, w=8)
    half = [{k: v.half() for k, v in f.items()} for f in frames]
    inputs, reference = assemble_inputs(half), assemble_inputs(frames)
    assert inputs.gbuffer.dtype == torch.float32 and inputs.history[2].light.dtype == torch.float32
    assert torch.allclose(inputs.history[0].light, reference.history[0].light, atol=2e-3)
    assert assemble_targets(half[0]).scene_color.dtype == torch.float32


def test_negative_colours_are_clamped_like_the_original_loader():
    frames = moving_frames(b=1, h=8, w=8)
    frames[1]["sky_color"][:] = -1.0
    frames[1]["st_alpha"][:] = 1.5
    hist = assemble_inputs(frames).history[0]
    assert torch.equal(hist.sky, torch.zeros_like(hist.sky))
    assert torch.equal(hist.st_alpha, torch.ones_like(hist.st_alpha))


def test_missing_buffer_is_named():
    frames = moving_frames(b=1, h=8, w=8)
    del frames[2]["sky_color"]
    with pytest.raises(InputError, match=r"frame t-2: input buffer 'sky_color' is missing"):
        assemble_inputs(frames)
    frames = moving_frames(b=1, h=8, w=8)
    del frames[0]["st_alpha"]
    with pytest.raises(InputError, match=r"frame t: input buffer 'st_alpha' is missing"):
        assemble_targets(frames[0])


def test_wrong_channel_count_is_named():
    frames = moving_frames(b=1, h=8, w=8)
    frames[0]["motion_vector"] = torch.zeros(1, 3, 8, 8)
    with pytest.raises(InputError, match=r"frame t: input buffer 'motion_vector': expected 2 channels, got 3"):
        assemble_inputs(frames)


def test_nan_and_inf_are_named():
    frames = moving_frames(b=1, h=8, w=8)
    frames[1]["st_alpha"][0, 0, 3, 3] = float("nan")
    frames[1]["st_alpha"][0, 0, 4, 4] = float("inf")
    with pytest.raises(InputError, match=r"frame t-1: input buffer 'st_alpha': 2 NaN/Inf value\(s\)"):
        assemble_inputs(frames)


def test_shape_and_type_mismatches_are_named():
    frames = moving_frames(b=1, h=8, w=8)
    frames[3]["brdf_color"] = torch.ones(1, 3, 8, 16)
    with pytest.raises(InputError, match=r"frame t-3: input buffer 'brdf_color': expected \(B, H, W\) = \(1, 8, 8\)"):
        assemble_inputs(frames)
    frames = moving_frames(b=1, h=8, w=8)
    frames[0]["depth"] = torch.ones(1, 8, 8)
    with pytest.raises(InputError, match=r"frame t: input buffer 'depth': expected a float tensor \(B, C, H, W\), got \(1, 8, 8\)"):
        assemble_inputs(frames)
    with pytest.raises(InputError, match=r"expected 4 frames \(t, t-1, t-2, t-3\), got 3"):
        assemble_inputs(moving_frames(b=1, h=8, w=8)[:3])


def test_substitute_prediction_replaces_colour_layers_only():
    frames = moving_frames(b=1, h=8, w=8)
    inputs = assemble_inputs(frames)
    full = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    pred = NetOutputs(color=full, color_no_st=full * 2, light_no_st=full * 4, sky=full * 0.25,
                      st_color=full * 0.25, st_alpha=torch.full((1, 1, 8, 8), 0.75))
    out = substitute_prediction(inputs, 1, pred)
    hist = out.history[1]
    assert torch.allclose(hist.light, torch.full_like(hist.light, GAMMA_LOG_GOLDEN[2.0]))
    assert torch.allclose(hist.sky, torch.full_like(hist.sky, GAMMA_LOG_GOLDEN[0.125]))
    assert torch.equal(hist.color_no_st, torch.ones(1, 3, 8, 8))
    assert torch.equal(hist.st_alpha, torch.full((1, 1, 8, 8), 0.75))
    assert not hist.light.requires_grad  # detached: no back-propagation through time (docs/model.md#feature-streaming)
    assert hist.brdf_color is inputs.history[1].brdf_color  # BRDF colour, MVs, G-buffer stay rendered
    assert out.merged_mv is inputs.merged_mv and out.gbuffer is inputs.gbuffer
    assert out.history[0] is inputs.history[0] and out.history[2] is inputs.history[2]
    with pytest.raises(InputError, match=r"history slot must be in 0..2, got 3"):
        substitute_prediction(inputs, 3, pred)
    small = NetOutputs(*(x[..., :4, :4] for x in (full, full, full, full, full, pred.st_alpha)))
    with pytest.raises(InputError, match=r"prediction for history slot 0 \(frame t-1\) has shape \(1, 3, 4, 4\)"):
        substitute_prediction(inputs, 0, small)


def test_window_frames_orders_newest_first():
    import numpy as np

    window = {"depth": np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1) * np.ones((4, 1, 2, 3), np.float32),
              "skybox_mask": np.ones((4, 1, 2, 3), np.uint8)}
    frames = window_frames(window)
    assert [f["depth"][0, 0, 0, 0].item() for f in frames] == [3.0, 2.0, 1.0, 0.0]  # t, t-1, t-2, t-3
    assert frames[0]["depth"].shape == (1, 1, 2, 3) and frames[0]["skybox_mask"].dtype == torch.float32
    with pytest.raises(InputError, match=r"store window 'depth': expected \(4, C, H, W\), got \(3, 1, 2, 3\)"):
        window_frames({"depth": np.zeros((3, 1, 2, 3), np.float32)})


@pytest.fixture(scope="module")
def synth(synth_factory, tmp_path_factory):
    scene = synth_factory(scene="orbit", frames=6, size=(64, 48), seed=0)
    return synth_window(scene, tmp_path_factory.mktemp("store") / "store.zarr", t=5)


def test_real_store_window_assembles_consistently(synth):
    inputs = assemble_inputs(synth)
    f1 = synth[1]
    # demodulation round trip: light · brdf = colour wherever the colour is above the float16 noise
    relit = inv_gamma_log(inputs.history[0].light) * f1["brdf_color"]
    assert torch.allclose(relit, f1["scene_color_no_st"], rtol=1e-3, atol=1e-3)
    assert inputs.sky_mask.unique().tolist() in ([0.0, 1.0], [0.0], [1.0])
    assert 0 <= inputs.gbuffer.min() and inputs.gbuffer.max() <= 1


def test_merged_mvs_reproject_a_real_scene(synth):
    # M_k warps frame t-1-k onto frame t better than repeating it, and better than reusing M_0 for the
    # older frames (the chain adds the older motion). Measured ACES PSNR (dB), orbit 64x48, t = 5:
    # warp with M_k 27.1 / 24.8 / 24.6, repeat 24.2 / 21.1 / 19.5, warp with M_0 27.1 / 23.7 / 21.5.
    inputs, target = assemble_inputs(synth), synth[0]["scene_color_no_st"]
    for k, m in enumerate(inputs.merged_mv):
        source = synth[k + 1]["scene_color_no_st"]
        warped = backward_warp(source, m)
        assert torch.allclose(baselines.warp(synth, source=k + 1).color_no_st, warped)  # the `warp` baseline
        merged = psnr(warped, target).item()
        assert merged > psnr(source, target).item() + 2.0, f"M_{k}"
        if k > 0:
            assert merged > psnr(backward_warp(source, inputs.merged_mv[0]), target).item() + 0.5, f"M_{k}"


if __name__ == "__main__":
    for x, v in regenerate_golden().items():
        print(f"gamma_log({x}) = {v!r}")
