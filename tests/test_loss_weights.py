"""Every loss weight of docs/training.md#losses scales its own term and no other: distinct weights (2, 3, 5, 7, 11 and a
zero-flow ratio of 0.3) on a constant case whose terms are worked out with the standard library only.
The sky term is masked before `gamma_log`, so prediction errors outside the sky do not count."""

from __future__ import annotations

import math

import pytest
import torch

from lmv_cli.core.config import LossConfig
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import Targets
from lmv_cli.core.losses import total_loss
from lmv_cli.core.model.interface import NetOutputs

EPS = 1e-6  # ε² of the Charbonnier and zero-flow terms


def gl(x: float) -> float:
    return math.log1p(8 * x) / math.log(9)


def full(c: int, v: float, b: int = 2, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.full((b, c, h, w), float(v))


def flow(x: float, y: float) -> torch.Tensor:
    return torch.cat((full(1, x), full(1, y)), 1)


def case() -> tuple[NetOutputs, Targets]:
    mask = full(1, 0.0)
    mask[..., :4] = 1.0  # sky on the left half
    sky = full(3, 1.0)
    sky[..., 4:] = 100.0  # a wrong sky where there is no sky: masked away
    outputs = NetOutputs(
        color=full(3, 1.0), color_no_st=full(3, 1.0), light_no_st=full(3, 10.0), sky=sky,
        st_color=full(3, 0.125), st_alpha=full(1, 0.5),
        flows=[(3, flow(0.3, 0.4)), (2, flow(0.6, 0.8)), (1, flow(0.0, 0.5)), (0, flow(1.2, 0.5))],
    )
    targets = Targets(scene_color=full(3, 0.0), no_st=full(3, 0.0), light_no_st=full(3, 1.0), sky=full(3, 0.0),
                      sky_mask=mask, st_color=full(3, 0.0), st_alpha=full(1, 1.0))
    return outputs, targets


def expected_terms(rec, rec_residual, sky, st_color, st_alpha, ratio) -> dict[str, float]:
    """By hand: gl(1) = 1, gl(10) = 2; the sky error is 1 on the masked half and 0 elsewhere; zero-flow
    level weights are ratio·(16/2^max(1, L))/2 = ratio·(1, 2, 4, 4) for L = 3, 2, 1, 0."""
    magnitude = {3: 0.5, 2: 1.0, 1: 0.5, 0: 1.3}
    level_weight = {3: 1.0, 2: 2.0, 1: 4.0, 0: 4.0}
    return {
        "rec": rec * 1.0,
        "rec_residual": rec_residual * 1.0,
        "sky": sky * (math.sqrt(1 + EPS) + math.sqrt(EPS)) / 2,
        "st_color": st_color * math.sqrt(gl(0.125) ** 2 + EPS),
        "st_alpha": st_alpha * math.sqrt(0.5**2 + EPS),
        "zero_flow": sum(ratio * level_weight[L] * math.sqrt(m**2 + EPS) for L, m in magnitude.items()),
    }


@pytest.mark.parametrize(
    "weights",
    [
        dict(rec=2.0, rec_residual=3.0, sky=5.0, st_color=7.0, st_alpha=11.0, zero_flow_ratio=0.3),
        dict(rec=11.0, rec_residual=7.0, sky=3.0, st_color=2.0, st_alpha=5.0, zero_flow_ratio=0.05),
    ],
)
def test_each_weight_scales_its_own_term(weights: dict) -> None:
    outputs, targets = case()
    total, terms = total_loss(outputs, targets, LossConfig(**weights))
    expected = expected_terms(*(weights[k] for k in ("rec", "rec_residual", "sky", "st_color", "st_alpha",
                                                      "zero_flow_ratio")))
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected, rel=1e-5)
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-5)


def test_default_weights_are_the_study_s() -> None:
    outputs, targets = case()
    _, terms = total_loss(outputs, targets)
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected_terms(1, 1, 1, 1, 1, 0.1), rel=1e-5)


@pytest.mark.parametrize("name", ["rec", "rec_residual", "sky", "st_color", "st_alpha", "zero_flow_ratio"])
def test_a_zero_weight_removes_exactly_its_term(name: str) -> None:
    outputs, targets = case()
    _, terms = total_loss(outputs, targets, LossConfig(**{name: 0.0}))
    zeroed = {k for k, v in terms.items() if v.item() == 0.0}
    assert zeroed == {name.removesuffix("_ratio")}


def test_reconstruction_terms_compare_differences() -> None:
    """With non-zero targets: rec = |gl(1) − gl(0.5)|, rec_residual = |gl(10) − gl(4)|."""
    outputs, targets = case()
    targets.scene_color = full(3, 0.5)
    targets.light_no_st = full(3, 4.0)
    _, terms = total_loss(outputs, targets)
    assert terms["rec"].item() == pytest.approx(1.0 - gl(0.5), rel=1e-5)
    assert terms["rec_residual"].item() == pytest.approx(gl(10.0) - gl(4.0), rel=1e-5)


def test_no_flows_give_a_zero_tensor_term() -> None:
    outputs, targets = case()
    outputs.flows = []
    total, terms = total_loss(outputs, targets)
    assert isinstance(terms["zero_flow"], torch.Tensor) and terms["zero_flow"].item() == 0.0
    assert total.item() == pytest.approx(sum(v.item() for v in terms.values()), rel=1e-6)


@pytest.mark.parametrize("field,target", [("color", "scene_color"), ("light_no_st", "light_no_st")])
def test_shape_mismatch_names_the_layer(field: str, target: str) -> None:
    outputs, targets = case()
    setattr(outputs, field, getattr(outputs, field)[:, :, :4])
    with pytest.raises(InputError, match=rf"'{field}'.*\(2, 3, 4, 8\).*\(2, 3, 8, 8\)"):
        total_loss(outputs, targets)


def test_the_change_term_is_the_colour_error_averaged_over_the_focus_pixels_only() -> None:
    """`loss.change`: the gl colour error against a target of 0.5 (prediction 1 everywhere, 9 on one pixel
    column) averaged over the focus pixels alone; absent without a weight or a focus, 0 for an empty focus,
    and no other term moves."""
    outputs, targets = case()
    outputs.color[..., 2] = 9.0  # gl(9) ≈ 1.59; elsewhere gl(1) = 1
    targets.scene_color = full(3, 0.5)
    focus = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    focus[..., 2:4] = True  # half the focus on the bad column
    _, plain = total_loss(outputs, targets, LossConfig(change=0.5))
    _, without = total_loss(outputs, targets, LossConfig(), focus)
    _, focused = total_loss(outputs, targets, LossConfig(change=0.5), focus)
    _, empty = total_loss(outputs, targets, LossConfig(change=0.5), torch.zeros_like(focus))
    assert "change" not in plain and "change" not in without
    assert focused["change"].item() == pytest.approx(0.5 * ((gl(9.0) - gl(0.5)) + (1.0 - gl(0.5))) / 2, rel=1e-5)
    assert empty["change"].item() == 0.0
    assert {k: v.item() for k, v in focused.items() if k != "change"} == {k: v.item() for k, v in plain.items()}
