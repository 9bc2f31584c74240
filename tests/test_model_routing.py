"""FSNet's routing: which motion warps which layer, what `forward` encodes, what the streamed state feeds.

The analytic model tests zero every learned flow, which makes LMV1 = LMV2 and hides a swap of the two.
Here the output head's flow increment is set to a known whole-pixel shift, so LMV2 = LMV1 + shift and the
expected images are t−1's layers shifted by array slicing (no lmv warp code in the expectation).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from lmv_cli.core.color import gamma_log, inv_gamma_log
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.streaming import GateCell, StreamedFeatures, StreamState

H, W = 32, 48  # multiples of 16: no padding, so a whole-pixel NDC shift stays whole pixels
HEAD_SMV_RES = 5  # output head channels: residual 0..2, smv0 increment 3..4, smv_res increment 5..6


def frame(b: int, g: torch.Generator) -> HistoryFrame:
    def r(c: int) -> torch.Tensor:
        return torch.rand(b, c, H, W, generator=g)

    return HistoryFrame(light=r(3), sky=r(3), st_color=0.3 * r(3), st_alpha=r(1), color_no_st=2 * r(3),
                        brdf_color=0.05 + r(3))


def inputs(seed: int = 0, b: int = 1, history=None, mv_scale: float = 0.1) -> NetInputs:
    g = torch.Generator().manual_seed(seed)
    history = history if history is not None else tuple(frame(b, g) for _ in range(3))
    return NetInputs(
        gbuffer=torch.rand(b, 6, H, W, generator=g),
        brdf_color=0.05 + torch.rand(b, 3, H, W, generator=g),
        sky_mask=(torch.rand(b, 1, H, W, generator=g) > 0.7).float(),
        merged_mv=tuple(mv_scale * (torch.rand(b, 2, H, W, generator=g) - 0.5) for _ in range(3)),
        history=history,
    )


def small_net(seed: int = 0) -> FSNet:
    torch.manual_seed(seed)
    return FSNet.from_preset("fsnet_small").eval()


def zero_learned_flows_and_residual(net: FSNet) -> None:
    """Every decoder block's flow channels (4 per history frame; frame 0 only at full resolution) and the
    whole output head to 0: with zero rendered MVs, LMV1 = LMV2 = 0 and the residual is 0."""
    with torch.no_grad():
        for j, block in enumerate(net.decoder.blocks):
            n = 12 if j < 3 else 4
            block.up.weight[:, :n] = 0
            block.up.bias[:n] = 0
        net.decoder.head.out.weight.zero_()
        net.decoder.head.out.bias.zero_()


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """out(y, x) = x(y − dy, x − dx) with edge replication (border padding), by slicing only."""
    out = x.clone()
    if dx > 0:
        out[..., :, dx:] = x[..., :, :-dx]
        out[..., :, :dx] = x[..., :, :1]
    if dy < 0:
        out2 = out.clone()
        out2[..., :dy, :] = out[..., -dy:, :]
        out2[..., dy:, :] = out[..., -1:, :]
        out = out2
    return out


@pytest.mark.parametrize("dx,dy", [(2, 0), (0, -3)])
def test_translucency_follows_lmv2_and_opaque_and_sky_follow_lmv1(dx: int, dy: int) -> None:
    net = small_net()
    zero_learned_flows_and_residual(net)
    ndc = (dx / (W / 2), dy / (H / 2))
    with torch.no_grad():  # the head's smv_res increment: tanh(raw) = the shift, so LMV2 = LMV1 + shift
        net.decoder.head.out.bias[HEAD_SMV_RES] = math.atanh(ndc[0])
        net.decoder.head.out.bias[HEAD_SMV_RES + 1] = math.atanh(ndc[1])
    x = inputs(mv_scale=0.0)
    with torch.no_grad():
        out = net(x)
    h0 = x.history[0]
    assert float(out.lmv1.abs().max()) == 0.0
    torch.testing.assert_close(out.lmv2, torch.tensor(ndc).view(1, 2, 1, 1).expand(1, 2, H, W))
    close = dict(rtol=1e-4, atol=1e-5)
    # translucency: shifted (LMV2)
    torch.testing.assert_close(out.st_alpha, shift(h0.st_alpha, dx, dy), **close)
    torch.testing.assert_close(out.st_color, inv_gamma_log(shift(h0.st_color, dx, dy)), **close)
    # opaque light and sky: not shifted (LMV1 = 0)
    torch.testing.assert_close(out.light_no_st, h0.color_no_st / h0.brdf_color, **close)
    torch.testing.assert_close(out.sky, inv_gamma_log(h0.sky), **close)
    # and the shift is visible: a swap of LMV1 and LMV2 would move these by whole pixels
    assert (out.st_alpha - h0.st_alpha).abs().max() > 0.1
    assert (out.light_no_st - shift(h0.color_no_st / h0.brdf_color, dx, dy)).abs().max() > 0.1


def test_lmv1_shift_moves_opaque_sky_and_translucency_together() -> None:
    """The full-resolution smv_res of history frame 0 is LMV1's; LMV2 refines it, so both move."""
    net = small_net()
    zero_learned_flows_and_residual(net)
    dx = 3
    with torch.no_grad():
        net.decoder.blocks[3].up.bias[2] = math.atanh(dx / (W / 2))  # frame 0's smv_res x at level 0
    x = inputs(mv_scale=0.0)
    with torch.no_grad():
        out = net(x)
    h0 = x.history[0]
    close = dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.lmv1, out.lmv2, rtol=0, atol=0)
    torch.testing.assert_close(out.light_no_st, shift(h0.color_no_st / h0.brdf_color, dx, 0), **close)
    torch.testing.assert_close(out.sky, inv_gamma_log(shift(h0.sky, dx, 0)), **close)
    torch.testing.assert_close(out.st_alpha, shift(h0.st_alpha, dx, 0), **close)


