"""Regions of a predicted frame on hand-made frames (docs/regions.md), the vectorised metrics that score
every method per region, and pooling of per-region PSNR over frames."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_msssim import ssim as reference_ssim

from lmv_cli.core.color import aces
from lmv_cli.core.evaluate import FrameRecord, summarize
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import Targets
from lmv_cli.core.metrics import STRIP_ROWS, aces_in_place, frame_metrics, score_methods, ssim
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.regions import (
    REGIONS,
    THRESHOLD_FLOOR,
    RegionStats,
    noise_threshold,
    region_labels,
    region_masks,
    unexplained,
)

H, W = 32, 48


def frame(color: torch.Tensor, depth: torch.Tensor, mv_px: torch.Tensor | None = None,
          st_alpha: torch.Tensor | None = None, sky: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """A frame dict of batch 1 from an (3, H, W) opaque colour, (H, W) depth in cm, an optional (2, H, W)
    motion in pixels (previous → this frame, x right, y down), translucency alpha and sky mask."""
    mv = torch.zeros(2, H, W) if mv_px is None else mv_px.clone()
    mv[0] *= 2.0 / W  # px → NDC (exact convention: a displacement d moves d·W/2 px)
    mv[1] *= 2.0 / H
    alpha = torch.ones(1, H, W) if st_alpha is None else st_alpha[None]
    return {"scene_color_no_st": color[None], "st_color": torch.zeros(1, 3, H, W), "st_alpha": alpha[None],
            "sky_color": torch.zeros(1, 3, H, W), "brdf_color": torch.full((1, 3, H, W), 0.5),
            "depth": depth[None, None], "motion_vector": mv[None],
            "skybox_mask": (torch.zeros(1, H, W) if sky is None else sky[None].float())[None]}


def truth(f: dict[str, torch.Tensor]) -> torch.Tensor:
    return f["scene_color_no_st"] * f["st_alpha"] + f["st_color"]


def textured_background() -> torch.Tensor:
    """(3, H, W) a smooth, non-constant background, so that a wrong reprojection would show."""
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    return torch.stack([0.2 + 0.3 * x, 0.3 + 0.2 * y, 0.25 + 0.1 * x * y])


def block_frames(shift: int) -> tuple[dict, dict, torch.Tensor]:
    """A bright block (rows 8..23, columns 10..19 at t−1) moving `shift` px right in front of a static
    background: frames t, t−1 and the expected uncovered strip (H, W)."""
    background = textured_background()
    depth = torch.full((H, W), 1000.0)
    frames = []
    for x0 in (10 + shift, 10):  # t, then t−1
        color, d = background.clone(), depth.clone()
        color[:, 8:24, x0:x0 + 10] = 1.5
        d[8:24, x0:x0 + 10] = 300.0
        mv = torch.zeros(2, H, W)
        mv[0, 8:24, x0:x0 + 10] = shift
        frames.append(frame(color, d, mv))
    strip = torch.zeros(H, W, dtype=torch.bool)
    strip[8:24, 10:10 + shift] = True
    return frames[0], frames[1], strip


@pytest.mark.parametrize("shift", [1, 3, 5])
def test_a_moving_block_uncovers_exactly_its_trailing_strip(shift):
    now, before, strip = block_frames(shift)
    labels = region_labels([now, before], 1, truth(now), THRESHOLD_FLOOR)[0]
    assert torch.equal(labels == REGIONS.index("disoccluded"), strip)
    assert (labels[~strip] == REGIONS.index("static")).all()


def test_a_block_moving_left_uncovers_its_right_strip():
    now, before, _ = block_frames(-4)  # block at columns 6..15 now, 10..19 before
    labels = region_labels([now, before], 1, truth(now), THRESHOLD_FLOOR)[0]
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[8:24, 16:20] = True
    assert torch.equal(labels == REGIONS.index("disoccluded"), expected)


def test_content_entering_at_the_frame_border_is_disoccluded():
    background = textured_background()
    depth = torch.full((H, W), 1000.0)
    mv = torch.zeros(2, H, W)
    mv[0] = 2.0  # camera pan: everything moved 2 px right, columns 0..1 were off-screen
    now, before = frame(background, depth, mv), frame(background, depth)
    labels = region_labels([now, before], 1, truth(now), THRESHOLD_FLOOR)[0]
    assert (labels[:, :2] == REGIONS.index("disoccluded")).all()
    assert not (labels[:, 2:] == REGIONS.index("disoccluded")).any()


def spot(cx: float) -> torch.Tensor:
    """(3, H, W) a grey plane lit by a soft spot centred at column cx."""
    y, x = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    light = torch.exp(-((x - cx) ** 2 + (y - H / 2) ** 2) / (2 * 2.0**2))
    return (0.2 + 2.0 * light).expand(3, H, W).clone()


def test_a_light_moving_over_a_static_plane_is_shading_change_not_disocclusion():
    depth = torch.full((H, W), 500.0)
    now, before = frame(spot(30.0), depth), frame(spot(14.0), depth)
    threshold = noise_threshold(frame(spot(14.0), depth), frame(spot(14.0), depth))
    labels = region_labels([now, before], 1, truth(now), threshold)[0]
    changed = labels == REGIONS.index("shading_change")
    assert not (labels == REGIONS.index("disoccluded")).any()
    assert changed[H // 2, 30] and changed[H // 2, 14]  # where the spot arrived and where it left
    assert not changed[:, :4].any() and not changed[:, -4:].any()  # far from the light: unchanged


def test_half_transparent_pixels_are_translucent_and_sky_comes_first():
    now, before, strip = block_frames(3)
    alpha = torch.ones(H, W)
    alpha[0:4, :] = 0.5
    alpha[8:24, 10:13] = 0.5  # translucency in front of the uncovered strip takes precedence over it
    sky = torch.zeros(H, W, dtype=torch.bool)
    sky[0:2, :] = True  # the sky wins over translucency
    now = frame(now["scene_color_no_st"][0], now["depth"][0, 0], now["motion_vector"][0] * torch.tensor(
        [W / 2.0, H / 2.0]).view(2, 1, 1), alpha, sky)
    labels = region_labels([now, before], 1, truth(now), THRESHOLD_FLOOR)[0]
    assert (labels[0:2] == REGIONS.index("sky")).all()
    assert (labels[2:4] == REGIONS.index("translucent")).all()
    assert (labels[8:24, 10:13] == REGIONS.index("translucent")).all()
    masks = region_masks(labels[None])
    assert torch.equal(masks.sum(dim=0), torch.ones(H, W))  # a partition


def test_noise_threshold_grows_with_the_noise_of_the_data():
    depth = torch.full((H, W), 500.0)
    generator = torch.Generator().manual_seed(0)
    base = textured_background()
    clean = noise_threshold(frame(base, depth), frame(base, depth))
    noisy = [frame((base * (1 + 0.2 * torch.randn(base.shape, generator=generator))).clamp(min=0), depth)
             for _ in range(2)]
    assert clean == THRESHOLD_FLOOR
    assert noise_threshold(*noisy) > 2 * THRESHOLD_FLOOR


def outputs_of(color: torch.Tensor) -> NetOutputs:
    z3, z1 = torch.zeros_like(color), torch.ones_like(color[:, :1])
    return NetOutputs(color=color, color_no_st=color * 0.9, light_no_st=color, sky=z3, st_color=color * 0.1,
                      st_alpha=z1)


def targets_of(color: torch.Tensor) -> Targets:
    z1 = torch.ones_like(color[:, :1])
    return Targets(scene_color=color, no_st=color * 0.9, light_no_st=color, sky=torch.zeros_like(color),
                   sky_mask=z1 * 0, st_color=color * 0.1, st_alpha=z1)


@pytest.mark.parametrize("shape", [(2, 3, 11, 11), (3, 3, 32, 48), (1, 3, 71, 200)])
def test_ssim_agrees_with_pytorch_msssim(shape):
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(shape, generator=generator) * 2
    b = (a + 0.1 * torch.randn(shape, generator=generator)).clamp(min=0)
    expected = reference_ssim(aces(a), aces(b), data_range=1.0, size_average=False)
    torch.testing.assert_close(ssim(a, b), expected, rtol=0, atol=1e-6)


def test_all_methods_scored_at_once_equal_their_metrics_one_by_one():
    generator = torch.Generator().manual_seed(2)
    target = torch.rand(1, 3, H, W, generator=generator) * 3
    preds = [(target + 0.2 * torch.randn(target.shape, generator=generator)).clamp(min=0) for _ in range(3)]
    scores = score_methods([outputs_of(p) for p in preds], targets_of(target))
    for i, p in enumerate(preds):
        for name, value in frame_metrics(outputs_of(p), targets_of(target)).items():
            torch.testing.assert_close(scores.values[name][i], value[0], rtol=1e-6, atol=1e-5)


def test_banded_scores_equal_pytorch_msssim_on_a_frame_of_several_bands():
    generator = torch.Generator().manual_seed(4)
    target = torch.rand(1, 3, 3 * STRIP_ROWS + 7, 75, generator=generator) * 2  # 4 bands, the last partial
    preds = [(target + s * torch.randn(target.shape, generator=generator)).clamp(min=0) for s in (0.05, 0.3)]
    scores = score_methods([outputs_of(p) for p in preds], targets_of(target))
    for i, p in enumerate(preds):
        expected = reference_ssim(aces(p), aces(target), data_range=1.0, size_average=False)
        torch.testing.assert_close(scores.values["ssim"][i:i + 1], expected, rtol=0, atol=1e-6)
        mse = ((aces(p) - aces(target)) ** 2).mean()
        assert float(scores.values["psnr"][i]) == pytest.approx(float(10 * torch.log10(1 / mse)), abs=1e-4)


def test_layers_partly_zero_or_equal_to_the_colour_score_as_the_reference_says():
    """Bands where the translucency layer is zero everywhere and the no-translucency layer equals the final
    colour (a pane in the middle band only, as in most frames) score what pytorch_msssim and the PSNR
    formula give for the whole layer; a band that differs in a single prediction's pixel is scored in full."""
    generator = torch.Generator().manual_seed(6)
    h, w = 4 * STRIP_ROWS + 5, 60
    pane = torch.zeros(1, 1, h, w)
    pane[..., STRIP_ROWS + 4:STRIP_ROWS + 20, 10:40] = 1.0

    def layers(color):
        st = 0.3 * color * pane
        return color, color * (1 - 0.5 * pane), st  # final, no-translucency, translucency

    target = torch.rand(1, 3, h, w, generator=generator) * 2
    preds = [(target + s * torch.randn(target.shape, generator=generator)).clamp(min=0) for s in (0.05, 0.3)]
    outputs = []
    for p in preds:
        color, no_st, st = layers(p)
        outputs.append(NetOutputs(color=color, color_no_st=no_st, light_no_st=color, sky=torch.zeros_like(color),
                                  st_color=st, st_alpha=torch.ones_like(color[:, :1])))
    outputs[1].color_no_st[0, 0, 4 * STRIP_ROWS + 3, 7] += 0.01  # one pixel of the last band differs
    color, no_st, st = layers(target)
    targets = Targets(scene_color=color, no_st=no_st, light_no_st=color, sky=torch.zeros_like(color),
                      sky_mask=torch.zeros_like(pane), st_color=st, st_alpha=torch.ones_like(pane))
    scores = score_methods(outputs, targets)
    for i, out in enumerate(outputs):
        for suffix, pred, truth_ in (("", out.color, color), ("_no_st", out.color_no_st, no_st),
                                     ("_st", out.st_color, st)):
            expected = reference_ssim(aces(pred), aces(truth_), data_range=1.0, size_average=False)
            torch.testing.assert_close(scores.values[f"ssim{suffix}"][i:i + 1], expected, rtol=0, atol=1e-6)
            mse = float(((aces(pred) - aces(truth_)) ** 2).mean())
            assert float(scores.values[f"psnr{suffix}"][i]) == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)


