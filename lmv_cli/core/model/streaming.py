"""Feature streaming (docs/model.md#feature-streaming): a history frame that was itself *predicted* passes
the features of the pass that predicted it to every later pass that uses it as history.

Each history slot k (k = 0, 1, 2 ↔ t−1, t−2, t−3) holds either `None` (that frame was rendered: zero
state) or the `StreamedFeatures` of its producing pass. Per level (1/2, 1/4, 1/8) a ConvLSTM-style gate
mixes that state into the history encoder's skip: `σ(f)·x + σ(i)·tanh(g̃)`, `[i, f, g̃] = conv1×1(h ‖ g)`,
where x is the skip, h the producing pass's decoder feature compressed by a recurrent encoder
(conv1×1 + tanh) and g that pass's G-buffer-encoder skip. Everything streamed is detached (no BPTT).

Deviation from the original, forward-identical: the original applied the recurrent encoders in the
producing pass and streamed their detached outputs, so the recurrent encoders never received a gradient
(their outputs are used only by later passes). Here the producing pass streams its raw decoder features
(detached) and the consuming pass applies the recurrent encoder: the same values, but the recurrent
encoders now learn through the gates they feed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import nn

from lmv_cli.core.model.blocks import RecurrentEncoder
from lmv_cli.core.model.encoder import Encoding
from lmv_cli.core.config import HISTORY_SLOTS


class GateCell(nn.Module):
    """The ConvLSTM-style gate of docs/model.md#feature-streaming: no output gate and no cell state carried over.

    `forward(x, h, g) = σ(f)·x + σ(i)·tanh(g̃)` with `[i, f, g̃] = conv1×1(cat(h, g))`; x (B, C, h, w),
    h and g together `state_channels` channels; the output has x's shape.
    """

    def __init__(self, channels: int, state_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(state_channels, 3 * channels, kernel_size=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        i, f, c = self.conv(torch.cat((h, g), dim=1)).chunk(3, dim=1)
        return torch.sigmoid(f) * x + torch.sigmoid(i) * torch.tanh(c)


class StreamedFeatures(NamedTuple):
    """What one pass streams to the passes that use its prediction as history (detached, padded size).

    decoder: the decoder's outputs at 1/2, 1/4, 1/8 (48, 64, 96 channels in `fsnet`), before the
    recurrent encoders; gbuffer: the pass's G-buffer-encoder skips at 1/2, 1/4, 1/8 (24, 32, 48).
    """

    decoder: tuple[torch.Tensor, ...]
    gbuffer: tuple[torch.Tensor, ...]

    def detached(self) -> StreamedFeatures:
        return StreamedFeatures(tuple(t.detach() for t in self.decoder), tuple(t.detach() for t in self.gbuffer))


@dataclass(frozen=True)
class StreamState:
    """The history slots as the next pass sees them, newest first (slot k ↔ frame t−1−k).

    streams[k]: the `StreamedFeatures` of the pass that predicted history frame k, or None when that
    frame was rendered (zero state). encodings[k]: the gated history encoding of frame k computed by an
    earlier `FSNet.step`, or None; `step` reuses it instead of re-encoding (the frame t−1 encoded at step
    t is slot 1 at step t+1). Shifting is explicit: after predicting frame t, `push(outputs.stream)`
    (the prediction becomes history); after a rendered frame, `push_rendered()`; when a slot's frame is
    replaced by its rendered version, `mark_rendered(k)`.
    """

    streams: tuple[StreamedFeatures | None, ...] = (None,) * HISTORY_SLOTS
    encodings: tuple[Encoding | None, ...] = (None,) * HISTORY_SLOTS

    def push(self, streamed: StreamedFeatures | None) -> StreamState:
        """A new frame enters as slot 0 (predicted with `streamed`, or rendered if None); the oldest drops."""
        return StreamState((streamed, *self.streams[:-1]), (None, *self.encodings[:-1]))

    def push_rendered(self) -> StreamState:
        """A rendered frame enters as slot 0 (zero streaming state)."""
        return self.push(None)

    def mark_rendered(self, slot: int = 0) -> StreamState:
        """Slot `slot` now holds the rendered frame: drop its streamed features and its cached encoding."""
        streams, encodings = list(self.streams), list(self.encodings)
        streams[slot], encodings[slot] = None, None
        return replace(self, streams=tuple(streams), encodings=tuple(encodings))

    def without_encodings(self) -> StreamState:
        """The same slots with every cached encoding dropped (forces re-encoding)."""
        return replace(self, encodings=(None,) * len(self.streams))

    @property
    def predicted(self) -> tuple[bool, ...]:
        """Per slot: whether the history frame was predicted (has streamed features)."""
        return tuple(s is not None for s in self.streams)


class FeatureStreaming(nn.Module):
    """Recurrent encoders + gate cells for the three skip levels (1/2, 1/4, 1/8), shared by all slots.

    `fsnet`: recurrent encoders 48→24, 64→32, 96→48; cells in 24/32/48, state 48/64/96 channels.
    """

    def __init__(
        self, skip_channels: tuple[int, ...], gbuffer_channels: tuple[int, ...], decoder_channels: tuple[int, ...]
    ):
        super().__init__()
        self.recurrent_encoders = nn.ModuleList(
            RecurrentEncoder(d, s) for d, s in zip(decoder_channels, skip_channels, strict=True)
        )
        self.cells = nn.ModuleList(GateCell(s, s + g) for s, g in zip(skip_channels, gbuffer_channels, strict=True))

    def forward(self, skips: tuple[torch.Tensor, ...], streamed: StreamedFeatures | None) -> tuple[torch.Tensor, ...]:
        """Gate one history frame's skips (1/2, 1/4, 1/8) with the state of the pass that produced it.

        A rendered frame (`streamed` None) gets zero state, created here with the skip's shape, device
        and dtype (the original kept a global zero cache that fixed the resolution and batch size).
        """
        gated = []
        for level, (x, cell) in enumerate(zip(skips, self.cells, strict=True)):
            h, g = self._state(level, x, streamed)
            gated.append(cell(x, h, g))
        return tuple(gated)

    def _state(
        self, level: int, x: torch.Tensor, streamed: StreamedFeatures | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, g) of one level: the recurrent-encoded decoder feature and the G-buffer skip, or zeros."""
        encoder = self.recurrent_encoders[level]
        if streamed is None:
            b, _, h, w = x.shape
            gbuffer_channels = self.cells[level].conv.in_channels - encoder.conv.out_channels
            return x.new_zeros(b, encoder.conv.out_channels, h, w), x.new_zeros(b, gbuffer_channels, h, w)
        return encoder(streamed.decoder[level]), streamed.gbuffer[level]
