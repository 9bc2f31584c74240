"""FSNet the network (docs/model.md): sizes, parameter counts, gradients, analytic cases, streaming,
the step API, the per-sample clamp, and bad inputs. All on CPU at small sizes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from lmv_cli.core.color import gamma_log, inv_gamma_log
from lmv_cli.core.config import ModelConfig
from lmv_cli.core.conventions import backward_warp_np
from lmv_cli.core.errors import ConfigError, InputError
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.fsnet import PRESETS, FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, NetOutputs
from lmv_cli.core.model.lmv import learnable_mv
from lmv_cli.core.model.streaming import FeatureStreaming, GateCell, StreamState
from lmv_cli.core.model.warp import backward_warp

IMAGE_FIELDS = ("color", "color_no_st", "light_no_st", "sky", "st_color", "st_alpha")


def make_frame(b: int, h: int, w: int, g: torch.Generator) -> HistoryFrame:
    def r(c: int) -> torch.Tensor:
        return torch.rand(b, c, h, w, generator=g)

    return HistoryFrame(
        light=r(3), sky=r(3), st_color=0.3 * r(3), st_alpha=r(1), color_no_st=2 * r(3), brdf_color=0.05 + r(3)
    )


def make_inputs(b: int = 2, h: int = 32, w: int = 48, seed: int = 0, history=None, mv_scale: float = 0.1) -> NetInputs:
    g = torch.Generator().manual_seed(seed)
    history = history if history is not None else tuple(make_frame(b, h, w, g) for _ in range(3))
    return NetInputs(
        gbuffer=torch.rand(b, 6, h, w, generator=g),
        brdf_color=0.05 + torch.rand(b, 3, h, w, generator=g),
        sky_mask=(torch.rand(b, 1, h, w, generator=g) > 0.7).float(),
        merged_mv=tuple(mv_scale * (torch.rand(b, 2, h, w, generator=g) - 0.5) for _ in range(3)),
        history=history,
    )


def make_net(preset: str = "fsnet", seed: int = 0, **options) -> FSNet:
    torch.manual_seed(seed)
    return FSNet.from_preset(preset, **options)


def zero_motion_and_residual(net: FSNet) -> None:
    """Make every predicted flow and the residual exactly 0 (`init_as_warp_`, checked below)."""
    net.init_as_warp_()


def predicted_state(net: FSNet, inputs: NetInputs) -> StreamState:
    """A state whose three slots all hold streamed features (as if t−1..t−3 were predicted)."""
    with torch.no_grad():
        stream = net(inputs).stream
    return StreamState().push(stream).push(stream).push(stream)


def output_sum(out: NetOutputs, *, flows: bool = True) -> torch.Tensor:
    total = sum(getattr(out, f).sum() for f in IMAGE_FIELDS)
    return total + sum(f.sum() for _, f in out.flows) if flows else total


# ----------------------------------------------------------------------------------------------- sizes


def test_parameter_counts_are_exactly_the_released_model():
    counts = make_net().parameter_counts()
    assert counts == {
        "history_encoder": 104_885,
        "gbuffer_encoder": 104_309,
        "decoder": 1_835_799,
        "recurrent_encoders": 7_912,
        "streaming_cells": 23_736,
    }
    assert sum(counts.values()) == sum(p.numel() for p in make_net().parameters()) == 2_076_641


def test_small_preset_is_a_quarter_of_the_parameters():
    net = make_net("fsnet_small")
    assert sum(p.numel() for p in net.parameters()) == sum(net.parameter_counts().values()) == 520_729
    out = net(make_inputs(1, 32, 48))
    assert out.color.shape == (1, 3, 32, 48)


@pytest.mark.parametrize("b,h,w", [(2, 32, 48), (1, 45, 77), (3, 16, 16), (1, 17, 33), (1, 180, 320)])
def test_output_shapes_for_any_size(b, h, w):
    out = make_net()(make_inputs(b, h, w))
    for name in IMAGE_FIELDS:
        channels = 1 if name == "st_alpha" else 3
        assert getattr(out, name).shape == (b, channels, h, w), name
        assert torch.isfinite(getattr(out, name)).all(), name
    assert out.lmv1.shape == out.lmv2.shape == (b, 2, h, w)
    # 3 frames × (smv0, smv_res) at levels 3, 2, 1; frame 0 at level 0; the head's two refined flows
    assert [level for level, _ in out.flows] == [3] * 6 + [2] * 6 + [1] * 6 + [0] * 4
    for level, flow in out.flows:
        assert flow.shape == (b, 2, math.ceil(h / 2**level), math.ceil(w / 2**level))
    ph, pw = math.ceil(h / 16) * 16, math.ceil(w / 16) * 16  # streamed features live on the padded frame
    assert [t.shape for t in out.stream.decoder] == [(b, c, ph >> s, pw >> s) for c, s in ((48, 1), (64, 2), (96, 3))]
    assert [t.shape for t in out.stream.gbuffer] == [(b, c, ph >> s, pw >> s) for c, s in ((24, 1), (32, 2), (48, 3))]
    assert not any(t.requires_grad for t in (*out.stream.decoder, *out.stream.gbuffer))


# ----------------------------------------------------------------------------------------------- gradients


def test_every_parameter_gets_a_finite_nonzero_gradient():
    net = make_net()
    inputs = make_inputs(2, 32, 48)
    output_sum(net(inputs, predicted_state(net, inputs))).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def _zero_gradient_rows(net: FSNet, inputs: NetInputs, state: StreamState, *, flows: bool) -> set[str]:
    net.zero_grad()
    output_sum(net(inputs, state), flows=flows).backward()
    # per output channel of convolutions; PReLU slopes as a whole (a channel may see no negative input)
    prelus = {f"{n}.weight" for n, m in net.named_modules() if isinstance(m, torch.nn.PReLU)}
    zero = set()
    for name, p in net.named_parameters():
        rows = p.grad.abs().sum().reshape(1) if name in prelus else p.grad.reshape(p.shape[0], -1).abs().sum(dim=1)
        zero |= {f"{name}[{i}]" for i in torch.nonzero(rows == 0).flatten().tolist()}
    return zero


def test_nearest_gather_leaves_only_the_head_smv0_without_image_gradient():
    """smv0 gets no gradient through a nearest gather (docs/model.md#learnable-motion-vectors). Every level's smv0 is re-injected into
    the next block, so only the head's refined smv0 (output channels 3, 4, used only in LMV2's gather)
    lacks an image gradient; the zero-flow term reaches it. Bilinear gathers give it an image gradient."""
    inputs = make_inputs(2, 32, 48)
    net = make_net(mv_gather="nearest")
    state = predicted_state(net, inputs)
    head = {f"decoder.head.out.{kind}[{i}]" for kind in ("weight", "bias") for i in (3, 4)}
    assert _zero_gradient_rows(net, inputs, state, flows=False) == head
    assert _zero_gradient_rows(net, inputs, state, flows=True) == set()
    assert _zero_gradient_rows(make_net(mv_gather="bilinear"), inputs, state, flows=False) == set()


def test_gate_cell_gradcheck_float64():
    torch.manual_seed(0)
    cell = GateCell(4, 7).double()
    x, h, g = (torch.randn(1, c, 3, 4, dtype=torch.float64, requires_grad=True) for c in (4, 3, 4))
    assert torch.autograd.gradcheck(cell, (x, h, g))


# ----------------------------------------------------------------------------------------------- analytic cases


def test_zero_motion_and_zero_residual_reproduce_the_previous_frame():
    """With every flow and the residual 0 and zero MVs, the opaque colour is t−1's colour demodulated by
    t−1's BRDF colour and re-modulated by the *current* one; sky and translucency are t−1's."""
    net = make_net()
    zero_motion_and_residual(net)
    inputs = make_inputs(2, 32, 48, mv_scale=0.0)
    out = net(inputs)
    h0 = inputs.history[0]
    light = h0.color_no_st / h0.brdf_color
    mask = inputs.sky_mask
    sky = inv_gamma_log(h0.sky)
    expected_no_st = light * inputs.brdf_color * (1 - mask) + sky * mask
    torch.testing.assert_close(out.light_no_st, light, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.sky, sky, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.color_no_st, expected_no_st, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.st_alpha, h0.st_alpha, rtol=1e-4, atol=1e-5)
    expected = expected_no_st * h0.st_alpha + inv_gamma_log(h0.st_color)
    torch.testing.assert_close(out.color, expected, rtol=1e-4, atol=1e-5)
    assert all(float(f.detach().abs().max()) == 0.0 for _, f in out.flows)
    assert float(out.lmv1.detach().abs().max()) == 0.0 and float(out.lmv2.detach().abs().max()) == 0.0


@pytest.mark.parametrize("h,w", [(32, 48), (45, 77)])
def test_rendered_motion_alone_warps_like_the_reference_warp(h, w):
    """Zero learned flows: LMV = rendered MV, and the output is t−1 warped by it, equal to lmv's numpy
    reference warp also at sizes that need padding (MVs must be rescaled to the padded frame)."""
    net = make_net("fsnet_small")
    zero_motion_and_residual(net)
    inputs = make_inputs(1, h, w)
    shift = torch.tensor([2.6 / (w / 2), -1.3 / (h / 2)]).view(1, 2, 1, 1)  # +2.6 px right, 1.3 px up
    inputs = replace(inputs, merged_mv=(shift.expand(1, 2, h, w).clone(),) + inputs.merged_mv[1:])
    out = net(inputs)
    h0, mv = inputs.history[0], inputs.merged_mv[0][0].numpy()

    def warp(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(backward_warp_np(x[0].numpy(), mv))[None]

    base = gamma_log(h0.color_no_st / h0.brdf_color)
    torch.testing.assert_close(out.light_no_st, inv_gamma_log(warp(base)), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.sky, inv_gamma_log(warp(h0.sky)), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.st_alpha, warp(h0.st_alpha), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.lmv1, inputs.merged_mv[0], rtol=1e-6, atol=1e-7)


def test_learnable_mv_gathers_the_rendered_mv_where_smv0_points():
    h, w = 8, 10
    ramp = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    mv = torch.cat((ramp, -ramp), 1)
    smv0 = torch.tensor([2 / (w / 2), 1 / (h / 2)]).view(1, 2, 1, 1).expand(1, 2, h, w)  # 2 px right, 1 px down
    smv_res = torch.full((1, 2, h, w), 0.25)
    for mode in ("nearest", "bilinear"):
        lmv = learnable_mv(mv, smv0, smv_res, mode=mode)
        expected = torch.zeros_like(mv)  # zero padding outside the frame
        expected[..., 1:, 2:] = mv[..., :-1, :-2]
        torch.testing.assert_close(lmv, expected + 0.25, rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------------------------- warp init


def test_init_as_warp_zeroes_exactly_the_flow_logits_and_the_head():
    net = make_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.init_as_warp_()
    after = net.state_dict()
    for j, n in enumerate((12, 12, 12, 4)):
        up = f"decoder.blocks.{j}.up"
        assert after[f"{up}.weight"][:, :n].abs().max() == 0 and after[f"{up}.bias"][:n].abs().max() == 0
        torch.testing.assert_close(after[f"{up}.weight"][:, n:], before[f"{up}.weight"][:, n:], rtol=0, atol=0)
    assert after["decoder.head.out.weight"].abs().max() == 0 and after["decoder.head.out.bias"].abs().max() == 0
    untouched = [k for k in after if ".up." not in k and not k.startswith("decoder.head.out")]
    assert all(torch.equal(after[k], before[k]) for k in untouched)


@pytest.mark.parametrize("warp", ["exact", "original"])
def test_untrained_warp_init_predicts_the_rendered_mv_warp(warp):
    """`model.init: warp` (the default): the untrained network's prediction is t−1 warped by the rendered
    MV (per-pixel, random), demodulated by t−1's BRDF colour and re-modulated by the current one, sky and
    translucency warped alike; computed independently with the numpy reference warp."""
    torch.manual_seed(0)
    net = build_model(ModelConfig(preset="fsnet_small", warp=warp))
    b, h, w = 2, 32, 48
    inputs = make_inputs(b, h, w, seed=4, mv_scale=0.3)
    with torch.no_grad():
        out = net(inputs)
    h0 = inputs.history[0]

    def warp_np(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [torch.from_numpy(backward_warp_np(x[i].numpy(), inputs.merged_mv[0][i].numpy(), warp)) for i in range(b)]
        )

    light = inv_gamma_log(warp_np(gamma_log(h0.color_no_st / h0.brdf_color)))
    sky, mask = inv_gamma_log(warp_np(h0.sky)), inputs.sky_mask
    st_alpha, st_color = warp_np(h0.st_alpha), inv_gamma_log(warp_np(h0.st_color))
    no_st = light * inputs.brdf_color * (1 - mask) + sky * mask
    for name, expected in [("light_no_st", light), ("sky", sky), ("st_alpha", st_alpha), ("color_no_st", no_st)]:
        torch.testing.assert_close(getattr(out, name), expected, rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(out.color, no_st * st_alpha + st_color, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.lmv1, inputs.merged_mv[0], rtol=0, atol=0)
    torch.testing.assert_close(out.lmv2, inputs.merged_mv[0], rtol=0, atol=0)
    assert all(float(f.abs().max()) == 0.0 for _, f in out.flows)


def test_untrained_without_demodulation_predicts_the_plain_colour_warp():
    """`model.demodulate: false`: the residual acts on the warped colour itself, so the untrained network
    predicts t−1's opaque colour warped by the rendered MV (in gl space) with no re-modulation by the
    current BRDF colour; `light_no_st` is that colour demodulated by the current BRDF colour. The
    released network (`compat: original`) always demodulates."""
    torch.manual_seed(0)
    net = build_model(ModelConfig(preset="fsnet_small", demodulate=False))
    b, h, w = 2, 32, 48
    inputs = make_inputs(b, h, w, seed=4, mv_scale=0.3)
    with torch.no_grad():
        out = net(inputs)
    h0, mask = inputs.history[0], inputs.sky_mask

    def warp_np(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [torch.from_numpy(backward_warp_np(x[i].numpy(), inputs.merged_mv[0][i].numpy())) for i in range(b)]
        )

    opaque = inv_gamma_log(warp_np(gamma_log(h0.color_no_st)))
    sky = inv_gamma_log(warp_np(h0.sky))
    torch.testing.assert_close(out.color_no_st, opaque * (1 - mask) + sky * mask, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.light_no_st, opaque / inputs.brdf_color, rtol=1e-4, atol=1e-5)
    assert ModelConfig(compat="original", demodulate=False).demodulate is True


@pytest.mark.parametrize("weight, same_as", [(0.0, False), (1.0, True)])
def test_learned_demodulation_blends_the_colour_and_the_remodulated_light(weight, same_as):
    """`model.demodulate: learned`: the head's blend weight picks, per pixel, between the corrected colour
    (weight 0: an untrained network predicts exactly what `demodulate: false` does) and the corrected
    light re-modulated by the current BRDF colour (weight 1: what `demodulate: true` does); a weight
    between them mixes the two linearly."""
    inputs = make_inputs(2, 32, 48, seed=4, mv_scale=0.3)
    torch.manual_seed(0)
    blend = build_model(ModelConfig(preset="fsnet_small", demodulate="learned"))
    with torch.no_grad():
        blend.decoder.head.out.bias[3] = weight  # the blend logit; flows and residual stay 0
        got = blend(inputs)
        expected = build_model(ModelConfig(preset="fsnet_small", demodulate=same_as))(inputs)
        for name in IMAGE_FIELDS:
            torch.testing.assert_close(getattr(got, name), getattr(expected, name), rtol=1e-5, atol=1e-6, msg=name)
        blend.decoder.head.out.bias[3] = 0.25
        mixed = blend(inputs).color_no_st
    with torch.no_grad():
        colour = build_model(ModelConfig(preset="fsnet_small", demodulate=False))(inputs).color_no_st
        light = build_model(ModelConfig(preset="fsnet_small", demodulate=True))(inputs).color_no_st
    torch.testing.assert_close(mixed, 0.75 * colour + 0.25 * light, rtol=1e-5, atol=1e-6)


def test_learned_demodulation_reads_the_current_brdf_colour_and_trains_the_blend_weight():
    """With `demodulate: learned` the current BRDF colour reaches the G-buffer encoder (a different BRDF
    colour changes the decoded features), and the blend weight of an untrained network gets a gradient."""
    torch.manual_seed(0)
    net = FSNet.from_preset("fsnet_small", demodulate="learned")
    inputs = make_inputs(1, 32, 48, seed=2)
    with torch.no_grad():
        a = net(inputs).color
        b = net(replace(inputs, brdf_color=inputs.brdf_color.flip(-1))).color
    assert not torch.allclose(a, b)
    net.init_as_warp_()
    net(inputs).color.mean().backward()
    assert float(net.decoder.head.out.weight.grad[3].abs().sum()) > 0


@pytest.mark.parametrize("value", ["bogus", 1, None])
def test_demodulate_rejects_other_values(value):
    with pytest.raises(ConfigError, match="demodulate"):
        FSNet.from_preset("fsnet_small", demodulate=value)


def test_warp_init_still_trains_every_parameter_after_one_step():
    """The zeroed head blocks the gradient to the head's first layer at step 0 only: after one AdamW
    step every parameter gets a finite, non-zero gradient."""
    torch.manual_seed(0)
    net = build_model(ModelConfig())
    assert ModelConfig().init == "warp"
    inputs = make_inputs(2, 32, 48)
    state = predicted_state(net, inputs)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    output_sum(net(inputs, state)).backward()
    optimizer.step()
    optimizer.zero_grad()
    output_sum(net(inputs, state)).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_random_init_keeps_pytorch_defaults():
    torch.manual_seed(0)
    net = build_model(ModelConfig(init="random", warp="original"))
    assert net.decoder.head.out.weight.abs().max() > 0 and net.warp == net.decoder.warp == "original"


# ----------------------------------------------------------------------------------------------- warp convention


@pytest.mark.parametrize("warp,pixels_per_unit", [("exact", (48 / 2, 32 / 2)), ("original", (47 / 2, 31 / 2))])
def test_warp_conventions_move_by_their_pixel_scale(warp, pixels_per_unit):
    """A motion of d moves d·W/2 px ("exact") or d·(W−1)/2 px ("original"); both agree with the numpy
    reference on a random field, with border clamping."""
    h, w = 32, 48
    x = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    shift = torch.tensor([3 / pixels_per_unit[0], -2 / pixels_per_unit[1]]).view(1, 2, 1, 1).expand(1, 2, h, w)
    out = backward_warp(x, shift, convention=warp)
    torch.testing.assert_close(out[..., 2:-2, 3:-3], x[..., 4:, :-6], rtol=0, atol=1e-2)  # 3 px right, 2 px up
    g = torch.Generator().manual_seed(1)
    image, mv = torch.rand(3, h, w, generator=g), 0.4 * (torch.rand(2, h, w, generator=g) - 0.5)
    ref = torch.from_numpy(backward_warp_np(image.numpy(), mv.numpy(), warp))
    torch.testing.assert_close(backward_warp(image[None], mv[None], convention=warp)[0], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("warp,half_width", [("exact", 16 / 2), ("original", 15 / 2)])
def test_merged_motion_vectors_follow_the_warp_convention(warp, half_width):
    """M_1 = mv_{t−1} gathered (nearest, zeros outside) 2 px to the left of p, plus M_0 = mv_t."""
    from lmv_cli.core.inputs import merged_motion_vectors

    h, w = 8, 16
    mv_t = torch.zeros(1, 2, h, w)
    mv_t[:, 0] = 2 / half_width  # 2 px right in this convention
    ramp = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w) / 100
    mv_1 = torch.cat((ramp, -ramp), 1)
    _, m1 = merged_motion_vectors([mv_t, mv_1], convention=warp)
    expected = mv_t.clone()
    expected[..., 2:] += mv_1[..., :-2]
    torch.testing.assert_close(m1, expected, rtol=0, atol=1e-6)


def test_original_grid_is_torch_linspace_bit_for_bit():
    from lmv_cli.core.model.warp import base_grid

    for n in (*range(1, 70), 80, 90, 160, 320, 720, 1280, 2160, 3840):
        grid = base_grid(1, n, convention="original")[0, 0, :, 0]
        assert torch.equal(grid, torch.linspace(-1.0, 1.0, n)), n


@pytest.mark.slow
def test_original_warp_exports_with_dynamic_size():
    """The original grid keeps H and W symbolic under torch.export (linspace would pin them)."""

    class Warp(torch.nn.Module):
        def forward(self, x, mv):
            return backward_warp(x, mv, convention="original")

    h, w = torch.export.Dim("h", min=1, max=256), torch.export.Dim("w", min=1, max=256)
    shapes = ({2: 16 * h, 3: 16 * w}, {2: 16 * h, 3: 16 * w})
    program = torch.export.export(Warp(), (torch.rand(1, 3, 32, 48), torch.rand(1, 2, 32, 48)), dynamic_shapes=shapes)
    x, mv = torch.rand(1, 3, 64, 80), 0.2 * torch.rand(1, 2, 64, 80)
    torch.testing.assert_close(program.module()(x, mv), backward_warp(x, mv, convention="original"))


@pytest.mark.slow
def test_original_mode_step_exports_to_onnx_at_any_size(tmp_path):
    """The released behaviour (original grid, batch clamp) exports with dynamic H×W and runs in
    onnxruntime at a size other than the traced one."""
    pytest.importorskip("onnxruntime")
    from lmv_cli.core.onnx_export import example_inputs, export_onnx, validate_onnx

    net = make_net("fsnet_small", warp="original", clamp="batch").eval()
    path = export_onnx(net, tmp_path / "original.onnx", exporter="torchscript")
    for size in ((48, 80), (64, 112)):
        check = validate_onnx(net, path, example_inputs(net, size))
        assert check.color_error < 1e-4 * check.color_peak, (size, check)


def test_original_warp_convention_differs_from_the_exact_one():
    net = make_net("fsnet_small")
    inputs = make_inputs(1, 32, 48, mv_scale=0.3)
    with torch.no_grad():
        exact = net(inputs).color
        net.warp = net.decoder.warp = "original"
        original = net(inputs).color
    assert (exact - original).abs().max() > 1e-3


# ----------------------------------------------------------------------------------------------- clamp


def test_per_sample_clamp_makes_samples_independent():
    """A large positive residual is clamped to the warped base's max m: the prediction becomes m in gl
    space. Per sample, a dark frame keeps its own m even next to a bright one; the batch clamp does not."""
    net = make_net("fsnet_small")
    zero_motion_and_residual(net)
    with torch.no_grad():
        net.decoder.head.out.bias[:3] = 5.0
    dark, bright = make_inputs(1, 32, 48, seed=1, mv_scale=0.0), make_inputs(1, 32, 48, seed=2, mv_scale=0.0)
    dark = replace(dark, history=tuple(replace(f, color_no_st=0.05 * f.color_no_st) for f in dark.history))
    both = _cat_inputs(dark, bright)
    batched, alone = net(both), net(dark)
    torch.testing.assert_close(batched.color[:1], alone.color, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched.color[1:], net(bright).color, rtol=1e-5, atol=1e-6)
    m = gamma_log(dark.history[0].color_no_st / dark.history[0].brdf_color).amax()
    torch.testing.assert_close(gamma_log(alone.light_no_st), m.expand(1, 3, 32, 48), rtol=1e-5, atol=1e-5)
    net.clamp = "batch"
    assert not torch.allclose(net(both).color[:1], alone.color, rtol=1e-3)


def _cat_inputs(a: NetInputs, b: NetInputs) -> NetInputs:
    def cat(x, y):
        return torch.cat((x, y))

    history = tuple(
        HistoryFrame(**{k: cat(getattr(fa, k), getattr(fb, k)) for k in vars(fa)})
        for fa, fb in zip(a.history, b.history)
    )
    return NetInputs(
        gbuffer=cat(a.gbuffer, b.gbuffer),
        brdf_color=cat(a.brdf_color, b.brdf_color),
        sky_mask=cat(a.sky_mask, b.sky_mask),
        merged_mv=tuple(cat(x, y) for x, y in zip(a.merged_mv, b.merged_mv)),
        history=history,
    )


# ----------------------------------------------------------------------------------------------- streaming


def test_predicted_history_changes_the_output_and_rendered_slots_ignore_stale_state():
    net = make_net("fsnet_small")
    inputs = make_inputs(2, 32, 48)
    plain = net(inputs)
    stream = net(make_inputs(2, 32, 48, seed=5)).stream
    state = StreamState(streams=(None, stream, None))
    streamed = net(inputs, state)
    assert (streamed.color - plain.color).abs().max() > 1e-3
    # slot 1 marked rendered: its streamed features are dropped, the result is the all-rendered one
    torch.testing.assert_close(net(inputs, state.mark_rendered(1)).color, plain.color, rtol=0, atol=0)


def test_rendered_slot_is_gated_with_zero_state():
    """None (rendered) means h = 0 and g = 0 at every level, exactly as zero tensors handed to the cells."""
    torch.manual_seed(0)
    streaming = FeatureStreaming((4, 6, 8), (5, 7, 9), (10, 12, 14))
    skips = tuple(torch.randn(2, c, s, s) for c, s in ((4, 16), (6, 8), (8, 4)))
    gated = streaming(skips, None)
    for level, (x, cell) in enumerate(zip(skips, streaming.cells)):
        zeros_h = torch.zeros(2, (4, 6, 8)[level], *x.shape[-2:])
        zeros_g = torch.zeros(2, (5, 7, 9)[level], *x.shape[-2:])
        torch.testing.assert_close(gated[level], cell(x, zeros_h, zeros_g), rtol=0, atol=0)


def test_state_shifting():
    a, b = object(), object()
    state = StreamState().push(a).push_rendered().push(b)
    assert state.streams == (b, None, a) and state.predicted == (True, False, True)
    assert state.push(None).streams == (None, b, None)
    assert state.mark_rendered(2).streams == (b, None, None)


def test_step_pushes_its_stream_and_reuses_encodings():
    """Frames F0..F4; step t sees history (F_{t−1}, F_{t−2}, F_{t−3}). The encoding computed for slot 0 at
    step t is reused as slot 1 at step t+1, giving the same result as re-encoding everything."""
    net = make_net("fsnet_small")
    g = torch.Generator().manual_seed(3)
    frames = [make_frame(1, 32, 48, g) for _ in range(5)]
    first = make_inputs(1, 32, 48, seed=1, history=(frames[2], frames[1], frames[0]))
    second = make_inputs(1, 32, 48, seed=2, history=(frames[3], frames[2], frames[1]))
    with torch.no_grad():
        out1, state = net.step(first)
        assert state.streams[0] is out1.stream and state.predicted == (True, False, False)
        assert state.encodings[0] is None and state.encodings[1] is not None
        out2, state2 = net.step(second, state)
        torch.testing.assert_close(out2.color, net(second, state).color, rtol=1e-5, atol=1e-6)
        # a stale cached encoding is really used: feeding different history 1 changes nothing
        other = replace(second, history=(frames[3], frames[4], frames[1]))
        torch.testing.assert_close(net.step(other, state)[0].color, out2.color, rtol=0, atol=0)
    assert state2.streams[:2] == (out2.stream, out1.stream)
    assert state2.mark_rendered(0).encodings[0] is None and state2.mark_rendered(1).encodings[1] is None


# ----------------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda x: replace(x, gbuffer=x.gbuffer[:, :5]), r"gbuffer: expected 6 channels, got 5"),
        (lambda x: replace(x, brdf_color=x.brdf_color[..., :40]), r"brdf_color: batch 2 and size 32x40 differ"),
        (lambda x: replace(x, sky_mask=x.sky_mask[0]), r"sky_mask: expected a floating-point \(B, 1, H, W\)"),
        (lambda x: replace(x, history=x.history[:2]), r"history: expected 3 entries"),
        (lambda x: replace(x, merged_mv=x.merged_mv + x.merged_mv[:1]), r"merged_mv: expected 3 entries"),
        (lambda x: replace(x, merged_mv=(x.merged_mv[0][:1],) + x.merged_mv[1:]), r"merged_mv\[0\]: batch 1"),
        (lambda x: _with_nan_in_history_1_light(x), r"history\[1\]\.light: 288 NaN/Inf values"),
        (lambda x: replace(x, merged_mv=(*x.merged_mv[:2], x.merged_mv[2] / 0)), r"merged_mv\[2\]: 6144 NaN/Inf values"),
        (lambda x: _with_history(x, 0, st_alpha=x.history[0].st_alpha.long()), r"history\[0\]\.st_alpha: expected a float"),
    ],
)
def test_bad_inputs_name_the_tensor(change, match):
    with pytest.raises(InputError, match=match):
        make_net("fsnet_small")(change(make_inputs(2, 32, 48)))


def _with_history(x: NetInputs, k: int, **fields) -> NetInputs:
    history = list(x.history)
    history[k] = replace(history[k], **fields)
    return replace(x, history=tuple(history))


def _with_nan_in_history_1_light(x: NetInputs) -> NetInputs:
    light = x.history[1].light.clone()
    light[0, 0, :12, :24] = math.nan  # 288 values
    return _with_history(x, 1, light=light)


def test_state_of_another_resolution_is_refused():
    net = make_net("fsnet_small")
    with torch.no_grad():
        _, state = net.step(make_inputs(1, 64, 64))
        with pytest.raises(InputError, match=r"state slot 0: streamed features of shape \(1, 24, 32, 32\)"):
            net.step(make_inputs(1, 32, 48), state)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"mv_gather: expected one of \('nearest', 'bilinear'\), got 'cubic'"):
        FSNet(mv_gather="cubic")
    with pytest.raises(ConfigError, match=r"clamp: expected one of \('per_sample', 'batch'\), got 'global'"):
        FSNet(clamp="global")
    with pytest.raises(ConfigError, match=r"warp: expected one of \('exact', 'original'\), got 'ndc'"):
        FSNet(warp="ndc")
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge' \(presets: fsnet, fsnet_lite, fsnet_small\)"):
        FSNet.from_preset("huge")
    with pytest.raises(ConfigError, match=r"FSNet needs history_channels=10"):
        FSNet(history_channels=7)
    with pytest.raises(ConfigError, match=r"decoder out_channels \(8, 8, 8, 2\) too narrow"):
        FSNet(decoder_out=(8, 8, 8, 2))
    assert set(PRESETS) == {"fsnet", "fsnet_lite", "fsnet_small"}


def test_bf16_autocast_channels_last_stays_close_to_fp32():
    net = make_net("fsnet_small").eval()
    inputs = make_inputs(1, 32, 48)
    with torch.inference_mode():
        ref = net(inputs)
        fast = net.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fast(inputs)
    assert out.color.dtype == torch.float32
    err = (out.color - ref.color).abs().mean() / ref.color.abs().mean()
    assert err < 0.02