def test_in_place_tonemapping_gives_the_same_bits():
    x = torch.rand(2, 3, 17, 19, generator=torch.Generator().manual_seed(7)) * 40 - 2
    x[0, 0, 0, :4] = torch.tensor([0.0, -0.0, 1e-8, 65504.0])
    assert torch.equal(aces_in_place(x.clone()), aces(x))


def test_metrics_asked_for_are_computed_alone_with_the_same_values():
    generator = torch.Generator().manual_seed(5)
    target = torch.rand(1, 3, 40, 30, generator=generator)
    outputs = [outputs_of((target + 0.1 * torch.randn(target.shape, generator=generator)).clamp(min=0))]
    full = score_methods(outputs, targets_of(target))
    some = score_methods(outputs, targets_of(target), metrics=("psnr", "ssim", "psnr_st"))
    assert set(some.values) == {"psnr", "ssim", "psnr_st"}
    for name, value in some.values.items():
        torch.testing.assert_close(value, full.values[name])
    with pytest.raises(InputError, match="psnr_sky"):
        score_methods(outputs, targets_of(target), metrics=("psnr_sky",))


@pytest.mark.parametrize("h", [H, 3 * STRIP_ROWS + 7], ids=["one band", "four bands"])
def test_region_sums_give_the_whole_image_figures_for_a_full_mask(h):
    generator = torch.Generator().manual_seed(3)
    target = torch.rand(1, 3, h, W, generator=generator)
    pred = (target + 0.1 * torch.randn(target.shape, generator=generator)).clamp(min=0)
    masks = torch.zeros(2, h, W)
    masks[0] = 1.0  # the whole image; region 1 empty
    scores = score_methods([outputs_of(pred)], targets_of(target), masks)
    stats = RegionStats(int(scores.region_pixels[0]), int(scores.region_ssim_pixels[0]), 1,
                        {"m": float(scores.region_sq_error[0, 0])}, {"m": float(scores.region_ssim[0, 0])})
    assert stats.pixels == h * W and stats.ssim_pixels == (h - 10) * (W - 10)
    assert stats.metrics("m")["psnr"] == pytest.approx(float(scores.values["psnr"][0]), abs=1e-4)
    assert stats.metrics("m")["ssim"] == pytest.approx(float(scores.values["ssim"][0]), abs=1e-5)
    assert float(scores.region_pixels[1]) == 0


