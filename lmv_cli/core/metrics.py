"""Image metrics of docs/evaluation.md#metrics: ACES-tonemapped PSNR and SSIM, optional ꟻLIP.

Both images are tonemapped with `color.aces` (Narkowicz fit, clamped to [0, 1], no gamma), then
`PSNR = 10·log10(1 / MSE)` per sample (identical images give +inf) and SSIM with data range 1: an
11-tap Gaussian window (σ = 1.5) applied separably without padding, constants K = (0.01, 0.03), the
SSIM map averaged over its valid pixels and the channels — the definition and constants of
`pytorch_msssim`, whose values it reproduces to ~1e-6 (tested) at a fraction of the cost.
`frame_metrics` reports them for the final colour and for the no-translucency and translucency-only
layers, as the original did; `score_methods` does the same for every method of one frame in one
vectorised pass (targets tonemapped once, all predictions stacked) and also reduces the error and
SSIM maps over region masks (`regions.py`). ꟻLIP needs the `metrics` extra (`flip-evaluator`).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmv_cli.core.color import aces, srgb_encode
from lmv_cli.core.errors import InputError, LmvError
from lmv_cli.core.inputs import Targets, check_pair
from lmv_cli.core.model.interface import NetOutputs

SSIM_WINDOW = 11
"""Side of SSIM's Gaussian window (pytorch_msssim default); smaller images have no valid SSIM."""
SSIM_SIGMA = 1.5
"""σ of SSIM's Gaussian window, px (pytorch_msssim default)."""
SSIM_K = (0.01, 0.03)
"""SSIM stabilising constants K1, K2 (data range 1): C1 = K1², C2 = K2²."""
SSIM_BORDER = SSIM_WINDOW // 2
"""Pixels at each image edge where the SSIM map is not defined (the window does not fit)."""
LAYERS = {"": ("color", "scene_color"), "_no_st": ("color_no_st", "no_st"), "_st": ("st_color", "st_color")}
"""Metric-name suffix → (prediction field of `NetOutputs`, target field of `Targets`): the final colour,
the no-translucency and the translucency-only layer (docs/evaluation.md#metrics)."""
METRIC_NAMES = tuple(f"{metric}{suffix}" for suffix in LAYERS for metric in ("psnr", "ssim"))
"""Every metric `score_methods` can compute: psnr, ssim, psnr_no_st, ssim_no_st, psnr_st, ssim_st."""
STRIP_ROWS = 32
"""Rows of one band of `score_methods`: its temporaries (a few MB even at 1920x1080) stay in cache
(fastest of 16/32/64 in `benchmarks/bench_eval.py`)."""


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
    check_pair("ssim", pred, target)
    _check_ssim_size(pred)
    with torch.no_grad():
        return ssim_map(aces(pred.float()), aces(target.float())).mean(dim=(1, 2))


