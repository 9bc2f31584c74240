"""PSNR over frames as a PNG (docs/evaluation.md#lmv-test-output), drawn with Pillow: one panel per scene, one line per method,
rendered frames as grey bands, so the R P…P pattern (and how quality drops with each extra predicted
frame) is visible at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lmv_cli.core.evaluate import FrameRecord
from lmv_cli.core.infer.images import write_png

PANEL = (720, 220)
"""Plot area of one scene panel (W, H) in px."""
MARGIN = (48, 22, 12, 18)
"""Left, top, right, bottom margins of a panel (axis labels, title, legend)."""
COLORS = [(230, 90, 20), (40, 120, 220), (30, 160, 60), (160, 60, 200), (200, 40, 120), (120, 120, 120)]
"""Line colours, one per method in order (models first, then warp, repeat)."""
RENDERED_BAND = (225, 225, 225)


def psnr_plot(path: str | Path, records: Sequence[FrameRecord], metric: str = "psnr") -> Path:
    """Write the plot of `metric` (default final-colour PSNR, dB) over frames for every scene in `records`."""
    scenes = list(dict.fromkeys(r.scene for r in records))
    full_w, full_h = PANEL[0] + MARGIN[0] + MARGIN[2], PANEL[1] + MARGIN[1] + MARGIN[3]
    image = Image.new("RGB", (full_w, full_h * len(scenes)), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, scene in enumerate(scenes):
        _panel(draw, [r for r in records if r.scene == scene], scene, metric, (0, i * full_h))
    return write_png(path, np.asarray(image))


def _panel(draw, records: Sequence[FrameRecord], scene: str, metric: str, origin: tuple[int, int]) -> None:
    """One scene: bands for rendered frames, axes with dB ticks, a line and dots per method, a legend."""
    x0, y0 = origin[0] + MARGIN[0], origin[1] + MARGIN[1]
    first, last = records[0].frame, records[-1].frame
    span = max(last - first, 1)
    step = PANEL[0] / (span + 1)

    def fx(frame: int) -> float:
        return x0 + (frame - first + 0.5) * step

    methods = list(next((r.metrics for r in records if r.predicted), {}))
    values = [r.metrics[m][metric] for r in records if r.predicted for m in methods]
    finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    lo, hi = math.floor(min(finite)) - 1, math.ceil(max(finite)) + 1

    def fy(value: float) -> float:
        return y0 + PANEL[1] * (1 - (min(max(value, lo), hi) - lo) / (hi - lo))

    for r in records:
        if not r.predicted:
            draw.rectangle((fx(r.frame) - step / 2, y0, fx(r.frame) + step / 2, y0 + PANEL[1]), fill=RENDERED_BAND)
    draw.rectangle((x0, y0, x0 + PANEL[0], y0 + PANEL[1]), outline=(0, 0, 0))
    for tick in _ticks(lo, hi):
        draw.line((x0 - 4, fy(tick), x0, fy(tick)), fill=(0, 0, 0))
        draw.text((origin[0] + 4, fy(tick) - 6), f"{tick:g}", fill=(0, 0, 0))
    for tick in _ticks(first, last):
        draw.line((fx(int(tick)), y0 + PANEL[1], fx(int(tick)), y0 + PANEL[1] + 3), fill=(0, 0, 0))
        draw.text((fx(int(tick)) - 6, y0 + PANEL[1] + 4), f"{int(tick)}", fill=(0, 0, 0))
    draw.text((x0, origin[1] + 4), f"{scene}: {metric} (dB) over frames {first}..{last}; grey = rendered",
              fill=(0, 0, 0))
    legend_x = x0 + PANEL[0] - 8
    for k, method in enumerate(reversed(methods)):
        color = COLORS[(len(methods) - 1 - k) % len(COLORS)]
        legend_x -= 8 * len(method) + 20
        draw.line((legend_x, origin[1] + 10, legend_x + 10, origin[1] + 10), fill=color, width=3)
        draw.text((legend_x + 13, origin[1] + 4), method, fill=(0, 0, 0))
    for k, method in enumerate(methods):
        points = [(fx(r.frame), fy(r.metrics[method][metric])) for r in records if r.predicted]
        color = COLORS[k % len(COLORS)]
        if len(points) > 1:
            draw.line(points, fill=color, width=1)
        for x, y in points:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)


def _ticks(lo: float, hi: float) -> list[float]:
    """About five round tick values between lo and hi."""
    raw = (hi - lo) / 5
    unit = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * unit for m in (1, 2, 5, 10) if m * unit >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]
