"""Mutation-killing tests for lmv_cli/core/model/decoder.py (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import re

import pytest

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.decoder import Decoder

# tiny encoder widths: skips at 1/2, 1/4, 1/8 and the bottlenecks; construction only, no forward pass
SMALL = dict(skip_channels=(2, 3, 4), gbuffer_skip_channels=(1, 2, 3), bottleneck_channels=5, gbuffer_bottleneck_channels=6)


def small_decoder(**options) -> Decoder:
    options.setdefault("mid_channels", (8, 8, 8, 8))
    options.setdefault("out_channels", (12, 12, 12, 4))
    return Decoder(**SMALL, **options)


def test_defaults_are_a_32_channel_head_nearest_gather_and_the_exact_warp():
    decoder = small_decoder()
    assert decoder.mv_gather == "nearest" and decoder.warp == "exact" and decoder.history_frames == 3
    # head: conv1x1 (4 -> 32) + PReLU(32) -> conv1x1 (32 -> 3 + 2 + 2)
    assert tuple(decoder.head.conv.weight.shape) == (32, 4, 1, 1)
    assert decoder.head.act.weight.numel() == 32
    assert tuple(decoder.head.out.weight.shape) == (7, 32, 1, 1)


def test_an_unknown_warp_names_the_conventions_and_the_value():
    with pytest.raises(ConfigError, match=r"^warp: expected one of \('exact', 'original'\), got 'bad'$"):
        small_decoder(warp="bad")


def test_exactly_4n_channels_in_the_inner_blocks_and_4_in_the_last_are_enough():
    # 3 history frames: 12 flow channels per inner level, 4 (frame 0 only) at full resolution
    decoder = small_decoder(out_channels=(12, 12, 12, 4))
    assert [block.up.out_channels for block in decoder.blocks] == [12, 12, 12, 4]
    # one history frame: 4 flow channels everywhere
    decoder = small_decoder(out_channels=(4, 4, 4, 4), history_frames=1)
    assert [block.up.out_channels for block in decoder.blocks] == [4, 4, 4, 4]


@pytest.mark.parametrize(
    "out_channels",
    [
        (8, 8, 8, 4),  # every inner block too narrow for 12 flow channels, the last wide enough
        (12, 12, 11, 4),  # only the third inner block (1/4 -> 1/2) too narrow
        (11, 12, 12, 4),  # only the first block too narrow
        (12, 12, 12, 3),  # only the last block too narrow for frame 0's 4 flow channels
    ],
)
def test_too_narrow_decoder_outputs_are_refused(out_channels):
    message = f"decoder out_channels {out_channels} too narrow to carry the flows (12 channels)"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        small_decoder(out_channels=out_channels)


def test_too_narrow_for_two_frames_names_8_flow_channels():
    with pytest.raises(ConfigError, match=r"too narrow to carry the flows \(8 channels\)$"):
        small_decoder(out_channels=(8, 7, 8, 4), history_frames=2)
    assert len(small_decoder(out_channels=(8, 8, 8, 4), history_frames=2).blocks) == 4


@pytest.mark.parametrize("mid_channels", [(8, 8, 8), (8, 8, 8, 8, 8)])
def test_mid_channels_must_name_exactly_four_blocks(mid_channels):
    with pytest.raises(ValueError, match="zip"):
        small_decoder(mid_channels=mid_channels)
