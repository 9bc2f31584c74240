"""Image metrics of docs/evaluation.md#metrics: ACES-tonemapped PSNR and SSIM, optional ꟻLIP.

Both images are tonemapped with `color.aces` (Narkowicz fit, clamped to [0, 1], no gamma), then
`PSNR = 10·log10(1 / MSE)` per sample (identical images give +inf) and SSIM via `pytorch_msssim` with
data range 1. `frame_metrics` reports them for the final colour and for the no-translucency and
translucency-only layers, as the original did. ꟻLIP needs the `metrics` extra (`flip-evaluator`).
"""

from __future__ import annotations

import importlib.util

import torch

from lmv_cli.core.color import aces, srgb_encode
from lmv_cli.core.errors import InputError, LmvError
from lmv_cli.core.inputs import Targets, check_pair
from lmv_cli.core.model.interface import NetOutputs

SSIM_WINDOW = 11
"""Side of SSIM's Gaussian window (pytorch_msssim default); smaller images have no valid SSIM."""


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per sample (B,) of ACES-tonemapped linear HDR images (B, C, H, W); +inf if identical."""
    check_pair("psnr", pred, target)
    with torch.no_grad():
        mse = ((aces(pred.float()) - aces(target.float())) ** 2).flatten(1).mean(dim=1)
        return 10.0 * torch.log10(1.0 / mse)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM per sample (B,) of ACES-tonemapped linear HDR images (B, C, H, W), data range 1.

    Images smaller than the 11×11 window are refused: pytorch_msssim would silently skip the
    smoothing along that axis and return a different quantity.
    """
    from pytorch_msssim import ssim as ms_ssim

    check_pair("ssim", pred, target)
    h, w = pred.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} px (its window), got {h}x{w}")
    with torch.no_grad():
        return ms_ssim(aces(pred.float()), aces(target.float()), data_range=1.0, size_average=False)


def frame_metrics(outputs: NetOutputs, targets: Targets) -> dict[str, torch.Tensor]:
    """PSNR/SSIM per sample (B,) of the final colour, the no-ST layer and the ST-only layer (docs/evaluation.md#metrics)."""
    layers = {
        "": (outputs.color, targets.scene_color),
        "_no_st": (outputs.color_no_st, targets.no_st),
        "_st": (outputs.st_color, targets.st_color),
    }
    result = {}
    for suffix, (pred, target) in layers.items():
        result[f"psnr{suffix}"] = psnr(pred, target)
        result[f"ssim{suffix}"] = ssim(pred, target)
    return result


def flip_available() -> bool:
    """Whether ꟻLIP can be computed (`flip-evaluator`, the `metrics` extra, is installed)."""
    return importlib.util.find_spec("flip_evaluator") is not None


def flip(pred: torch.Tensor, target: torch.Tensor, mode: str = "HDR") -> torch.Tensor:
    """Mean ꟻLIP error per sample (B,) of linear HDR images (B, 3, H, W); lower is better.

    "HDR" compares the linear images (ꟻLIP sweeps exposures itself); "LDR" compares the ACES + sRGB
    previews. Not differentiable (numpy); for evaluation only.
    """
    if mode not in ("HDR", "LDR"):
        raise InputError(f"ꟻLIP mode must be 'HDR' or 'LDR', got {mode!r}")
    if not flip_available():
        raise LmvError("ꟻLIP needs the 'metrics' extra: pip install 'lmv[metrics]' (package flip-evaluator)")
    import flip_evaluator

    check_pair("flip", pred, target)
    if pred.shape[1] != 3:
        raise InputError(f"ꟻLIP needs RGB images (B, 3, H, W), got shape {tuple(pred.shape)}")

    def prepare(x: torch.Tensor):
        x = x.detach().float().clamp(min=0)
        x = srgb_encode(aces(x)) if mode == "LDR" else x
        return x.permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 3)

    refs, tests = prepare(target), prepare(pred)
    means = [flip_evaluator.evaluate(r, t, mode, applyMagma=False)[1] for r, t in zip(refs, tests)]
    return torch.tensor(means, dtype=torch.float32)
