"""Building the network from its parts, as a caller configures it: presets and their parameter counts,
the decoder's defaults and width checks, `DualConv`'s resolution, and `FeatureStreaming`'s level checks
and gating (`StreamState.mark_rendered()` clears slot 0, frame t−1, by default)."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.blocks import DualConv
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.decoder import Decoder
from lmv_cli.core.model.streaming import FeatureStreaming, StreamedFeatures, StreamState

# tiny encoder widths: skips at 1/2, 1/4, 1/8 and the bottlenecks; construction only, no forward pass
SMALL = dict(skip_channels=(2, 3, 4), gbuffer_skip_channels=(1, 2, 3), bottleneck_channels=5, gbuffer_bottleneck_channels=6)


def small_decoder(**options) -> Decoder:
    options.setdefault("mid_channels", (8, 8, 8, 8))
    options.setdefault("out_channels", (12, 12, 12, 4))
    return Decoder(**SMALL, **options)


@pytest.mark.parametrize(("stride", "size"), [(1, (8, 12)), (2, (4, 6))])
def test_dual_conv_keeps_or_halves_the_resolution(stride, size):
    block = DualConv(3, 5, stride=stride)
    assert block(torch.zeros(1, 3, 8, 12)).shape == (1, 5, *size)


def test_an_unknown_preset_names_it_and_the_presets():
    with pytest.raises(ConfigError, match=r"model\.preset.*'big'.*fsnet, fsnet_lite, fsnet_small"):
        build_model(ModelConfig(preset="big"))


def test_the_preset_sets_the_architecture():
    # fsnet_small: every width halved, 520,729 parameters (the default FSNet arguments are the fsnet preset)
    small = build_model(ModelConfig(preset="fsnet_small"))
    assert sum(p.numel() for p in small.parameters()) == 520_729
    assert small.downscale == 1 and small.decoder.head.conv.out_channels == 16
    lite = build_model(ModelConfig(preset="fsnet_lite"))
    assert sum(p.numel() for p in lite.parameters()) == 352_241
    assert lite.downscale == 2


@pytest.mark.parametrize("mv_gather", ["nearest", "bilinear"])
def test_the_mv_gather_option_reaches_the_decoder(mv_gather):
    model = build_model(ModelConfig(preset="fsnet_small", mv_gather=mv_gather))
    assert model.decoder.mv_gather == mv_gather


def test_decoder_defaults_are_a_32_channel_head_nearest_gather_and_the_exact_warp():
    decoder = small_decoder()
    assert decoder.mv_gather == "nearest" and decoder.warp == "exact" and decoder.history_frames == 3
    # head: conv1x1 (4 -> 32) + PReLU(32) -> conv1x1 (32 -> 3 + 2 + 2)
    assert tuple(decoder.head.conv.weight.shape) == (32, 4, 1, 1)
    assert decoder.head.act.weight.numel() == 32
    assert tuple(decoder.head.out.weight.shape) == (7, 32, 1, 1)


def test_an_unknown_warp_names_the_conventions_and_the_value():
    with pytest.raises(ConfigError, match=r"warp.*'exact', 'original'.*got 'bad'"):
        small_decoder(warp="bad")


def test_exactly_4n_channels_in_the_inner_blocks_and_4_in_the_last_are_enough():
    # 3 history frames: 12 flow channels per inner level, 4 (frame 0 only) at full resolution
    decoder = small_decoder(out_channels=(12, 12, 12, 4))
    assert [block.up.out_channels for block in decoder.blocks] == [12, 12, 12, 4]
    # one history frame: 4 flow channels everywhere
    decoder = small_decoder(out_channels=(4, 4, 4, 4), history_frames=1)
    assert [block.up.out_channels for block in decoder.blocks] == [4, 4, 4, 4]


@pytest.mark.parametrize(
    ("out_channels", "history_frames", "flow_channels"),
    [
        ((8, 8, 8, 4), 3, 12),  # every inner block too narrow for 12 flow channels, the last wide enough
        ((12, 12, 11, 4), 3, 12),  # only the third inner block (1/4 -> 1/2) too narrow
        ((11, 12, 12, 4), 3, 12),  # only the first block too narrow
        ((12, 12, 12, 3), 3, 12),  # only the last block too narrow for frame 0's 4 flow channels
        ((8, 7, 8, 4), 2, 8),  # two history frames: 8 flow channels
    ],
)
def test_too_narrow_decoder_outputs_are_refused(out_channels, history_frames, flow_channels):
    widths = str(out_channels).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ConfigError, match=rf"{widths}.*\({flow_channels} channels\)"):
        small_decoder(out_channels=out_channels, history_frames=history_frames)


def test_two_history_frames_need_only_8_flow_channels():
    assert len(small_decoder(out_channels=(8, 8, 8, 4), history_frames=2).blocks) == 4


@pytest.mark.parametrize("mid_channels", [(8, 8, 8), (8, 8, 8, 8, 8)])
def test_mid_channels_must_name_exactly_four_blocks(mid_channels):
    with pytest.raises(ValueError):
        small_decoder(mid_channels=mid_channels)


def features(value: float) -> StreamedFeatures:
    """One-level streamed features, constant `value` (only identity matters here)."""
    return StreamedFeatures((torch.full((1, 2, 2, 2), value),), (torch.full((1, 1, 2, 2), value),))


def test_mark_rendered_default_clears_slot_zero_only():
    a, b, c = features(1.0), features(2.0), features(3.0)
    state = StreamState().push(c).push(b).push(a)
    assert state.streams == (a, b, c)
    marked = state.mark_rendered()
    assert marked.streams == (None, b, c)
    assert marked.predicted == (False, True, True)
    assert marked.encodings == (None, None, None)


@pytest.mark.parametrize(
    ("skips", "gbuffer", "decoder"),
    [
        ((2, 3, 4), (1, 1, 1), (2, 2)),  # the decoder lists fewer levels: refused, not truncated
        ((2, 3), (1, 1), (2, 2, 2)),
        ((2, 3, 4), (1, 1), (2, 2, 2)),  # the G-buffer lists fewer levels
        ((2, 3), (1, 1, 1), (2, 2)),
    ],
)
def test_streaming_level_counts_must_match(skips, gbuffer, decoder):
    with pytest.raises(ValueError):
        FeatureStreaming(skip_channels=skips, gbuffer_channels=gbuffer, decoder_channels=decoder)


def small_streaming() -> FeatureStreaming:
    """Two levels: skips 2 and 3 channels, G-buffer skips 1 channel each, decoder features 2 channels."""
    return FeatureStreaming(skip_channels=(2, 3), gbuffer_channels=(1, 1), decoder_channels=(2, 2))


def test_streaming_gates_every_level_with_zero_state_for_a_rendered_frame():
    fs = small_streaming()
    for cell in fs.cells:
        torch.nn.init.zeros_(cell.conv.weight)
        torch.nn.init.zeros_(cell.conv.bias)
    skips = (torch.full((1, 2, 4, 4), 2.0), torch.full((1, 3, 2, 2), -4.0))
    gated = fs(skips, None)
    # zero conv: i = f = g̃ = 0, so out = σ(0)·x + σ(0)·tanh(0) = x / 2
    assert len(gated) == 2
    assert torch.equal(gated[0], torch.full((1, 2, 4, 4), 1.0))
    assert torch.equal(gated[1], torch.full((1, 3, 2, 2), -2.0))


@pytest.mark.parametrize("levels", [1, 3])
def test_streaming_refuses_another_number_of_skips_than_levels(levels):
    skips = (torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 1, 1))[:levels]
    with pytest.raises(ValueError):
        small_streaming()(skips, None)