def test_region_psnr_is_pooled_over_pixels_not_averaged_in_db():
    def record(frame_no: int, pixels: int, sq_error: float) -> FrameRecord:
        stats = {"disoccluded": RegionStats(pixels, 0, 1, {"m": sq_error}, {"m": 0.0})}
        return FrameRecord("s", frame_no, True, 1, {"m": {"psnr": 30.0}}, stats, pixels=100)

    # MSE 1e-4 over 1 px and 1e-2 over 99 px: pooled MSE (1e-4 + 0.99) / 100
    summary = summarize([record(3, 1, 1e-4), record(4, 99, 99 * 1e-2)])["s"]
    stats = summary.regions["disoccluded"]
    assert stats.metrics("m")["psnr"] == pytest.approx(10 * math.log10(100 / (1e-4 + 0.99)))
    assert math.isnan(stats.metrics("m")["ssim"])  # no pixel with a defined SSIM
    assert stats.pixels / summary.pixels == pytest.approx(100 / 200) and stats.frames == 2


def test_score_methods_scores_one_frame_at_a_time():
    target = torch.rand(2, 3, H, W)
    with pytest.raises(InputError, match="one frame at a time, got a batch of 2"):
        score_methods([outputs_of(target)], targets_of(target))


def test_a_reference_named_like_a_baseline_or_model_is_refused(eval_store):
    from lmv_cli.core.evaluate import evaluate_scene
    from lmv_cli.core.store import open_store

    scene = open_store(eval_store).scene("occlusion")
    for references in ({"warp": lambda t: None}, {"net": lambda t: None}):
        with pytest.raises(InputError, match=f"reference name\\(s\\) {next(iter(references))} clash"):
            evaluate_scene(scene, 1, {"net": torch.nn.Identity()}, references=references)