def _check_ssim_size(x: torch.Tensor) -> None:
    h, w = x.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} px (its window), got {h}x{w}")


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM map (B, H−10, W−10), mean over channels, of images already in [0, 1]: x (B, C, H, W) and
    y (B or 1, C, H, W); a target of batch 1 is blurred once and shared by every prediction."""
    if y.shape[0] == 1:
        return _ssim_shared(x, y)
    return torch.cat([_ssim_shared(xi[None], yi[None]) for xi, yi in zip(x, y)])


def _ssim_shared(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`ssim_map` of M images x (M, C, H, W) against one y (1, C, H, W), all in one blur: the planes
    y, y², x, x² and x·y are stacked and blurred together (y's once for every x)."""
    m = x.shape[0]
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    blurred = gaussian_blur(torch.cat([y, y * y, x, x * x, x * y]))  # (2 + 3M, C, H − 10, W − 10)
    mu_y, yy, mu_x, xx, xy = blurred[:1], blurred[1:2], blurred[2:2 + m], blurred[2 + m:2 + 2 * m], blurred[2 + 2 * m:]
    mu_xy, mu_xx, mu_yy = mu_x * mu_y, mu_x * mu_x, mu_y * mu_y
    cs = (2 * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)
    return ((2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs).mean(dim=1)


def gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """SSIM's Gaussian window applied separably without padding: (…, H, W) → (…, H−10, W−10), each pass
    as 11 shifted, weighted slices accumulated in place (several times faster on CPU than the grouped
    1-D convolutions of pytorch_msssim). The horizontal pass runs over the rows laid end to end as one
    1-D array, so every slice is one contiguous run; the 10 sums per row that straddle two rows are the
    columns the window does not fit, and are cut (the result is a view)."""
    h, w = x.shape[-2] - (SSIM_WINDOW - 1), x.shape[-1] - (SSIM_WINDOW - 1)
    rows = x[..., 0:h, :] * _WEIGHTS[0]
    for i in range(1, SSIM_WINDOW):
        rows.add_(x[..., i:i + h, :], alpha=_WEIGHTS[i])
    flat = rows.reshape(-1)
    n = flat.numel() - (SSIM_WINDOW - 1)
    out = torch.empty_like(flat)
    out[n:] = 0.0
    torch.mul(flat[0:n], _WEIGHTS[0], out=out[0:n])
    for i in range(1, SSIM_WINDOW):
        out[0:n].add_(flat[i:i + n], alpha=_WEIGHTS[i])
    return out.view(rows.shape)[..., 0:w]


def _window() -> torch.Tensor:
    """The normalised 11-tap Gaussian (σ 1.5), float32 on the CPU, computed as pytorch_msssim does."""
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


_WEIGHTS = _window().tolist()


@dataclass
class MethodScores:
    """Metrics of M methods on one frame (batch 1 each), from `score_methods`."""

    values: dict[str, torch.Tensor]  # metric name (`psnr`, `ssim_no_st`, …) → (M,) values
    region_sq_error: torch.Tensor | None  # (M, R) sum over region pixels of the squared error, mean over RGB
    region_ssim: torch.Tensor | None  # (M, R) sum of the SSIM map over the region's pixels where it is defined
    region_pixels: torch.Tensor | None  # (R,) pixels of each region
    region_ssim_pixels: torch.Tensor | None  # (R,) of them ≥ `SSIM_BORDER` px from the image border


def score_methods(outputs: Sequence[NetOutputs], targets: Targets, masks: torch.Tensor | None = None,
                  metrics: Sequence[str] | None = None) -> MethodScores:
    """PSNR and SSIM of every layer (`LAYERS`) for M predictions of the same frame (each batch 1), in one
    vectorised pass: the predictions are stacked (M, 3, ·, W) and each target is tonemapped once.
    `metrics` (names such as `psnr`, `ssim_no_st`; default all) limits the work to what is asked: a layer
    without an SSIM asked for skips the blur, by far the largest cost.

    The frame is walked in bands of `STRIP_ROWS` rows (SSIM bands overlap by the window's 10 rows), so
    every temporary is a few MB and stays in cache whatever the frame size: at 1920x1080 this is several
    times faster than whole-frame maps, whose 25–75 MB temporaries each cost a fresh mmap and page faults.
    Work whose result is known exactly is skipped band by band (`_band_sums`): a band that is zero in
    every image (the translucency layer away from translucent surfaces), and a band of the
    no-translucency layer identical to the final colour's (nothing translucent there).
    With `masks` (R, H, W) in {0, 1} (bool or float), the final colour's squared-error map and SSIM map are also summed
    over each region (one matrix product per band), so per-region PSNR/SSIM can be pooled over frames."""
    b, _, h, w = targets.scene_color.shape
    if b != 1:
        raise InputError(f"score_methods scores one frame at a time, got a batch of {b}")
    _check_ssim_size(targets.scene_color)
    wanted = set(METRIC_NAMES if metrics is None else metrics)
    unknown = wanted - set(METRIC_NAMES)
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(sorted(unknown))}; known: {', '.join(METRIC_NAMES)}")
    layers: list[_Layer] = []
    for suffix, (field, target_field) in LAYERS.items():
        with_ssim = f"ssim{suffix}" in wanted or (suffix == "" and masks is not None)
        if not with_ssim and f"psnr{suffix}" not in wanted:
            continue
        target, preds = getattr(targets, target_field), [getattr(o, field) for o in outputs]
        for pred in preds:
            check_pair(f"psnr{suffix}", pred, target)
        layers.append(_Layer(suffix, preds, target, with_ssim))
    values: dict[str, torch.Tensor] = {}
    if not layers:
        return MethodScores(values, None, None, None, None)
    with torch.no_grad():
        sums, region = _band_sums(layers, masks)
    for layer, (err, sim) in zip(layers, sums, strict=True):
        values[f"psnr{layer.suffix}"] = 10.0 * torch.log10(1.0 / (err / (h * w)))
        if layer.with_ssim:
            values[f"ssim{layer.suffix}"] = sim / ((h - 2 * SSIM_BORDER) * (w - 2 * SSIM_BORDER))
    values = {name: v for name, v in values.items() if name in wanted}
    return MethodScores(values, *(region or (None, None, None, None)))


@dataclass
class _Layer:
    """One layer to score: M predictions and the target, each (1, 3, H, W); `with_ssim`: also SSIM."""

    suffix: str  # metric-name suffix of `LAYERS`
    preds: Sequence[torch.Tensor]
    target: torch.Tensor
    with_ssim: bool


