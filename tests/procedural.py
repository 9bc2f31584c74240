"""Small deterministic frame dicts for input/loss/baseline tests: a smooth texture translating by a
whole number of pixels per frame, with every canonical store buffer filled consistently.

`moving_frames(...)[k]` is frame t−k (k = 0..3); its motion vector is the constant shift in NDC, so
warping frame t−1 with `mv_t` reproduces frame t wherever the source pixel lies inside the image.
`synth_window` gives the same frame dicts from a real `lmv synth` scene packed into a store.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lmv_cli.core.inputs import CHANNELS


def texture(b: int, c: int, h: int, w: int, t: int, shift: tuple[int, int], phase: float = 0.0) -> torch.Tensor:
    """(B, C, H, W) positive smooth pattern at time t, translated by t·shift pixels (x right, y down)."""
    ys = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1) - t * shift[1]
    xs = torch.arange(w, dtype=torch.float64).view(1, 1, 1, w) - t * shift[0]
    ch = torch.arange(c, dtype=torch.float64).view(1, c, 1, 1)
    sample = torch.arange(b, dtype=torch.float64).view(b, 1, 1, 1)
    value = 0.5 + 0.4 * torch.sin(0.3 * xs + 1.3 * ch + phase + sample) * torch.cos(0.2 * ys - 0.6 * ch)
    return value.expand(b, c, h, w).float().contiguous()


def moving_frames(b: int = 2, h: int = 32, w: int = 48, shift: tuple[int, int] = (2, 1)) -> list[dict]:
    """Frames [t, t−1, t−2, t−3] of one scene whose content moves `shift` px per frame."""
    mv = torch.empty(b, 2, h, w)
    mv[:, 0] = shift[0] / (w / 2)  # NDC, full width = 2
    mv[:, 1] = shift[1] / (h / 2)  # y down
    frames = []
    for k in range(4):
        t = -k
        f = {name: texture(b, c, h, w, t, shift, phase=i) for i, (name, c) in enumerate(CHANNELS.items())}
        f["world_normal"] = f["world_normal"] * 2 - 1
        f["depth"] = f["depth"] * 1000.0  # cm
        f["st_alpha"] = f["st_alpha"].clamp(0, 1)
        f["st_color"] = f["st_color"] * 0.2
        f["brdf_color"] = f["brdf_color"].clamp(min=0.01)
        f["skybox_mask"] = (f["skybox_mask"] > 0.8).float()
        f["motion_vector"] = mv.clone()
        f["scene_color"] = f["scene_color_no_st"] * f["st_alpha"] + f["st_color"]
        frames.append(f)
    return frames


def psnr_linear(a: torch.Tensor, b: torch.Tensor) -> float:
    """Plain PSNR (peak 1) for test assertions, independent of lmv's metric code."""
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def synth_window(scene_folder, store: Path, t: int) -> list[dict]:
    """Frames [t, t−1, t−2, t−3] of a real `lmv synth` scene folder (from the `synth_factory` fixture),
    packed by `lmv pack` into `store` and read back through the store reader, the path training takes."""
    from lmv_cli.core.inputs import window_frames
    from lmv_cli.core.store import open_store, pack

    pack(scene_folder, store, workers=1)
    return window_frames(open_store(store)[Path(scene_folder).name].window(t - 3, 4))