def test_forward_re_encodes_every_history_frame_ignoring_cached_encodings() -> None:
    """`step` caches the encoding of its slot-0 frame for slot 1 of the next step. `forward` with that
    state on *different* history must ignore the stale cache, exactly like a state without encodings."""
    net = small_net()
    g = torch.Generator().manual_seed(3)
    frames = [frame(1, g) for _ in range(5)]
    first = inputs(seed=1, history=(frames[2], frames[1], frames[0]))
    other = inputs(seed=2, history=(frames[3], frames[4], frames[0]))  # slot 1 is not the cached frame 2
    with torch.no_grad():
        _, state = net.step(first)
        assert state.encodings[1] is not None
        fresh = net(other, StreamState(streams=state.streams))
        torch.testing.assert_close(net(other, state).color, fresh.color, rtol=0, atol=0)
        stale = net.step(other, state)[0]
    assert (stale.color - fresh.color).abs().max() > 1e-4  # the cache would have mattered


def _stream(net: FSNet, seed: int) -> StreamedFeatures:
    with torch.no_grad():
        return net(inputs(seed=seed)).stream


@pytest.mark.parametrize("slot", [0])
def test_streamed_gbuffer_and_decoder_features_both_change_the_prediction(slot: int) -> None:
    net = small_net()
    a, b = _stream(net, 5), _stream(net, 6)
    x = inputs(seed=0)

    def run(streamed: StreamedFeatures) -> torch.Tensor:
        streams = [None, None, None]
        streams[slot] = streamed
        with torch.no_grad():
            return net(x, StreamState(streams=tuple(streams))).color

    base = run(a)
    other_gbuffer = run(StreamedFeatures(a.decoder, b.gbuffer))
    other_decoder = run(StreamedFeatures(b.decoder, a.gbuffer))
    assert (other_gbuffer - base).abs().max() > 1e-4
    assert (other_decoder - base).abs().max() > 1e-4
    torch.testing.assert_close(run(StreamedFeatures(a.decoder, a.gbuffer)), base, rtol=0, atol=0)


def test_a_prediction_streams_its_own_gbuffer_skips() -> None:
    """What a pass streams as `gbuffer` comes from its own G-buffer: change only the G-buffer, the
    streamed G-buffer features change; change only the history colours, they do not."""
    net = small_net()
    x = inputs(seed=0)
    y = replace(x, gbuffer=torch.rand(1, 6, H, W, generator=torch.Generator().manual_seed(9)))
    z = replace(x, history=inputs(seed=4).history)
    with torch.no_grad():
        sx, sy, sz = net(x).stream, net(y).stream, net(z).stream
    assert all((p - q).abs().max() > 1e-4 for p, q in zip(sx.gbuffer, sy.gbuffer))
    assert all(torch.equal(p, q) for p, q in zip(sx.gbuffer, sz.gbuffer))


def test_gate_cell_with_hand_set_weights() -> None:
    """`σ(f)·x + σ(i)·tanh(c)` with `[i, f, c] = conv1×1(h ‖ g)`: weights chosen so that i = g, f = h and
    c = h + g − 0.5 per channel, then the formula applied to the inputs directly (no conv in the
    expectation). h and g have 2 channels each; x has 2."""
    cell = GateCell(2, 4)
    with torch.no_grad():
        cell.conv.weight.zero_()
        cell.conv.bias.zero_()
        for ch in range(2):
            cell.conv.weight[0 + ch, 2 + ch] = 1.0  # i ← g
            cell.conv.weight[2 + ch, 0 + ch] = 1.0  # f ← h
            cell.conv.weight[4 + ch, 0 + ch] = 1.0  # c ← h + g − 0.5
            cell.conv.weight[4 + ch, 2 + ch] = 1.0
            cell.conv.bias[4 + ch] = -0.5
    g = torch.Generator().manual_seed(1)
    x, h, gb = (torch.randn(1, 2, 3, 3, generator=g) for _ in range(3))
    expected = torch.sigmoid(h) * x + torch.sigmoid(gb) * torch.tanh(h + gb - 0.5)
    torch.testing.assert_close(cell(x, h, gb), expected, rtol=1e-6, atol=1e-6)
