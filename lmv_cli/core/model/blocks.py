"""FSNet's building blocks, layer for layer as the released model (docs/model.md#building-blocks).

Every block keeps the original's parameter layout so that the parameter count of the `fsnet` preset is
exactly 2,076,641 (docs/model.md#parameters-and-cost). All convolutions have biases and PyTorch's default initialisation;
PReLUs start at 0.25.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 (keeps the size at stride 1, halves it at stride 2)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)


class DualConv(nn.Module):
    """conv3×3 → PReLU (one shared slope) → conv3×3, no activation at the end (docs/model.md#building-blocks).

    The original meant conv-act-conv-act, but both activations were registered under the same name, so
    the second replaced the first: one single-parameter PReLU between the convolutions, none after.
    `stride=2` makes it an encoder block (the first convolution downsamples); `stride=1` the input block.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.act = nn.PReLU(1)
        self.conv2 = conv3x3(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class ResBlock(nn.Module):
    """`y = PReLU₂(x + conv₂(PReLU₁(conv₁(x))))` with per-channel PReLUs (docs/model.md#building-blocks)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.act1 = nn.PReLU(channels)
        self.conv2 = conv3x3(channels, channels)
        self.act2 = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


class DecoderBlock(nn.Module):
    """conv3×3 (in→mid) + PReLU(mid) → ResBlock(mid) → 4×4 stride-2 deconvolution (mid→out), no activation.

    Doubles the resolution: (B, in, h, w) → (B, out, 2h, 2w) (docs/model.md#building-blocks).
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int):
        super().__init__()
        self.conv = conv3x3(in_channels, mid_channels)
        self.act = nn.PReLU(mid_channels)
        self.res = ResBlock(mid_channels)
        self.up = nn.ConvTranspose2d(mid_channels, out_channels, kernel_size=4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.res(self.act(self.conv(x))))


class OutputBlock(nn.Module):
    """conv1×1 (in→mid) + PReLU(mid) → conv1×1 (mid→out): the full-resolution output head (docs/model.md#building-blocks)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, mid_channels, kernel_size=1)
        self.act = nn.PReLU(mid_channels)
        self.out = nn.Conv2d(mid_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.conv(x)))


class RecurrentEncoder(nn.Module):
    """conv1×1 + tanh: compresses a decoder feature into the streamed state of its level (docs/model.md#building-blocks)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))