def _band_sums(layers: Sequence[_Layer], masks: torch.Tensor | None) -> tuple[list, tuple | None]:
    """Walk the layers in bands of rows: per layer the (M,) sums of the squared-error map (ACES, mean over
    RGB) and of the SSIM map (zeros unless `with_ssim`); with (R, H, W) `masks` also, for the final colour
    (`LAYERS` suffix ""), their (M, R) sums over each region and the (R,) pixel counts of the regions and
    of their SSIM-defined interiors.

    Two exact shortcuts per band, both checked on the band's pixels rather than assumed: a band that is 0
    in the target and every prediction has error 0 and an SSIM map of exactly 1 (both means and variances
    are 0: C1/C1 · C2/C2); a band equal, in the target and every prediction, to the same band of a layer
    already scored adds that layer's sums."""
    first = layers[0].target
    h, w, bd, dev = first.shape[-2], first.shape[-1], SSIM_BORDER, first.device
    m = len(layers[0].preds)
    sums = [[torch.zeros(m, device=dev), torch.zeros(m, device=dev)] for _ in layers]
    regional = masks is not None and any(layer.suffix == "" for layer in layers)
    if regional:
        masks = masks.to(device=dev)  # any dtype in {0, 1}; each band is made float32 where it is used
        reg_err = torch.zeros(m, masks.shape[0], device=dev)
        reg_sim = torch.zeros_like(reg_err)
    for start in range(0, h, STRIP_ROWS):
        stop = min(start + STRIP_ROWS, h)
        rows = slice(start, min(stop + 2 * bd, h))  # input rows of this band's error and SSIM rows
        ssim_rows = rows.stop - start >= SSIM_WINDOW  # SSIM output rows start … rows.stop − 11
        scored: list[tuple[list[torch.Tensor], tuple[torch.Tensor, torch.Tensor], bool]] = []  # images, sums, SSIM
        for layer, total in zip(layers, sums, strict=True):
            images = [layer.target[..., rows, :], *(x[..., rows, :] for x in layer.preds)]
            with_regions = regional and layer.suffix == ""
            if not with_regions:
                if not any(bool(x.any()) for x in images):
                    if layer.with_ssim and ssim_rows:
                        total[1] += (rows.stop - start - 2 * bd) * (w - 2 * bd)
                    continue
                twin = next((done for band, done, with_ssim in scored if with_ssim >= layer.with_ssim
                             and all(torch.equal(a, b) for a, b in zip(band, images, strict=True))), None)
                if twin is not None:
                    total[0] += twin[0]
                    if layer.with_ssim:
                        total[1] += twin[1]
                    continue
            t = aces(images[0].float())
            p = aces_in_place(torch.cat(images[1:]).float())  # (M, 3, rows, W)
            sq = ((p[..., :stop - start, :] - t[..., :stop - start, :]) ** 2).mean(dim=1)  # (M, band, W)
            err, sim = sq.sum(dim=(1, 2)), torch.zeros(m, device=dev)
            if with_regions:
                reg_err += sq.flatten(1) @ masks[:, start:stop].flatten(1).float().T
            if layer.with_ssim and ssim_rows:
                smap = ssim_map(p, t)  # (M, rows − 10, W − 10)
                sim = smap.sum(dim=(1, 2))
                if with_regions:
                    inner = masks[:, start + bd:rows.stop - bd, bd:w - bd]
                    reg_sim += smap.flatten(1) @ inner.flatten(1).float().T
            total[0] += err
            total[1] += sim
            scored.append((images, (err, sim), layer.with_ssim))
    if not regional:
        return sums, None
    inner = masks[:, bd:h - bd, bd:w - bd]
    return sums, (reg_err, reg_sim, masks.flatten(1).sum(dim=1).float(), inner.flatten(1).sum(dim=1).float())


def aces_in_place(x: torch.Tensor) -> torch.Tensor:
    """`color.aces` of a float tensor the caller owns, computed in place with the same operations in the
    same order (bitwise the same values) but two temporaries instead of eight."""
    denominator = torch.mul(x, 2.43).add_(0.59).mul_(x).add_(0.14)
    return x.mul_(torch.mul(x, 2.51).add_(0.03)).div_(denominator).clamp_(0.0, 1.0)


def psnr_of_mse(mse: float) -> float:
    """10·log10(1 / MSE) in dB; +inf for an MSE of 0."""
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def frame_metrics(outputs: NetOutputs, targets: Targets) -> dict[str, torch.Tensor]:
    """PSNR/SSIM per sample (B,) of the final colour, the no-ST layer and the ST-only layer (docs/evaluation.md#metrics)."""
    result = {}
    for suffix, (field, target_field) in LAYERS.items():
        pred, target = getattr(outputs, field), getattr(targets, target_field)
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
