"""The training loss of docs/training.md#losses: reconstruction, demodulated-light, sky, translucency and zero-flow terms.

All colour terms compare in `gamma_log` space ("gl", docs/model.md#colour-space); the ground truth is linear HDR from
`inputs.Targets`. `total_loss` returns the weighted sum and the weighted terms by name (they add up to
the total), so logs show what each term contributes.
"""

from __future__ import annotations

import torch

from lmv_cli.core.color import gamma_log
from lmv_cli.core.config import LossConfig
from lmv_cli.core.inputs import Targets, check_pair
from lmv_cli.core.model.interface import NetOutputs

CHARBONNIER_EPS = 1e-6
"""ε² inside the square roots of the Charbonnier and zero-flow terms (docs/training.md#losses)."""


def charbonnier(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Charbonnier penalty `mean(sqrt((a − b)² + 1e−6))` over all elements (docs/training.md#losses)."""
    return torch.sqrt((a - b) ** 2 + CHARBONNIER_EPS).mean()


def flow_magnitude(flow: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel smoothed length `mean(sqrt(Σ_c f² + 1e−6))` of a flow (B, 2, h, w) (docs/training.md#losses)."""
    return torch.sqrt((flow**2).sum(dim=1) + CHARBONNIER_EPS).mean()


def zero_flow_weight(level: int, ratio: float) -> float:
    """Weight of one predicted flow at pyramid level L (0 = full resolution): `ratio · (16 / 2^max(1, L)) / 2`.

    The /2 shares the weight between the two flow kinds (smv0, smv_res); with ratio 0.1 this gives
    L=3: 0.1, L=2: 0.2, L≤1: 0.4 (docs/training.md#losses). The output head's flows count as level 0.
    """
    return ratio * (16.0 / 2 ** max(1, level)) / 2.0


def total_loss(
    outputs: NetOutputs, targets: Targets, weights: LossConfig | None = None, focus: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the docs/training.md#losses terms and the weighted terms by name.

    rec: L1 of gl(final colour); rec_residual: L1 of gl(demodulated opaque light); sky: Charbonnier of
    gl(sky · mask) (masked before gl); st_color: Charbonnier of gl(translucency colour); st_alpha:
    Charbonnier of the raw alpha; zero_flow: `zero_flow_weight(L) · flow_magnitude` over every
    predicted flow in `outputs.flows`; change (only with a `loss.change` weight and `focus`, (B, 1, H, W)
    bool): L1 of gl(final colour) averaged over the `focus` pixels (0 where there are none).
    """
    w = weights or LossConfig()
    for name in ("st_color", "st_alpha", "sky"):
        check_pair(name, getattr(outputs, name), getattr(targets, name))
    check_pair("color", outputs.color, targets.scene_color)
    check_pair("light_no_st", outputs.light_no_st, targets.light_no_st)
    mask = targets.sky_mask
    color_error = (gamma_log(outputs.color) - gamma_log(targets.scene_color)).abs()  # rec and change
    terms = {
        "rec": w.rec * color_error.mean(),
        "rec_residual": w.rec_residual
        * (gamma_log(outputs.light_no_st) - gamma_log(targets.light_no_st)).abs().mean(),
        "sky": w.sky * charbonnier(gamma_log(outputs.sky * mask), gamma_log(targets.sky * mask)),
        "st_color": w.st_color * charbonnier(gamma_log(outputs.st_color), gamma_log(targets.st_color)),
        "st_alpha": w.st_alpha * charbonnier(outputs.st_alpha, targets.st_alpha),
        "zero_flow": sum(
            (zero_flow_weight(level, w.zero_flow_ratio) * flow_magnitude(f) for level, f in outputs.flows),
            start=outputs.color.new_zeros(()),
        ),
    }
    if w.change and focus is not None:
        terms["change"] = w.change * focused_mean(color_error, focus)
    return sum(terms.values()), terms


def focused_mean(error: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """Mean of `error` (B, C, H, W) over the pixels where `focus` (B, 1, H, W) bool is set, all channels;
    0 (keeping the graph) when no pixel is."""
    weight = focus.to(error.dtype)
    return (error * weight).sum() / (weight.sum() * error.shape[1]).clamp(min=1.0)
