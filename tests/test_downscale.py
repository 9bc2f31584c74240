"""`downscale=2` (preset `fsnet_lite`): the network runs on 2× downsampled inputs, its flows and residual
are upsampled, and LMV1/LMV2 are formed from the *full-resolution* rendered MV and composed on the
unpadded frame. Checked against independent expectations: the untrained network is the full-resolution
layered warp (the same function as an untrained `fsnet`), a constant learned flow moves LMV1 by exactly
that constant at every full-resolution pixel, streamed and cached state works at the network's sizes,
and the flat ONNX step pads to multiples of 32."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.onnx_step import OUTPUT_NAMES, FlatStep
from lmv_cli.core.onnx_export import example_inputs

from test_model_network import make_inputs


def lite(**options) -> FSNet:
    torch.manual_seed(0)
    return FSNet.from_preset("fsnet_lite", demodulate=False, **options).eval()


@pytest.mark.parametrize("size", [(32, 64), (45, 71)])  # no padding at all; odd sizes padded at 1/2
def test_untrained_lite_is_the_full_resolution_layered_warp(size):
    """Zero learned flows and residual: same prediction as the untrained full-resolution network (both
    are the rendered-MV warp of every layer), so nothing of the downsampling leaks into the colour."""
    inputs = make_inputs(1, *size)
    torch.manual_seed(0)
    full = FSNet.from_preset("fsnet", demodulate=False).init_as_warp_().eval()
    with torch.no_grad():
        want = full(inputs)
        got = lite().init_as_warp_()(inputs)
    for name in ("color", "sky", "st_color", "st_alpha", "lmv1", "lmv2"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-4, atol=1e-4)  # padding rounding
    torch.testing.assert_close(got.lmv1, inputs.merged_mv[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("size, net_size, padded", [((64, 96), (32, 48), (32, 48)), ((38, 54), (19, 27), (32, 32))])
def test_constant_learned_flow_shifts_every_full_resolution_pixel(size, net_size, padded):
    """smv_res = c at the network's level 0 (through the last block's bias) → LMV1 = MV + c' at full
    resolution: the upsampled flow keeps its NDC value, the rendered MV keeps its full detail. c is NDC of
    the network's padded frame, so on the unpadded frame c' = c · padded / unpadded size (per axis)."""
    net = lite().init_as_warp_()
    c = torch.tensor([0.03, -0.02])
    with torch.no_grad():
        net.decoder.blocks[-1].up.bias[2:4] = torch.atanh(c)
        out = net(inputs := make_inputs(1, *size))
    c_frame = c * torch.tensor([padded[1] / net_size[1], padded[0] / net_size[0]])
    torch.testing.assert_close(out.lmv1, inputs.merged_mv[0] + c_frame.view(1, 2, 1, 1), rtol=0, atol=1e-6)
    level0 = [f for level, f in out.flows if level == 0]
    assert [tuple(f.shape[-2:]) for f in level0] == [net_size] * 4  # the network's unpadded size
    torch.testing.assert_close(level0[1], c_frame.view(1, 2, 1, 1).expand(1, 2, *net_size), rtol=0, atol=1e-6)


def test_streamed_state_and_cached_encodings_at_network_size():
    """The state step() returns carries slot 0's encoding (made at the network's resolution) into slot
    1, equal to encoding that frame again; step without cached encodings equals forward(); the streamed
    features live at 1/2, 1/4, 1/8 of H/2; a state from another frame size is refused."""
    net = lite()
    inputs = make_inputs(1, 64, 96)
    with torch.no_grad():
        _, state = net.step(inputs)
        again = net.encode_history(inputs.history[0], None)
        for a, b in zip(state.encodings[1].skips, again.skips, strict=True):
            torch.testing.assert_close(a, b)
        stepped, _ = net.step(inputs, state.without_encodings())
        full = net(inputs, state)
    torch.testing.assert_close(stepped.color, full.color, rtol=1e-5, atol=1e-6)
    assert [tuple(t.shape[-2:]) for t in state.streams[0].decoder] == [(16, 24), (8, 12), (4, 6)]
    with pytest.raises(Exception, match="state slot 0"):
        net.step(make_inputs(1, 32, 96), state)


def test_downscale_options_are_checked():
    with pytest.raises(ConfigError, match=r"downscale: expected an integer >= 1, got 0"):
        FSNet(downscale=0)
    with pytest.raises(ConfigError, match=r"downscale: expected an integer >= 1, got 2.5"):
        FSNet(downscale=2.5)
    with pytest.raises(ConfigError, match="working height.*got 0"):
        FSNet(working_height=0)
    with pytest.raises(ConfigError, match="needs warp 'exact'"):
        FSNet(warp="original", working_height=90)
    with pytest.raises(ConfigError, match="flow_unit.*got 'px'"):
        FSNet(flow_unit="px")
    with pytest.raises(ConfigError, match="needs warp 'exact'"):
        FSNet.from_preset("fsnet_lite", warp="original")
    assert FSNet.from_preset("fsnet_lite").pad_multiple == 32
    params = sum(p.numel() for p in FSNet.from_preset("fsnet_lite").parameters())
    assert params == 352_241


def test_flat_step_pads_to_32_and_keeps_the_state_at_its_own_resolution():
    """The engine contract for a downscaled network: inputs padded to 32, state at 1/2..1/8 of H/2, the
    outputs at the frame's size. (Its ONNX graph, exported at another size and validated in onnxruntime,
    is the bundled model's export test in test_export_onnx.py: the same downscaled network.)"""
    net = lite()
    args = example_inputs(net, (64, 96), seed=1)
    assert args["state1"].shape[-2:] == (16, 24)
    with torch.no_grad():
        flat = dict(zip(OUTPUT_NAMES, FlatStep(net)(*args.values()), strict=True))
    assert flat["color"].shape[-2:] == (64, 96) and flat["stream1"].shape[-2:] == (16, 24)
