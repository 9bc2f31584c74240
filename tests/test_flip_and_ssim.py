"""ꟻLIP and SSIM as a caller sees them: ꟻLIP's
LDR mode compares the ACES + sRGB previews and HDR the linear images, against the target as reference
(expected values from flip_evaluator on images prepared by hand, with the ACES and sRGB formulas written
out here); the errors name the metric and the missing extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from lmv_cli.core.errors import InputError, LmvError
from lmv_cli.core.metrics import flip, flip_available, ssim

flip_evaluator = pytest.importorskip("flip_evaluator")


def aces_by_hand(x: np.ndarray) -> np.ndarray:
    """Narkowicz ACES fit, clamped to [0, 1]."""
    return np.clip(x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)


def srgb_by_hand(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def two_images() -> tuple[torch.Tensor, torch.Tensor]:
    """pred, target (2, 3, 12, 12): dark values, where ACES + sRGB changes the comparison most."""
    rng = np.random.default_rng(5)
    target = rng.uniform(0.0, 0.05, (2, 3, 12, 12)).astype(np.float32)
    pred = target + rng.uniform(0.0, 0.03, target.shape).astype(np.float32)
    return torch.from_numpy(pred), torch.from_numpy(target)


def expected_flip(pred: torch.Tensor, target: torch.Tensor, mode: str) -> list[float]:
    def hwc(x: torch.Tensor, i: int) -> np.ndarray:
        image = x[i].permute(1, 2, 0).numpy().astype(np.float64)
        return (srgb_by_hand(aces_by_hand(image)) if mode == "LDR" else image).astype(np.float32)

    return [flip_evaluator.evaluate(hwc(target, i), hwc(pred, i), mode)[1] for i in range(pred.shape[0])]


@pytest.mark.parametrize("mode", ["LDR", "HDR"])
def test_flip_compares_the_right_images_per_mode(mode):
    pred, target = two_images()
    values = flip(pred, target, mode)
    assert values.dtype == torch.float32 and values.shape == (2,)
    np.testing.assert_allclose(values.numpy(), expected_flip(pred, target, mode), rtol=1e-4)


def test_flip_ldr_and_hdr_differ_on_dark_images():
    pred, target = two_images()
    ldr, hdr = flip(pred, target, "LDR"), flip(pred, target, "HDR")
    assert (torch.abs(ldr - hdr) > 0.01).all()


def test_flip_is_float32_under_a_float64_default_dtype():
    pred, target = two_images()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert flip(pred, target).dtype == torch.float32
    finally:
        torch.set_default_dtype(previous)


def test_flip_shape_mismatch_names_flip():
    with pytest.raises(InputError, match=r"flip.*\(1, 3, 8, 8\).*\(2, 3, 8, 8\)"):
        flip(torch.zeros(1, 3, 8, 8), torch.zeros(2, 3, 8, 8))


def test_flip_without_the_extra_names_it(monkeypatch):
    # A None entry in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "flip_evaluator", None)
    assert not flip_available()
    with pytest.raises(LmvError, match=r"metrics.*flip-evaluator"):  # the extra to install, the package
        flip(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_ssim_shape_mismatch_names_ssim():
    with pytest.raises(InputError, match=r"ssim.*\(1, 3, 16, 16\).*\(1, 3, 16, 8\)"):
        ssim(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 8))


def test_ssim_accepts_exactly_the_window_size_and_names_the_limit():
    for h, w in ((11, 11), (11, 16), (16, 11)):
        x = torch.rand(2, 3, h, w)
        torch.testing.assert_close(ssim(x, x), torch.ones(2))
    for h, w in ((10, 16), (16, 10)):
        with pytest.raises(InputError, match=rf"11x11.*got {h}x{w}"):
            ssim(torch.zeros(1, 3, h, w), torch.zeros(1, 3, h, w))
