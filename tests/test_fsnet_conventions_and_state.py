"""FSNet's warp conventions, tracing and streamed state: the
motion fields reach the decoder rescaled to the padded frame under the model's warp convention (also
with `downscale=2`); the learned flows and LMV1/LMV2 are cropped back with that convention's factor and
the ceil of the pooled size; a G-buffer with other than 6 channels is accepted when the model says so;
value checks are skipped while tracing; the translucency alpha is clamped to [0, 1]; the residual clamp
takes its maximum over the unpadded rows; and a state of the wrong length or with mis-sized streamed
G-buffer features or cached encodings is refused."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.errors import InputError
from lmv_cli.core.model.encoder import Encoding
from lmv_cli.core.model.fsnet import PRESETS, FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.streaming import StreamedFeatures, StreamState


def small(**options) -> FSNet:
    torch.manual_seed(0)
    return FSNet(**{**PRESETS["fsnet_small"], **options}).eval()


def make_inputs(b: int, h: int, w: int, mv=(0.0, 0.0), *, st_alpha=None, gbuffer_channels: int = 6) -> NetInputs:
    g = torch.Generator().manual_seed(1)

    def rand(c: int) -> torch.Tensor:
        return torch.rand(b, c, h, w, generator=g)

    flow = torch.empty(b, 2, h, w)
    flow[:, 0], flow[:, 1] = mv
    alpha = rand(1) if st_alpha is None else st_alpha.expand(b, 1, h, w).clone()
    history = tuple(
        HistoryFrame(light=rand(3), sky=rand(3), st_color=torch.zeros(b, 3, h, w), st_alpha=alpha,
                     color_no_st=rand(3), brdf_color=torch.full((b, 3, h, w), 0.5))
        for _ in range(3)
    )
    return NetInputs(
        gbuffer=rand(gbuffer_channels), brdf_color=torch.full((b, 3, h, w), 0.5), sky_mask=torch.zeros(b, 1, h, w),
        merged_mv=(flow, flow.clone(), flow.clone()), history=history,
    )


def run_seen(net: FSNet, inputs: NetInputs):
    """The outputs, the motion fields the decoder was given and the decoder's result (forward hooks)."""
    seen = {}
    pre = net.decoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("mvs", args[3]))
    post = net.decoder.register_forward_hook(lambda m, args, out: seen.__setitem__("decoded", out))
    try:
        with torch.no_grad():
            out = net(inputs)
    finally:
        pre.remove()
        post.remove()
    return out, seen["mvs"], seen["decoded"]


