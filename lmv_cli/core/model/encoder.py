"""The 4-level encoder (docs/model.md#encoders). FSNet has two instances of it: the history encoder (10 channels in,
one set of weights run on each of the three history frames) and the G-buffer encoder (6 channels in).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lmv_cli.core.model.blocks import DualConv

FSNET_WIDTHS = (16, 24, 32, 48, 48)
"""Channel widths of the released encoders: input block, then the four stride-2 stages (docs/model.md#encoders)."""


class Encoding(NamedTuple):
    """What an encoder hands to the rest of the network.

    `skips` are the stage outputs at 1/2, 1/4, 1/8 resolution (24, 32, 48 channels in `fsnet`); the
    input block's full-resolution output is not a skip (the original drops it). `bottleneck` is the last
    stage at 1/16 (48 channels).
    """

    skips: tuple[torch.Tensor, ...]
    bottleneck: torch.Tensor


class Encoder(nn.Module):
    """Input block (stride 1) + four stride-2 dual-conv stages; H and W must be multiples of 16."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = FSNET_WIDTHS):
        super().__init__()
        self.input_block = DualConv(in_channels, widths[0], stride=1)
        self.stages = nn.ModuleList(DualConv(widths[i], widths[i + 1], stride=2) for i in range(len(widths) - 1))

    @property
    def skip_channels(self) -> tuple[int, ...]:
        """Channels of the skips at 1/2, 1/4, 1/8 (all stages but the bottleneck)."""
        return tuple(stage.conv2.out_channels for stage in self.stages[:-1])

    @property
    def bottleneck_channels(self) -> int:
        return self.stages[-1].conv2.out_channels

    def forward(self, x: torch.Tensor) -> Encoding:
        """(B, C_in, H, W) → skips at 1/2, 1/4, 1/8 and the bottleneck at 1/16."""
        feature = self.input_block(x)
        outputs = []
        for stage in self.stages:
            feature = stage(feature)
            outputs.append(feature)
        return Encoding(skips=tuple(outputs[:-1]), bottleneck=outputs[-1])
