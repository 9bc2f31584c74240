"""Images for people: ACES + sRGB previews of linear HDR colour, error heat-maps, contact sheets, PNG.

Previews use the metric space of docs/evaluation.md#metrics (ACES Narkowicz fit, clamped) followed by the sRGB transfer
curve, so what a PNG shows is what PSNR/SSIM measured. Pillow writes the PNGs, with fast zlib settings
(`PNG_COMPRESS_LEVEL`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
import torch

from lmv_cli.core.color import aces, srgb_encode
from lmv_cli.core.errors import LmvError

ERROR_FULL_SCALE = 0.25
"""Per-pixel ACES-space absolute error (mean over RGB) shown at full heat; larger errors saturate."""
HEAT_STOPS = np.array([[0, 0, 0], [120, 0, 160], [230, 40, 20], [255, 200, 0], [255, 255, 255]], dtype=np.float32)
"""Heat-map colour ramp: black → purple → red → yellow → white (evenly spaced stops)."""
LABEL_HEIGHT = 14
"""Height in px of a contact sheet's caption rows."""
PNG_COMPRESS_LEVEL = 1
"""zlib level of written PNGs: at 1920x1080, 0.2 s and 1.6 MB a preview, against 1 s and 1.2 MB at
Pillow's default 6 (measured on a smooth test image)."""
MIN_TILE_WIDTH = 160
"""Contact sheet tiles narrower than this are enlarged by a whole factor (nearest), so labels fit."""


def preview(color: torch.Tensor) -> np.ndarray:
    """Linear HDR colour (1, 3, H, W) or (3, H, W) → 8-bit (H, W, 3) ACES + sRGB preview."""
    x = color.detach().float().reshape(-1, *color.shape[-2:])[:3].cpu().clamp(min=0).numpy()
    return np.round(srgb_encode(aces(x)) * 255.0).astype(np.uint8).transpose(1, 2, 0)


def error_heat(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Heat-map (H, W, 3) uint8 of the ACES-space absolute error, mean over RGB, full scale `ERROR_FULL_SCALE`."""
    p = aces(pred.detach().float().reshape(-1, *pred.shape[-2:])[:3].cpu().clamp(min=0))
    t = aces(target.detach().float().reshape(-1, *target.shape[-2:])[:3].cpu().clamp(min=0))
    err = ((p - t).abs().mean(dim=0) / ERROR_FULL_SCALE).clamp(0, 1).numpy()  # (H, W) in [0, 1]
    pos = err * (len(HEAT_STOPS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(HEAT_STOPS) - 2)
    frac = (pos - lo)[..., None]
    return np.round(HEAT_STOPS[lo] * (1 - frac) + HEAT_STOPS[lo + 1] * frac).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an 8-bit (H, W, 3) image as PNG; `LmvError` naming the file when it cannot be written."""
    path = Path(path)
    try:
        Image.fromarray(np.ascontiguousarray(image), "RGB").save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    except OSError as e:
        raise LmvError(f"cannot write PNG: {e.strerror or e}", path=path) from None
    return path


def side_by_side(tiles: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """(H, W, 3) tiles of one size → one (H, n·W + (n−1)·gap, 3) row, separated by grey gaps."""
    h = tiles[0].shape[0]
    spacer = np.full((h, gap, 3), 64, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, tile in enumerate(tiles):
        parts.extend([spacer, tile] if i else [tile])
    return np.concatenate(parts, axis=1)


def caption(image: np.ndarray, text: str) -> np.ndarray:
    """`image` (H, W, 3) uint8 with `text` drawn in its top-left corner, white on a dark box."""
    canvas = Image.fromarray(np.ascontiguousarray(image), "RGB")
    draw = ImageDraw.Draw(canvas)
    box = draw.textbbox((2, 1), text)
    draw.rectangle((0, 0, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(canvas)


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]]], columns: Sequence[str], gap: int = 2) -> np.ndarray:
    """Rows of equally sized tiles under a header of column names; each row captioned (e.g. its frame)."""
    if not rows:
        raise LmvError("contact sheet: no frames to show")
    factor = -(-MIN_TILE_WIDTH // rows[0][1][0].shape[1])  # ceil
    rows = [(label, [t.repeat(factor, axis=0).repeat(factor, axis=1) for t in tiles]) for label, tiles in rows]
    h, w = rows[0][1][0].shape[:2]
    width = len(columns) * w + (len(columns) - 1) * gap
    height = LABEL_HEIGHT + len(rows) * (LABEL_HEIGHT + h + gap)
    sheet = Image.new("RGB", (width, height), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(columns):
        draw.text((i * (w + gap) + 2, 1), name, fill=(255, 255, 255))
    y = LABEL_HEIGHT
    for label, tiles in rows:
        draw.text((2, y + 1), label, fill=(200, 200, 200))
        sheet.paste(Image.fromarray(side_by_side(tiles, gap), "RGB"), (0, y + LABEL_HEIGHT))
        y += LABEL_HEIGHT + h + gap
    return np.asarray(sheet)


def region_overlay(image: np.ndarray, labels: np.ndarray, colors: Sequence[tuple[int, int, int]],
                   alpha: float = 0.55) -> np.ndarray:
    """(H, W, 3) uint8 preview tinted by region: each pixel blended with `colors[labels]` at `alpha`
    (labels (H, W) ints indexing `colors`), so the regions read over the picture."""
    tint = np.asarray(colors, dtype=np.float32)[labels]  # (H, W, 3)
    return np.round(image.astype(np.float32) * (1 - alpha) + tint * alpha).astype(np.uint8)


def legend(width: int, entries: Sequence[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    """A (LABEL_HEIGHT + 4, width, 3) strip: a colour swatch and the name of each entry, left to right."""
    strip = Image.new("RGB", (width, LABEL_HEIGHT + 4), (32, 32, 32))
    draw = ImageDraw.Draw(strip)
    x = 2
    for name, color in entries:
        draw.rectangle((x, 4, x + 9, 13), fill=tuple(color))
        draw.text((x + 13, 2), name, fill=(255, 255, 255))
        x += 13 + int(draw.textlength(name)) + 10
    return np.asarray(strip)

