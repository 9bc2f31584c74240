"""Losses (docs/training.md#losses), metrics (docs/evaluation.md#metrics) and baselines: golden values from the formulas, analytic cases,
bad input. Golden values come from the standard library only; `python tests/test_losses_metrics.py`
prints them again."""

from __future__ import annotations

import math

import pytest
import torch

from lmv_cli.core import baselines
from lmv_cli.core.config import LossConfig
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import Targets, assemble_targets
from lmv_cli.core.losses import charbonnier, flow_magnitude, total_loss, zero_flow_weight
from lmv_cli.core.metrics import flip, frame_metrics, psnr, ssim
from lmv_cli.core.model.interface import NetOutputs
from procedural import moving_frames, psnr_linear


def aces_ref(x: float) -> float:
    return min(max(x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14), 0.0), 1.0)


def gl_ref(x: float) -> float:
    return math.log1p(8 * x) / math.log(9)


def regenerate_golden() -> dict[str, float]:
    """Every golden constant of this file, from the formulas alone (no lmv code)."""
    a1 = aces_ref(1.0)
    return {
        "aces(0.18)": aces_ref(0.18),
        "aces(1)": a1,  # 2.54 / 3.16
        "psnr(aces 1 vs 0)": -20 * math.log10(a1),
        "psnr(half 1, half 0 vs 0)": 10 * math.log10(2 / a1**2),
        "ssim(const aces 1 vs 0)": 1e-4 / (a1**2 + 1e-4),  # σ = 0: (2ab + C1)/(a² + b² + C1), C1 = 0.01²
        "loss.sky": (math.sqrt(1 + 1e-6) + 1e-3) / 2,
        "loss.st_color": math.sqrt(gl_ref(0.125) ** 2 + 1e-6),
        "loss.st_alpha": math.sqrt(0.25 + 1e-6),
        "loss.zero_flow": 0.1 * math.sqrt(0.25 + 1e-6) + 0.4 * 1e-3,
    }


GOLDEN = {
    "aces(0.18)": 0.2668989203894968,
    "aces(1)": 0.8037974683544302,
    "psnr(aces 1 vs 0)": 1.8970673199693169,
    "psnr(half 1, half 0 vs 0)": 4.907367276609128,
    "ssim(const aces 1 vs 0)": 0.00015475315730783667,
    "loss.sky": 0.5005002499999375,
    "loss.st_color": 0.31546646174424786,
    "loss.st_alpha": 0.5000009999989999,
    "loss.zero_flow": 0.05040009999989999,
}


def test_golden_table_matches_its_formulas():
    assert regenerate_golden() == pytest.approx(GOLDEN, rel=1e-14)


def test_aces_golden():
    from lmv_cli.core.color import aces

    x = torch.tensor([0.0, 0.18, 1.0, 100.0], dtype=torch.float64)
    assert torch.allclose(aces(x), torch.tensor([0.0, GOLDEN["aces(0.18)"], GOLDEN["aces(1)"], 1.0], dtype=torch.float64))


def test_psnr_golden_per_sample_and_infinite_for_identical():
    target = torch.zeros(2, 3, 8, 8)
    pred = torch.ones(2, 3, 8, 8)
    pred[1, :, :, :4] = 0  # sample 1: half the pixels right
    values = psnr(pred, target)
    assert values.shape == (2,)
    assert values[0].item() == pytest.approx(GOLDEN["psnr(aces 1 vs 0)"], rel=1e-5)
    assert values[1].item() == pytest.approx(GOLDEN["psnr(half 1, half 0 vs 0)"], rel=1e-5)
    assert torch.equal(psnr(pred, pred), torch.full((2,), math.inf))
    # ACES saturates: two very bright images are identical after tonemapping (docs/evaluation.md#metrics)
    assert psnr(torch.full((1, 3, 4, 4), 100.0), torch.full((1, 3, 4, 4), 1000.0)).item() == math.inf


