"""Mutation-killing tests for lmv_cli/core/model/blocks.py (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import torch

from lmv_cli.core.model.blocks import DualConv


def test_dual_conv_keeps_the_resolution_by_default():
    block = DualConv(3, 5)
    assert block(torch.zeros(1, 3, 8, 12)).shape == (1, 5, 8, 12)


def test_dual_conv_with_stride_two_halves_the_resolution():
    block = DualConv(3, 5, stride=2)
    assert block(torch.zeros(1, 3, 8, 12)).shape == (1, 5, 4, 6)
