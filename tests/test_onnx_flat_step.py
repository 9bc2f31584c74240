"""The flat ONNX step (`lmv_cli.core.model.onnx_step`) computes what `FSNet.step` computes:
`state_channels` per preset (decoder, G-buffer skip channels of one slot's state block), `FlatStep.forward`
equal to `FSNet.step` on the same inputs for every output and every streamed state block (so the history
layout, the merged-MV split, the slot colours, the per-slot state blocks at their offsets and the
`stream_valid` gating are all checked), and the 0 / 1 flags choosing a slot's streamed state vs the zero
state.

Tiny: `FSNet(**PRESETS["fsnet_small"])` at 16x16 with random weights, the reference computed by
`FSNet.step` from `NetInputs` and a `StreamState` built here by hand (not through `model.onnx_flat`)."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.model.fsnet import PRESETS, FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.onnx_step import OUTPUT_NAMES, FlatStep, state_channels
from lmv_cli.core.model.streaming import StreamedFeatures, StreamState

H = W = 16
# fsnet_small: (decoder, G-buffer skip) channels at 1/2, 1/4, 1/8 = the released fsnet's halved
SMALL = ((24, 12), (32, 16), (48, 24))


def test_state_channels_of_the_presets():
    # study / streaming docstring: recurrent encoders 48->24, 64->32, 96->48, G-buffer skips 24, 32, 48
    assert state_channels(FSNet(**PRESETS["fsnet"])) == ((48, 24), (64, 32), (96, 48))
    assert state_channels(FSNet(**PRESETS["fsnet_small"])) == SMALL
    assert FlatStep(FSNet(**PRESETS["fsnet_small"])).channels == SMALL


@pytest.fixture(scope="module")
def net() -> FSNet:
    torch.manual_seed(0)
    return FSNet(**PRESETS["fsnet_small"]).eval().requires_grad_(False)


def _rand(g: torch.Generator, c: int, h: int = H, w: int = W, scale: float = 1.0, low: float = 0.0) -> torch.Tensor:
    return torch.rand(1, c, h, w, generator=g) * scale + low


def _case(seed: int = 1):
    """NetInputs (three distinct history frames, slot colours only in slot 0) and streams for slots 0 and 2."""
    g = torch.Generator().manual_seed(seed)
    prev_color, prev_brdf = _rand(g, 3), _rand(g, 3, low=0.01)
    frames = []
    for _ in range(3):
        frames.append(HistoryFrame(light=_rand(g, 3), sky=_rand(g, 3), st_color=_rand(g, 3) * 0.5,
                                   st_alpha=_rand(g, 1), color_no_st=prev_color, brdf_color=prev_brdf))
    inputs = NetInputs(gbuffer=_rand(g, 6), brdf_color=_rand(g, 3, low=0.01), sky_mask=(_rand(g, 1) > 0.7).float(),
                       merged_mv=tuple(_rand(g, 2, scale=0.2, low=-0.1) for _ in range(3)), history=tuple(frames))

    def streamed() -> StreamedFeatures:
        dec = tuple(_rand(g, d, H >> (lv + 1), W >> (lv + 1), 2.0, -1.0) for lv, (d, _) in enumerate(SMALL))
        gb = tuple(_rand(g, s, H >> (lv + 1), W >> (lv + 1), 2.0, -1.0) for lv, (_, s) in enumerate(SMALL))
        return StreamedFeatures(dec, gb)

    return inputs, (streamed(), streamed(), streamed())


def _flat(inputs: NetInputs, streams, valid) -> list[torch.Tensor]:
    """The flat inputs by hand: history per slot light, sky, st_color, st_alpha; state blocks per slot
    (decoder then G-buffer), the block of an invalid slot filled with whatever `streams` holds."""
    history = torch.cat([torch.cat((f.light, f.sky, f.st_color, f.st_alpha), dim=1) for f in inputs.history], dim=1)
    states = [torch.cat([torch.cat((s.decoder[lv], s.gbuffer[lv]), dim=1) for s in streams], dim=1) for lv in range(3)]
    h0 = inputs.history[0]
    return [inputs.gbuffer, inputs.brdf_color, inputs.sky_mask, torch.cat(inputs.merged_mv, dim=1), history,
            h0.color_no_st, h0.brdf_color, torch.tensor(valid, dtype=torch.float32), *states]


def _check_equal(net, inputs, streams, valid):
    state = StreamState(streams=tuple(s if v else None for s, v in zip(streams, valid, strict=True)))
    want, _ = net.step(inputs, state)
    got = dict(zip(OUTPUT_NAMES, FlatStep(net)(*_flat(inputs, streams, valid)), strict=True))
    for name in OUTPUT_NAMES[:6]:
        assert got[name].shape == getattr(want, name).shape, name
        torch.testing.assert_close(got[name], getattr(want, name), rtol=1e-5, atol=1e-6, msg=name)
    for lv, (d, s) in enumerate(SMALL):
        block = got[f"stream{lv + 1}"]
        assert block.shape == (1, d + s, H >> (lv + 1), W >> (lv + 1))
        torch.testing.assert_close(block[:, :d], want.stream.decoder[lv], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(block[:, d:], want.stream.gbuffer[lv], rtol=1e-5, atol=1e-6)
    return got


@pytest.mark.parametrize("valid", [(1.0, 0.0, 1.0), (0.0, 1.0, 0.0)])
def test_flat_step_equals_fsnet_step(net, valid):
    inputs, streams = _case()
    with torch.no_grad():
        _check_equal(net, inputs, streams, valid)


def test_each_valid_flag_uses_its_own_slot_state(net):
    inputs, streams = _case(2)
    with torch.no_grad():
        base = FlatStep(net)(*_flat(inputs, streams, (0.0, 0.0, 0.0)))[0]
        for k in range(3):
            valid = [0.0, 0.0, 0.0]
            valid[k] = 1.0
            got = _check_equal(net, inputs, streams, tuple(valid))
            assert not torch.allclose(got["color"], base), k  # slot k's state changes the prediction


def test_invalid_slot_state_is_ignored(net):
    inputs, streams = _case(3)
    zero = StreamedFeatures(tuple(torch.zeros_like(t) for t in streams[1].decoder),
                            tuple(torch.zeros_like(t) for t in streams[1].gbuffer))
    with torch.no_grad():
        a = FlatStep(net)(*_flat(inputs, streams, (1.0, 0.0, 1.0)))
        b = FlatStep(net)(*_flat(inputs, (streams[0], zero, streams[2]), (1.0, 0.0, 1.0)))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