def test_ssim_golden_identity_and_min_size():
    target = torch.zeros(1, 3, 16, 16)
    pred = torch.ones(1, 3, 16, 16)
    assert ssim(pred, target).item() == pytest.approx(GOLDEN["ssim(const aces 1 vs 0)"], rel=1e-3)
    noisy = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(noisy, noisy), torch.ones(2))
    with pytest.raises(InputError, match=r"SSIM needs images of at least 11x11 px \(its window\), got 10x16"):
        ssim(torch.zeros(1, 3, 10, 16), torch.zeros(1, 3, 10, 16))


def test_metric_shape_mismatch_is_refused():
    with pytest.raises(InputError, match=r"'psnr': prediction shape \(1, 3, 8, 8\) != target shape \(2, 3, 8, 8\)"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(2, 3, 8, 8))


def test_frame_metrics_cover_three_layers():
    frames = moving_frames(b=2, h=16, w=24)
    targets = assemble_targets(frames[0])
    perfect = NetOutputs(color=targets.scene_color, color_no_st=targets.no_st, light_no_st=targets.light_no_st,
                         sky=targets.sky, st_color=targets.st_color, st_alpha=targets.st_alpha)
    m = frame_metrics(perfect, targets)
    assert set(m) == {"psnr", "ssim", "psnr_no_st", "ssim_no_st", "psnr_st", "ssim_st"}
    assert all(v.shape == (2,) for v in m.values())
    assert torch.isinf(m["psnr"]).all() and torch.allclose(m["ssim_st"], torch.ones(2))


def test_flip_optional_metric():
    pytest.importorskip("flip_evaluator")
    a = moving_frames(b=2, h=32, w=32)[0]["scene_color_no_st"]
    b = a.flip(-1)
    for mode in ("HDR", "LDR"):
        same, diff = flip(a, a, mode), flip(b, a, mode)
        assert same.shape == (2,) and torch.allclose(same, torch.zeros(2))
        assert (diff > 0.01).all()
    with pytest.raises(InputError, match=r"ꟻLIP mode must be 'HDR' or 'LDR', got 'hdr'"):
        flip(a, a, "hdr")
    with pytest.raises(InputError, match=r"ꟻLIP needs RGB images"):
        flip(a[:, :1], a[:, :1])


def constant_case(b: int = 2, h: int = 8, w: int = 8):
    """Outputs/targets with hand-computable terms (see regenerate_golden)."""
    def full(c, v):
        return torch.full((b, c, h, w), float(v))

    mask = full(1, 0.0)
    mask[..., : w // 2] = 1.0  # sky on the left half
    outputs = NetOutputs(color=full(3, 1.0), color_no_st=full(3, 1.0), light_no_st=full(3, 10.0), sky=full(3, 1.0),
                         st_color=full(3, 0.125), st_alpha=full(1, 0.5),
                         flows=[(3, torch.cat((full(1, 0.3), full(1, 0.4)), 1)), (0, full(2, 0.0))])
    targets = Targets(scene_color=full(3, 0.0), no_st=full(3, 0.0), light_no_st=full(3, 1.0), sky=full(3, 0.0),
                      sky_mask=mask, st_color=full(3, 0.0), st_alpha=full(1, 1.0))
    return outputs, targets


def test_loss_terms_golden():
    outputs, targets = constant_case()
    total, terms = total_loss(outputs, targets)
    expected = {
        "rec": 1.0,  # |gl(1) - gl(0)|
        "rec_residual": 1.0,  # |gl(10) - gl(1)| = 2 - 1
        "sky": GOLDEN["loss.sky"],
        "st_color": GOLDEN["loss.st_color"],
        "st_alpha": GOLDEN["loss.st_alpha"],
        "zero_flow": GOLDEN["loss.zero_flow"],  # level 3 weight 0.1 on |(0.3, 0.4)|, level 0 weight 0.4 on 0
    }
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected, rel=1e-5)
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-6)


