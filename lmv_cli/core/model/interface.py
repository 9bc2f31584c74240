"""What goes into and comes out of one FSNet step (study §4.2, §4.5). Input assembly
(`lmv_cli.core.inputs`) fills `NetInputs`; the network returns `NetOutputs`.

Shapes: B batch, H×W frame size (any size; the network pads internally). Colour spaces are named per
field: "gl" = `gamma_log` (study §2.7), "linear" = linear HDR radiance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

HISTORY_FRAMES = 3
"""History slots k = 0, 1, 2 ↔ frames t−1, t−2, t−3."""


@dataclass
class HistoryFrame:
    """One history frame (rendered, or predicted by an earlier step)."""

    light: torch.Tensor  # (B, 3, H, W) gl, demodulated opaque light (scene_light_no_st)
    sky: torch.Tensor  # (B, 3, H, W) gl, sky colour
    st_color: torch.Tensor  # (B, 3, H, W) gl, premultiplied separate-translucency colour
    st_alpha: torch.Tensor  # (B, 1, H, W) transmittance in [0, 1]
    color_no_st: torch.Tensor  # (B, 3, H, W) linear, opaque colour (residual base, study §4.5 step 9)
    brdf_color: torch.Tensor  # (B, 3, H, W) linear, >= 0.01, this frame's own demodulation colour

    def encoder_input(self) -> torch.Tensor:
        """The 10-channel history-encoder input (B, 10, H, W): light, sky, st_color, st_alpha."""
        return torch.cat((self.light, self.sky, self.st_color, self.st_alpha), dim=1)


@dataclass
class NetInputs:
    """Everything one prediction of frame t needs."""

    gbuffer: torch.Tensor  # (B, 6, H, W): world normal remapped to [0, 1] (3), depth / 65536 (1), roughness, metallic
    brdf_color: torch.Tensor  # (B, 3, H, W) linear, >= 0.01: current frame's demodulation colour
    sky_mask: torch.Tensor  # (B, 1, H, W) in {0, 1}
    merged_mv: tuple[torch.Tensor, ...]  # HISTORY_FRAMES × (B, 2, H, W), NDC y down: M_k maps frame t−1−k to t
    history: tuple[HistoryFrame, ...]  # HISTORY_FRAMES frames, k = 0 is t−1


@dataclass
class NetOutputs:
    """One prediction (all linear HDR unless noted)."""

    color: torch.Tensor  # (B, 3, H, W) final colour: no_st · st_alpha + st_color
    color_no_st: torch.Tensor  # (B, 3, H, W) opaque + sky composite
    light_no_st: torch.Tensor  # (B, 3, H, W) predicted demodulated light (scene_light_no_st)
    sky: torch.Tensor  # (B, 3, H, W) predicted sky colour
    st_color: torch.Tensor  # (B, 3, H, W)
    st_alpha: torch.Tensor  # (B, 1, H, W)
    flows: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (pyramid level L, (B, 2, h, w)) for the zero-flow loss