def batched(*frames: dict) -> dict:
    return {k: torch.cat([f[k] for f in frames]) for k in frames[0]}


def test_the_training_focus_is_what_the_previous_frame_does_not_explain_window_by_window():
    """`unexplained` (the pixels `loss.change` weights) flags the uncovered strip behind a moving block and
    the pixels a moving light re-lit, nothing a static frame shows again, and each window of a batch on its
    own: batching a window with another changes nothing of its mask."""
    now, before, strip = block_frames(3)
    depth = torch.full((H, W), 500.0)
    lit_now, lit_before, lit_older = (frame(spot(cx), depth) for cx in (30.0, 20.0, 10.0))
    block = unexplained(now, before, before)[0, 0]
    light = unexplained(lit_now, lit_before, lit_older)[0, 0]
    assert torch.equal(block, strip)
    relit = (spot(30.0) - spot(20.0)).abs().amax(dim=0) > 0.1
    assert light[relit].float().mean() > 0.9 and not light[:, :5].any()
    still = frame(textured_background(), torch.full((H, W), 1000.0))
    assert not unexplained(still, still, still).any()
    both = unexplained(batched(now, lit_now), batched(before, lit_before), batched(before, lit_older))
    assert both.shape == (2, 1, H, W)
    assert torch.equal(both[0, 0], block) and torch.equal(both[1, 0], light)