def test_loss_weights_scale_terms():
    outputs, targets = constant_case()
    weights = LossConfig(rec=2.0, rec_residual=0.0, sky=0.5, st_color=1.0, st_alpha=3.0, zero_flow_ratio=0.2)
    total, terms = total_loss(outputs, targets, weights)
    assert terms["rec"].item() == pytest.approx(2.0)
    assert terms["rec_residual"].item() == 0.0
    assert terms["st_alpha"].item() == pytest.approx(3 * GOLDEN["loss.st_alpha"], rel=1e-6)
    assert terms["zero_flow"].item() == pytest.approx(2 * GOLDEN["loss.zero_flow"], rel=1e-5)
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-6)


def test_zero_flow_weights_of_the_study():
    assert [zero_flow_weight(level, 0.1) for level in (3, 2, 1, 0)] == pytest.approx([0.1, 0.2, 0.4, 0.4])
    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0], flow[:, 1] = 3.0, 4.0
    assert flow_magnitude(flow).item() == pytest.approx(math.sqrt(25 + 1e-6))
    assert charbonnier(torch.zeros(5), torch.zeros(5)).item() == pytest.approx(1e-3)


def test_loss_gradient_is_finite_at_a_perfect_prediction():
    outputs, targets = constant_case()
    leaves = {name: getattr(targets, t).clone().requires_grad_(True) for name, t in
              [("color", "scene_color"), ("light_no_st", "light_no_st"), ("sky", "sky"), ("st_color", "st_color"),
               ("st_alpha", "st_alpha"), ("color_no_st", "no_st")]}
    zero = torch.zeros(2, 2, 8, 8, requires_grad=True)
    total, _ = total_loss(NetOutputs(**leaves, flows=[(1, zero)]), targets)
    total.backward()
    assert all(torch.isfinite(x.grad).all() for x in (*leaves.values(), zero) if x.grad is not None)


def test_loss_shape_mismatch_is_refused():
    outputs, targets = constant_case()
    outputs.st_alpha = outputs.st_alpha[..., :4]
    with pytest.raises(InputError, match=r"'st_alpha': prediction shape \(2, 1, 8, 4\) != target shape \(2, 1, 8, 8\)"):
        total_loss(outputs, targets)


def test_repeat_baseline_shows_the_previous_frame():
    frames = moving_frames(b=2, h=16, w=24)
    out = baselines.repeat(frames)
    prev = frames[1]
    assert torch.equal(out.color_no_st, prev["scene_color_no_st"])
    assert torch.allclose(out.color, prev["scene_color_no_st"] * prev["st_alpha"] + prev["st_color"])
    assert torch.equal(baselines.repeat(frames, source=3).sky, frames[3]["sky_color"])
    assert out.flows == []


def test_warp_baseline_reprojects_with_rendered_motion():
    frames = moving_frames(b=1, h=32, w=48, shift=(2, 1))
    target = assemble_targets(frames[0]).scene_color
    for source in (1, 2, 3):
        warped = baselines.warp(frames, source=source).color
        repeated = baselines.repeat(frames, source=source).color
        m = 2 * source + 2
        inner = (slice(None), slice(None), slice(m, -m), slice(2 * m, -2 * m))
        assert torch.allclose(warped[inner], target[inner], atol=1e-5)  # integer shifts: exact inside
        assert psnr_linear(warped, target) > psnr_linear(repeated, target) + 5  # borders clamp
        assert (psnr(warped, target) > psnr(repeated, target)).all()


def test_baseline_bad_input():
    frames = moving_frames(b=1, h=8, w=8)
    with pytest.raises(InputError, match=r"baseline source frame must be t-1..t-3, got t-4"):
        baselines.warp(frames, source=4)
    with pytest.raises(InputError, match=r"baseline source frame must be t-1..t-3, got t-0"):
        baselines.repeat(frames, source=0)
    del frames[1]["motion_vector"]
    with pytest.raises(InputError, match=r"frame t-1: input buffer 'motion_vector' is missing"):
        baselines.warp(frames, source=2)
    frames[2]["st_color"][0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"frame t-2: input buffer 'st_color': 1 NaN/Inf"):
        baselines.repeat(frames, source=2)


if __name__ == "__main__":
    for name, value in regenerate_golden().items():
        print(f"{name!r}: {value!r},")
