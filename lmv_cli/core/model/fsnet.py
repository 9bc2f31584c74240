"""FSNet, the frame-extrapolation network of "Adaptive Recurrent Frame Prediction with Learnable Motion
Vectors" (docs/model.md), assembled from its parts: history and G-buffer encoders (`encoder.py`), feature
streaming (`streaming.py`), the decoder with learnable motion vectors (`decoder.py`).

Preset `fsnet` is the released architecture, 2,076,641 parameters. With `warp="original"`,
`clamp="batch"` and `mv_gather="nearest"` it computes the released network's function (golden test,
`tests/test_golden.py`). Defects of the original fixed here:
- the residual and the prediction are clamped by the maximum of the warped base *per sample*
  (`clamp="per_sample"`); the original used the batch-global maximum through `.item()`, so one bright
  sample changed every other sample's result (`clamp="batch"` reproduces it, without the host sync);
- any H×W: inputs are padded to multiples of 16 and outputs cropped back (`padding.py`);
- no global caches: zero streaming states are created per call with the input's shape, device, dtype;
- no `.item()` or other host syncs in the traced computation (input value checks are skipped while
  tracing/exporting), so one step exports to ONNX;
- the recurrent encoders get a gradient (see `streaming.py`).
Result-changing choices are options: `mv_gather` ("nearest" as the original; "bilinear" also trains
`smv0` through the gather), `clamp`, and `warp`: "exact" (default) samples at pixel centres so that an
NDC motion d moves d·W/2 pixels, the exact meaning of UE4 velocity; "original" reproduces the released
grid (`linspace(−1, 1, W)`, `align_corners=True`: d moves d·(W−1)/2 pixels at every pyramid level).
`init_as_warp_()` makes an untrained network predict the rendered-MV warp of the previous frame.
`downscale=k` (preset `fsnet_lite`: 2) runs the whole network on k×k-averaged inputs and brings its
full-resolution outputs back by upsampling the learned flows and the residual; LMV1/LMV2 are then formed
from the full-resolution rendered MV and everything is composed on the full frame (`_upsample`). With a
`working_height` the factor is chosen per input size, and `flow_unit="pixels"` makes the learned flows
mean the same pixels on a crop and on a full frame (`resolution.py`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from lmv_cli.core.color import BRDF_FLOOR, gamma_log, inv_gamma_log
from lmv_cli.core.errors import ConfigError, InputError
from lmv_cli.core.model.decoder import FSNET_DECODER_MID, FSNET_DECODER_OUT, Decoder, DecoderResult
from lmv_cli.core.model.encoder import FSNET_WIDTHS, Encoder, Encoding
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, NetOutputs, validate_inputs
from lmv_cli.core.model.lmv import resize_mv, warp_feature
from lmv_cli.core.model.padding import PAD_MULTIPLE, crop_flow, mv_scale, pad_inputs, padded_size
from lmv_cli.core.model.resolution import (
    FLOW_UNITS, check_downscale, crop_learned_flow, downsample, flow_to_ndc, working_factor,
)
from lmv_cli.core.model.streaming import FeatureStreaming, StreamedFeatures, StreamState
from lmv_cli.core.model.warp import WARP_CONVENTIONS

PRESETS: dict[str, dict] = {
    # the released architecture (docs/model.md#parameters-and-cost): 2,076,641 parameters, ≈113 GMAC at 1280×720 (96 with
    # two of the three history encodings cached)
    "fsnet": dict(widths=FSNET_WIDTHS, decoder_mid=FSNET_DECODER_MID, decoder_out=FSNET_DECODER_OUT, head_channels=32),
    # every width halved, for CPU experiments: 520,729 parameters, ≈30 GMAC at 1280×720
    "fsnet_small": dict(
        widths=(8, 12, 16, 24, 24), decoder_mid=(48, 64, 48, 32), decoder_out=(48, 32, 24, 16), head_channels=16
    ),
    # the CPU preset: half-width encoders, a decoder that narrows towards full resolution, and the whole
    # network on 2× downsampled inputs (`downscale`): ≈8 GFLOP at 1280×720, 352,241 parameters
    "fsnet_lite": dict(
        widths=(8, 12, 16, 24, 24), decoder_mid=(48, 48, 32, 16), decoder_out=(32, 24, 16, 8), head_channels=16,
        downscale=2,
    ),
}
CLAMP_MODES = ("per_sample", "batch")
DEMODULATE_MODES = (True, False, "learned")
"""What the residual corrects (docs/model.md#forward-pass, step 9): True the warped light, re-modulated by the
current BRDF colour (released); False the warped colour; "learned" both, mixed per pixel by a weight the
head predicts (0 = colour, 1 = re-modulated light), with the current BRDF colour as 3 more G-buffer channels."""
HISTORY_CHANNELS = 10
"""History-encoder input: demodulated light 3, sky 3, translucency colour 3, alpha 1 (docs/model.md#encoders)."""


class FSNet(nn.Module):
    """The network; `forward(inputs, state)` for training, `step(inputs, state)` for frame-by-frame use.

    Takes plain keyword arguments (`PRESETS` names sets of them). Inputs/outputs: `interface.py`.
    Training over a sequence (docs/model.md#feature-streaming): `state = StreamState()`; per frame `out = net(inputs, state)`,
    then `state = state.push(out.stream)` and `state = state.mark_rendered(k)` for every slot k that the
    next frame takes as rendered. Extrapolation: `out, state = net.step(inputs, state)` per predicted
    frame (the state is already pushed) and `state = state.push_rendered()` per rendered frame.
    """

    def __init__(
        self,
        *,
        history_channels: int = HISTORY_CHANNELS,
        gbuffer_channels: int = 6,
        widths: tuple[int, ...] = FSNET_WIDTHS,
        decoder_mid: tuple[int, ...] = FSNET_DECODER_MID,
        decoder_out: tuple[int, ...] = FSNET_DECODER_OUT,
        head_channels: int = 32,
        mv_gather: str = "nearest",
        clamp: str = "per_sample",
        warp: str = "exact",
        demodulate: bool | str = True,
        downscale: int = 1,
        flow_unit: str = "ndc",
        working_height: int | None = None,
    ):
        super().__init__()
        check_downscale(downscale, working_height, warp)
        if flow_unit not in FLOW_UNITS:
            raise ConfigError(f"flow_unit: expected one of {FLOW_UNITS}, got {flow_unit!r}")
        if demodulate not in DEMODULATE_MODES or not isinstance(demodulate, (bool, str)):
            raise ConfigError(f"demodulate: expected one of {DEMODULATE_MODES}, got {demodulate!r}")
        if clamp not in CLAMP_MODES:
            raise ConfigError(f"clamp: expected one of {CLAMP_MODES}, got {clamp!r}")
        if warp not in WARP_CONVENTIONS:
            raise ConfigError(f"warp: expected one of {WARP_CONVENTIONS}, got {warp!r}")
        if history_channels != HISTORY_CHANNELS or len(widths) != 5 or len(decoder_mid) != 4 or len(decoder_out) != 4:
            raise ConfigError(
                f"FSNet needs history_channels={HISTORY_CHANNELS}, 5 encoder widths and 4 decoder widths; got "
                f"{history_channels}, {tuple(widths)}, {tuple(decoder_mid)}, {tuple(decoder_out)}"
            )
        self.gbuffer_channels = gbuffer_channels
        self.clamp = clamp
        self.warp = warp
        self.demodulate = demodulate
        self.downscale = downscale
        self.flow_unit = flow_unit
        self.working_height = working_height  # the trained grid height: factor chosen per input (resolution.py)
        self.history_encoder = Encoder(history_channels, tuple(widths))
        self.gbuffer_encoder = Encoder(gbuffer_channels + (3 if self.blends else 0), tuple(widths))
        skips = self.history_encoder.skip_channels
        # decoder outputs at 1/2, 1/4, 1/8 are streamed: blocks 2, 1, 0
        self.streaming = FeatureStreaming(skips, self.gbuffer_encoder.skip_channels, tuple(reversed(decoder_out[:3])))
        self.decoder = Decoder(
            skip_channels=skips,
            gbuffer_skip_channels=self.gbuffer_encoder.skip_channels,
            bottleneck_channels=self.history_encoder.bottleneck_channels,
            gbuffer_bottleneck_channels=self.gbuffer_encoder.bottleneck_channels,
            mid_channels=tuple(decoder_mid),
            out_channels=tuple(decoder_out),
            head_channels=head_channels,
            mv_gather=mv_gather,
            warp=warp,
            blend_channels=1 if self.blends else 0,
        )

    @property
    def blends(self) -> bool:
        """True with `demodulate="learned"`: the head also predicts the colour/light blend weight."""
        return self.demodulate == "learned"

    @property
    def pad_multiple(self) -> int:
        """Frame sizes that need no padding anywhere: multiples of 16 at the network's resolution (the
        flat ONNX step takes inputs padded to this)."""
        return PAD_MULTIPLE * self.downscale

    def factor(self, height: int) -> int:
        """The factor the network runs at for inputs `height` px high: `downscale`, or with a
        `working_height` the integer that brings the input closest to it (`resolution.working_factor`)."""
        return working_factor(height, self.downscale, self.working_height)

    def at_fixed_factor(self, factor: int) -> FSNet:
        """A copy that runs the network at `factor` for every input size (no `working_height`): what a
        graph traced once (ONNX) can compute, since the factor is fixed when it is traced."""
        check_downscale(factor, None, self.warp)
        fixed = copy.deepcopy(self)
        fixed.downscale, fixed.working_height = factor, None
        return fixed

    def at_network(self, x: torch.Tensor, *, motion: bool = False, factor: int | None = None) -> torch.Tensor:
        """A map of the (with factor 1: already padded) frame at the network's resolution: with factor
        k > 1 (default `downscale`), means of k×k pixels, then padded to multiples of 16 (`motion`: an
        NDC field, rescaled to the padded frame as `pad_inputs` does). NDC values keep their meaning
        under the downsampling, so motion fields need no other change."""
        factor = self.downscale if factor is None else factor
        if factor == 1:
            return x
        x = downsample(x, factor)
        h, w = x.shape[-2:]
        ph, pw = padded_size(h, w)
        if (ph, pw) == (h, w):
            return x
        padded = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        return padded * mv_scale((h, w), (ph, pw), x, self.warp) if motion else padded

    @classmethod
    def from_preset(cls, name: str, **options) -> FSNet:
        """`FSNet(**PRESETS[name], **options)`; `ConfigError` for an unknown preset."""
        if name not in PRESETS:
            raise ConfigError(f"unknown model preset {name!r} (presets: {', '.join(sorted(PRESETS))})")
        return cls(**PRESETS[name], **options)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part (the values add up to the total); `fsnet`: 104,885 + 104,309 + 1,835,799
        + 7,912 + 23,736 = 2,076,641 (docs/model.md#parameters-and-cost)."""
        parts = {
            "history_encoder": self.history_encoder,
            "gbuffer_encoder": self.gbuffer_encoder,
            "decoder": self.decoder,
            "recurrent_encoders": self.streaming.recurrent_encoders,
            "streaming_cells": self.streaming.cells,
        }
        return {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}

    @torch.no_grad()
    def init_as_warp_(self) -> FSNet:
        """Zero the weights and biases that produce flow logits (the leading output channels of every
        decoder block's deconvolution, read as smv0 / smv_res through tanh) and the output head's last
        convolution (residual and the LMV2 increments). Every learned flow and the residual are then 0:
        the untrained network predicts the previous frame warped by the rendered MV, demodulated by its
        own BRDF colour and re-modulated by the current one. Gradients still reach every parameter after
        the first optimizer step (the zeroed layers get a gradient from their non-zero inputs)."""
        for j, block in enumerate(self.decoder.blocks):
            n = self.decoder.flow_logit_channels(j)
            block.up.weight[:, :n] = 0.0  # ConvTranspose2d weight: (in, out, kh, kw)
            block.up.bias[:n] = 0.0
        self.decoder.head.out.weight.zero_()
        self.decoder.head.out.bias.zero_()
        return self

    def forward(self, inputs: NetInputs, state: StreamState | None = None) -> NetOutputs:
        """Predict frame t; every history frame is encoded (cached encodings in `state` are ignored), so
        gradients reach the history encoder through all three. `state` None = all history rendered."""
        outputs, _ = self._predict(inputs, (state or StreamState()).without_encodings())
        return outputs

    def step(self, inputs: NetInputs, state: StreamState | None = None) -> tuple[NetOutputs, StreamState]:
        """Predict frame t for frame-by-frame use and return the state for frame t+1.

        History slots with a cached encoding in `state` are not re-encoded: their `inputs.history`
        entries are only validated (slot 0's colours are always read, for the residual base, sky and
        ST). The returned state assumes the prediction becomes history slot 0
        (`state.push(outputs.stream)`), carrying the encodings computed here; if frame t is rendered
        instead, call `.mark_rendered(0)` on it.
        """
        state = state or StreamState()
        outputs, encodings = self._predict(inputs, state)
        cached = tuple(Encoding(tuple(s.detach() for s in e.skips), e.bottleneck.detach()) for e in encodings)
        return outputs, StreamState(state.streams, cached).push(outputs.stream)

    def encode_history(self, frame: HistoryFrame, streamed: StreamedFeatures | None, factor: int | None = None) -> Encoding:
        """History encoder + streaming gates for one (padded) history frame (docs/model.md#forward-pass, steps 1, 3)."""
        encoding = self.history_encoder(self.at_network(frame.encoder_input(), factor=factor))
        return Encoding(self.streaming(encoding.skips, streamed), encoding.bottleneck)

    def _predict(self, inputs: NetInputs, state: StreamState) -> tuple[NetOutputs, list[Encoding]]:
        """The pipeline of docs/model.md#forward-pass on the padded frame, cropped back at the end. With a factor k > 1
        the network pads at its own resolution and the composition runs on the unpadded frame."""
        _, height, width = validate_inputs(inputs, gbuffer_channels=self.gbuffer_channels, check_values=not _tracing())
        k = self.factor(height)
        x = pad_inputs(inputs, PAD_MULTIPLE, self.warp) if k == 1 else inputs
        gbuffer_maps = torch.cat((x.gbuffer, gamma_log(x.brdf_color)), dim=1) if self.blends else x.gbuffer
        net_gbuffer = self.at_network(gbuffer_maps, factor=k)
        net_mvs = [self.at_network(mv, motion=True, factor=k) for mv in x.merged_mv]
        _check_state(state, net_gbuffer)
        gbuffer = self.gbuffer_encoder(net_gbuffer)  # skips 24@1/2, 32@1/4, 48@1/8; bottleneck 48@1/16
        history = [
            cached if cached is not None else self.encode_history(frame, streamed, k)
            for frame, streamed, cached in zip(x.history, state.streams, state.encodings, strict=True)
        ]
        # bottlenecks are aligned with the rendered motion only, resized to 1/16 (docs/model.md#forward-pass, step 4)
        bottlenecks = [
            warp_feature(e.bottleneck, resize_mv(mv, e.bottleneck.shape[-2:]), convention=self.warp)
            for e, mv in zip(history, net_mvs)
        ]
        padded = tuple(net_gbuffer.shape[-2:])
        decoded = self.decoder(
            torch.cat((*bottlenecks, gbuffer.bottleneck), dim=1), [e.skips for e in history], gbuffer.skips, net_mvs,
            flow_to_ndc(self.flow_unit, net_gbuffer, 1),
        )
        net_size = tuple(-(-s // k) for s in (height, width))  # ceil: the pooled size
        flows = [(level, crop_learned_flow(f, self.flow_unit, level, net_size, padded, self.warp))
                 for level, f in decoded.flows]  # levels of the network's own pyramid, as the loss weights them
        if k > 1:
            decoded = self._upsample(decoded._replace(flows=flows), x.merged_mv[0], k)
        outputs = self._compose(x, decoded, (height, width))
        outputs.flows = flows
        outputs.stream = StreamedFeatures(decoded.features, gbuffer.skips).detached()
        return outputs, history

    def _upsample(self, decoded: DecoderResult, mv0: torch.Tensor, factor: int) -> DecoderResult:
        """The network's full-resolution outputs, made at 1/`factor`, brought to the (unpadded) frame of
        `mv0`: the learned flows (`decoded.flows`, already cropped to the unpadded network frame) and the
        residual are upsampled (bilinear; values are NDC or network pixels / 64, converted to the full
        frame's NDC where the LMVs are formed), and LMV1/LMV2 are formed again from them and the
        *full-resolution* rendered MV, so geometric edges stay sharp. With every learned flow and the
        residual 0 (`init_as_warp_`) this is the full-resolution warp exactly."""
        h, w = mv0.shape[-2:]
        net_h, net_w = decoded.flows[-1][1].shape[-2:]
        maps = torch.cat((*(f for _, f in decoded.flows[-4:]), decoded.residual[..., :net_h, :net_w]), dim=1)
        maps = F.interpolate(maps, scale_factor=float(factor), mode="bilinear")[..., :h, :w]
        smv0, smv_res, smv0_2, smv_res_2, residual = maps.split((2, 2, 2, 2, decoded.residual.shape[1]), dim=1)
        scale = flow_to_ndc(self.flow_unit, mv0, factor)
        return decoded._replace(
            residual=residual,
            lmv1=self.decoder.learnable_mv(mv0, (smv0, smv_res), scale),
            lmv2=self.decoder.learnable_mv(mv0, (smv0_2, smv_res_2), scale),
        )

    def _compose(self, x: NetInputs, decoded: DecoderResult, size: tuple[int, int]) -> NetOutputs:
        """Shading from the previous frame (docs/model.md#forward-pass, steps 9–11), then crop to `size`."""
        h0 = x.history[0]
        warp = self.warp
        floor_now = x.brdf_color.clamp_min(BRDF_FLOOR)
        bases = []
        if self.demodulate is not True:
            # the residual corrects the warped colour itself: no re-modulation at material edges (light
            # is reported demodulated for the loss and the outputs)
            bases.append(gamma_log(h0.color_no_st))
        if self.demodulate:
            # demodulate t−1 by its own BRDF colour *before* warping, then warp with LMV1 (gl space)
            bases.append(gamma_log(h0.color_no_st / h0.brdf_color.clamp_min(BRDF_FLOOR)))
        # layers that share a motion are sampled together (one grid): opaque bases and sky by LMV1,
        # translucency colour and alpha by LMV2
        lmv1_layers = warp_feature(torch.cat((*bases, h0.sky), dim=1), decoded.lmv1, convention=warp)
        lmv2_layers = warp_feature(torch.cat((h0.st_color, h0.st_alpha), dim=1), decoded.lmv2, convention=warp)
        *warped, sky_gl = lmv1_layers.split(3, 1)
        st_gl, st_alpha = lmv2_layers.split((3, 1), 1)
        residual = decoded.residual.to(sky_gl.dtype)
        corrected = [inv_gamma_log(self._add_residual(residual[:, :3], base, size)) for base in warped]
        if self.blends:
            # per pixel between the corrected colour (weight 0, the untrained network) and the corrected
            # light re-modulated by the current BRDF colour (weight 1)
            weight = residual[:, 3:4].clamp(0.0, 1.0)
            opaque = corrected[0] + weight * (corrected[1] * floor_now - corrected[0])
            light = opaque / floor_now
        elif self.demodulate:
            light, opaque = corrected[0], corrected[0] * floor_now  # re-modulated by the *current* BRDF colour
        else:
            light, opaque = corrected[0] / floor_now, corrected[0]
        sky, st_color, st_alpha = inv_gamma_log(sky_gl), inv_gamma_log(st_gl), st_alpha.clamp(0.0, 1.0)
        no_st = opaque * (1 - x.sky_mask) + sky * x.sky_mask
        color = no_st * st_alpha + st_color
        h, w = size
        padded = tuple(color.shape[-2:])
        return NetOutputs(
            color=color[..., :h, :w],
            color_no_st=no_st[..., :h, :w],
            light_no_st=light[..., :h, :w],
            sky=sky[..., :h, :w],
            st_color=st_color[..., :h, :w],
            st_alpha=st_alpha[..., :h, :w],
            lmv1=crop_flow(decoded.lmv1, 0, size, padded, warp),
            lmv2=crop_flow(decoded.lmv2, 0, size, padded, warp),
        )

    def _add_residual(self, residual: torch.Tensor, base: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`clamp(clamp(r, −m, m) + base, 0, m)` in gl space, m = max of the warped base (docs/model.md#forward-pass, step 9).

        m is taken per sample over the original (unpadded) frame, or over the whole batch with
        `clamp="batch"` (the original). Written with minimum/maximum so it traces without host syncs.
        """
        valid = base[..., : size[0], : size[1]]
        # explicit dims for the batch-global max too: ONNX exporters have no all-dims amax
        m = valid.amax(dim=(1, 2, 3) if self.clamp == "per_sample" else (0, 1, 2, 3), keepdim=True)
        r = torch.minimum(torch.maximum(residual, -m), m)
        return torch.minimum((r + base).clamp_min(0.0), m)


def _tracing() -> bool:
    """True while torch.jit / torch.compile / torch.export trace the model (no host syncs allowed)."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting()


def _check_state(state: StreamState, gbuffer: torch.Tensor) -> None:
    """Streamed features and cached encodings must match the batch and level sizes of the G-buffer at
    the network's resolution (padded)."""
    b, _, h, w = gbuffer.shape
    for k, (streamed, cached) in enumerate(zip(state.streams, state.encodings, strict=True)):
        levels = [*(streamed.decoder if streamed else ()), *(streamed.gbuffer if streamed else ())]
        levels += [*(cached.skips if cached else ())]
        for i, t in enumerate(levels):
            expected = (b, h >> (i % 3 + 1), w >> (i % 3 + 1))  # each group lists 1/2, 1/4, 1/8
            if (t.shape[0], *t.shape[-2:]) != expected:
                raise InputError(
                    f"state slot {k}: streamed features of shape {tuple(t.shape)} do not fit inputs of batch {b} "
                    f"and padded size {h}x{w} (expected batch and size {expected}; the state belongs to another "
                    "batch or resolution)"
                )