def test_original_warp_pads_and_crops_motion_with_its_own_factors():
    """5×7 → padded 16×16 under "original" (d moves d·(size−1)/2 pixels): the rendered MV reaches the
    decoder times ((7−1)/15, (5−1)/15); flows and LMVs come back times (15/6, 15/4) (exact would be
    7/16, 5/16 and 16/7, 16/5)."""
    net = small(warp="original")
    out, mvs, decoded = run_seen(net, make_inputs(1, 5, 7, (1.5, 0.75)))
    for mv in mvs:
        torch.testing.assert_close(mv[0, 0], torch.full((16, 16), 0.6), rtol=0, atol=1e-6)
        torch.testing.assert_close(mv[0, 1], torch.full((16, 16), 0.2), rtol=0, atol=1e-6)
    factor = torch.tensor([2.5, 3.75]).view(1, 2, 1, 1)
    assert [level for level, _ in out.flows] == [level for level, _ in decoded.flows]
    for (level, got), (_, raw) in zip(out.flows, decoded.flows, strict=True):
        h, w = -(-5 // 2**level), -(-7 // 2**level)
        torch.testing.assert_close(got, raw[..., :h, :w] * factor, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.lmv1, decoded.lmv1[..., :5, :7] * factor, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.lmv2, decoded.lmv2[..., :5, :7] * factor, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(decoded.lmv1, decoded.lmv2)


def test_downscale_two_rescales_motion_at_the_network_and_crops_flows_to_the_pooled_size():
    """fsnet_lite, 5×9 → network 3×5 (ceil) → padded 16×16: the rendered MV (1.6, 0.8) reaches the
    decoder as (1.6·5/16, 0.8·3/16); the flows come back times (16/5, 16/3), not (16/4.5, 16/2.5)."""
    torch.manual_seed(0)
    net = FSNet.from_preset("fsnet_lite").eval()
    out, mvs, decoded = run_seen(net, make_inputs(1, 5, 9, (1.6, 0.8)))
    for mv in mvs:
        torch.testing.assert_close(mv[0, 0], torch.full((16, 16), 0.5), rtol=0, atol=1e-6)
        torch.testing.assert_close(mv[0, 1], torch.full((16, 16), 0.15), rtol=0, atol=1e-6)
    factor = torch.tensor([16 / 5, 16 / 3]).view(1, 2, 1, 1)
    for (level, got), (_, raw) in zip(out.flows, decoded.flows, strict=True):
        h, w = -(-3 // 2**level), -(-5 // 2**level)
        torch.testing.assert_close(got, raw[..., :h, :w] * factor, rtol=1e-6, atol=1e-6)


def test_gbuffer_channels_other_than_six_are_accepted():
    net = small(gbuffer_channels=4)
    out = net(make_inputs(1, 16, 16, gbuffer_channels=4))
    assert out.color.shape == (1, 3, 16, 16)


def test_values_are_not_checked_while_tracing():
    """A NaN input is refused eagerly but not while jit tracing (the check would be a host sync)."""
    net = small().requires_grad_(False)
    inputs = make_inputs(1, 16, 16)
    inputs.history[2].light[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=r"history\[2\]\.light: 1 NaN/Inf values"):
        net(inputs)

    def f(gbuffer):
        inputs.gbuffer = gbuffer
        return net(inputs).color

    with torch.no_grad():
        traced = torch.jit.trace(f, (inputs.gbuffer.clone(),), check_trace=False)
    assert traced(inputs.gbuffer).shape == (1, 3, 16, 16)


def test_translucency_alpha_is_clamped_to_unit_range():
    """Zero motion, untrained-as-warp: alpha −0.5 → 0 and 3 → 1."""
    net = small().init_as_warp_()
    alpha = torch.tensor([-0.5, 3.0]).view(2, 1, 1, 1)
    with torch.no_grad():
        out = net(make_inputs(2, 16, 16, st_alpha=alpha))
    torch.testing.assert_close(out.st_alpha[0], torch.zeros(1, 16, 16), rtol=0, atol=0)
    torch.testing.assert_close(out.st_alpha[1], torch.ones(1, 16, 16), rtol=0, atol=0)


def test_residual_clamp_maximum_covers_only_the_unpadded_rows():
    """size (1, 4) of a 2×4 base: m = max of row 0 = 4, not 9 (row 1 is padding)."""
    net = small()
    base = torch.tensor([[1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 9.0, 9.0]]).view(1, 1, 2, 4)
    got = net._add_residual(torch.full_like(base, 10.0), base, (1, 4))
    torch.testing.assert_close(got, torch.full_like(base, 4.0), rtol=0, atol=0)


def _stepped():
    net = small()
    inputs = make_inputs(1, 16, 16)
    with torch.no_grad():
        _, state = net.step(inputs)
    return net, inputs, state


def test_misfitting_streamed_gbuffer_features_are_refused():
    net, inputs, state = _stepped()
    s0 = state.streams[0]
    bad = StreamedFeatures(s0.decoder, tuple(t.repeat(2, 1, 1, 1) for t in s0.gbuffer))
    with pytest.raises(InputError, match=r"state slot 0.*another batch or resolution"):
        net(inputs, StreamState((bad, None, None)))


def test_misfitting_cached_encodings_are_refused():
    net, inputs, state = _stepped()
    e = state.encodings[1]
    bad = Encoding(tuple(t.repeat(2, 1, 1, 1) for t in e.skips), e.bottleneck.repeat(2, 1, 1, 1))
    with pytest.raises(InputError, match=r"state slot 1.*another batch or resolution"):
        net.step(inputs, StreamState((None, None, None), (None, bad, None)))


@pytest.mark.parametrize("call", ["forward", "step"])
def test_state_with_more_slots_than_history_frames_is_refused(call):
    net, inputs, _ = _stepped()
    with pytest.raises(ValueError):
        getattr(net, call)(inputs, StreamState((None,) * 4, (None,) * 4))
