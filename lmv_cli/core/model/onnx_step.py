"""One FSNet step over flat tensors: the graph `lmv export-onnx` writes and the ONNX backends run.

An engine cannot pass dataclasses or `None`, so the step's inputs are packed into a fixed set of
tensors (batch 1, H and W multiples of 16, of 32 for a network with `downscale=2` such as `fsnet_lite`:
the caller pads, as `padding.pad_inputs` does):

    gbuffer (1, 6, H, W)        normal remapped to [0, 1], depth / 65536, roughness, metallic
    brdf_color (1, 3, H, W)     current frame's BRDF colour, linear, >= 0.01
    sky_mask (1, 1, H, W)       {0, 1}
    merged_mv (1, 6, H, W)      M_0, M_1, M_2 (NDC, y down; M_k maps frame t-1-k to t)
    history (1, 30, H, W)       per slot k = 0, 1, 2: light, sky, st_color (gamma-log), st_alpha
    prev_color_no_st (1, 3, H, W), prev_brdf_color (1, 3, H, W)   frame t-1, linear
    stream_valid (3,)           1 where history slot k was predicted (its state is used), 0 if rendered
    state1, state2, state3      streamed state at 1/2, 1/4, 1/8 of the network's resolution (H/downscale):
                                per slot k (channel blocks k = 0, 1, 2)
                                the producing pass's decoder feature then its G-buffer skip

Outputs: color, color_no_st, light_no_st, sky, st_color, st_alpha (1, ·, H, W, linear) and stream1..3,
this pass's state block for each level. The engine's next state is `cat(stream_l, state_l[:, :2·C_l])`
after a predicted frame, and a zero block in front (with valid 0) after a rendered one.

Every history frame is encoded in the graph (no cached encodings): one graph serves every R/P
schedule. The streaming gates are applied here with a multiplicative `stream_valid` mask instead of the
model's `None` branch; `h·0 = 0` makes the two identical (tested against `FSNet.step`).
"""

from __future__ import annotations

import torch
from torch import nn

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.model.encoder import Encoding
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.streaming import StreamState

INPUT_NAMES = (
    "gbuffer", "brdf_color", "sky_mask", "merged_mv", "history", "prev_color_no_st", "prev_brdf_color",
    "stream_valid", "state1", "state2", "state3",
)
OUTPUT_NAMES = ("color", "color_no_st", "light_no_st", "sky", "st_color", "st_alpha", "stream1", "stream2", "stream3")
STREAM_LEVELS = 3
"""Streamed levels 1/2, 1/4, 1/8 (pyramid levels 1, 2, 3)."""


def state_channels(net: FSNet) -> tuple[tuple[int, int], ...]:
    """Per streamed level: (decoder channels, G-buffer skip channels) of one slot's state block."""
    pairs = []
    for encoder, cell in zip(net.streaming.recurrent_encoders, net.streaming.cells, strict=True):
        decoder = encoder.conv.in_channels
        pairs.append((decoder, cell.conv.in_channels - encoder.conv.out_channels))
    return tuple(pairs)


class FlatStep(nn.Module):
    """`FSNet.step` on the flat tensors of the module docstring (wraps the network, shares its weights)."""

    def __init__(self, net: FSNet):
        super().__init__()
        self.net = net
        self.channels = state_channels(net)

    def forward(
        self,
        gbuffer: torch.Tensor,
        brdf_color: torch.Tensor,
        sky_mask: torch.Tensor,
        merged_mv: torch.Tensor,
        history: torch.Tensor,
        prev_color_no_st: torch.Tensor,
        prev_brdf_color: torch.Tensor,
        stream_valid: torch.Tensor,
        state1: torch.Tensor,
        state2: torch.Tensor,
        state3: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        states = (state1, state2, state3)
        frames = history.chunk(HISTORY_SLOTS, dim=1)  # 3 × (1, 10, H, W)
        encodings = tuple(self._encode(frames[k], k, stream_valid[k], states) for k in range(HISTORY_SLOTS))
        slots = tuple(_history_frame(f, prev_color_no_st, prev_brdf_color) for f in frames)
        inputs = NetInputs(
            gbuffer=gbuffer,
            brdf_color=brdf_color,
            sky_mask=sky_mask,
            merged_mv=tuple(merged_mv.chunk(HISTORY_SLOTS, dim=1)),
            history=slots,
        )
        out, _ = self.net.step(inputs, StreamState(encodings=encodings))
        streams = tuple(torch.cat((d, g), dim=1) for d, g in zip(out.stream.decoder, out.stream.gbuffer, strict=True))
        return (out.color, out.color_no_st, out.light_no_st, out.sky, out.st_color, out.st_alpha, *streams)

    def _encode(self, frame: torch.Tensor, k: int, valid: torch.Tensor, states: tuple[torch.Tensor, ...]) -> Encoding:
        """History encoder + streaming gates of slot k; the state is masked by `valid` (0 = rendered)."""
        encoding = self.net.history_encoder(self.net.at_network(frame))
        streaming = self.net.streaming
        gated = []
        for level, x in enumerate(encoding.skips):
            decoder_c, gbuffer_c = self.channels[level]
            block = states[level][:, k * (decoder_c + gbuffer_c) : (k + 1) * (decoder_c + gbuffer_c)]
            h = streaming.recurrent_encoders[level](block[:, :decoder_c]) * valid
            g = block[:, decoder_c:] * valid
            gated.append(streaming.cells[level](x, h, g))
        return Encoding(tuple(gated), encoding.bottleneck)


def _history_frame(frame: torch.Tensor, color_no_st: torch.Tensor, brdf_color: torch.Tensor) -> HistoryFrame:
    """A `HistoryFrame` from a 10-channel encoder input. Only slot 0's colours are read by the step
    (residual base, sky and translucency); slots 1 and 2 carry frame t−1's to pass shape validation."""
    return HistoryFrame(
        light=frame[:, 0:3], sky=frame[:, 3:6], st_color=frame[:, 6:9], st_alpha=frame[:, 9:10],
        color_no_st=color_no_st, brdf_color=brdf_color,
    )
