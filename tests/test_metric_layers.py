"""`frame_metrics` compares each predicted layer with its own target: final colour with the recomposed
scene colour, the no-translucency layer with `no_st`, the translucency layer with `st_color`. Every pair
has a different, hand-computed PSNR and SSIM (constant images, standard library only), so a swapped
prediction or target, or a swapped name, gives another number. A perfect prediction could not show it."""

from __future__ import annotations

import math

import pytest
import torch

from lmv_cli.core.inputs import Targets
from lmv_cli.core.metrics import frame_metrics
from lmv_cli.core.model.interface import NetOutputs

C1 = 0.01**2  # SSIM's (K1·L)² with data range 1; C2 cancels for constant images (σ = 0)


def aces(x: float) -> float:
    return min(max(x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14), 0.0), 1.0)


def psnr_const(a: float, b: float) -> float:
    return -20 * math.log10(abs(aces(a) - aces(b)))


def ssim_const(a: float, b: float) -> float:
    x, y = aces(a), aces(b)
    return (2 * x * y + C1) / (x * x + y * y + C1)


# layer → (prediction value, target value) for sample 0; sample 1 uses other predictions
SAMPLE0 = {"": (0.6, 0.5), "_no_st": (2.0, 1.0), "_st": (0.05, 0.25)}
SAMPLE1 = {"": (0.3, 0.5), "_no_st": (0.4, 1.0), "_st": (0.9, 0.25)}


def const(values: tuple[float, float], c: int = 3) -> torch.Tensor:
    return torch.stack([torch.full((c, 16, 16), v) for v in values])


def test_each_layer_is_compared_with_its_own_target() -> None:
    def pred(layer: str) -> torch.Tensor:
        return const((SAMPLE0[layer][0], SAMPLE1[layer][0]))

    def target(layer: str) -> torch.Tensor:
        return const((SAMPLE0[layer][1], SAMPLE1[layer][1]))

    outputs = NetOutputs(color=pred(""), color_no_st=pred("_no_st"), light_no_st=const((7.0, 7.0)),
                         sky=const((8.0, 8.0)), st_color=pred("_st"), st_alpha=const((0.5, 0.5), 1))
    targets = Targets(scene_color=target(""), no_st=target("_no_st"), light_no_st=const((9.0, 9.0)),
                      sky=const((3.0, 3.0)), sky_mask=const((0.0, 0.0), 1), st_color=target("_st"),
                      st_alpha=const((0.1, 0.1), 1))
    metrics = frame_metrics(outputs, targets)
    for layer in SAMPLE0:
        for name, reference in (("psnr", psnr_const), ("ssim", ssim_const)):
            expected = [reference(*SAMPLE0[layer]), reference(*SAMPLE1[layer])]
            assert metrics[name + layer].tolist() == pytest.approx(expected, rel=1e-4), name + layer


def test_the_hand_computed_values_tell_every_pairing_apart() -> None:
    """Guard on the example itself: no two (prediction, target) pairings share a PSNR."""
    values = {round(psnr_const(p, t), 3) for p, _ in SAMPLE0.values() for _, t in SAMPLE0.values()}
    assert len(values) == 9
