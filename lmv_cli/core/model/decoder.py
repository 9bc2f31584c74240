"""FSNet's decoder with per-level learnable motion vectors and the 7-channel output head (docs/model.md#forward-pass,
steps 5–8).

Pyramid levels L: 4 = 1/16 (bottlenecks), 3 = 1/8, 2 = 1/4, 1 = 1/2, 0 = full resolution. At every level
L = 3, 2, 1 the incoming feature T carries, in its first 4·n channels (n history frames, interleaved per
frame k), the raw spatial flow `smv0_k` and residual flow `smv_res_k`; through tanh, plus the 2×
upsampled flow of the level below (a residual flow pyramid, NDC so no magnitude change), they form
`LMV_k = MV_k↓(p − smv0_k) + smv_res_k`, which warps history frame k's skip. The next decoder block sees
`[warped skips of all frames, G-buffer skip, all smv0, all smv_res (grouped by kind), T[:, 4n:]]`.
At full resolution only history frame 0 gets flows (→ LMV1, which warps the opaque colour and the sky);
the output head reads the *raw* output of the last decoder block (as the released network: its first 4
channels are the pre-tanh flow logits that LMV1 is made of) and returns a 3-channel residual and two raw
flow increments that refine LMV1's flows into LMV2, which warps the translucency layers. Every warp and
gather follows the warp convention `warp` ("exact" or "original", `warp.py`). Flows stay in their
learned unit (`resolution.py`: NDC, or pixels of the network's grid / 64) and become NDC only where an
LMV is formed (`flow_scale`): the pyramid, the re-injected flows and the zero-flow loss see the unit.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.blocks import DecoderBlock, OutputBlock
from lmv_cli.core.model.lmv import MV_GATHER_MODES, learnable_mv, resize_mv, upsample_flow, warp_feature
from lmv_cli.core.model.warp import WARP_CONVENTIONS

FSNET_DECODER_MID = (96, 128, 96, 64)
FSNET_DECODER_OUT = (96, 64, 48, 32)
"""Mid / output channels of the released decoder blocks at 1/16→1/8, 1/8→1/4, 1/4→1/2, 1/2→1 (docs/model.md#forward-pass)."""

HEAD_OUTPUTS = (3, 2, 2)
"""Output head channels: residual (gl), raw smv0 increment, raw smv_res increment (docs/model.md#forward-pass, step 7).
A decoder with `blend_channels` appends those to the residual (`DecoderResult.residual`: 3 + blend channels)."""

FLOWS_PER_FRAME = 4
"""smv0 (2) + smv_res (2) channels read from the decoder feature per history frame and level."""

Flow = tuple[torch.Tensor, torch.Tensor]
"""(smv0, smv_res) of one history frame at one level, each (B, 2, h, w), NDC."""


class DecoderResult(NamedTuple):
    """The decoder's predictions on the padded frame (B, ·, H, W)."""

    residual: torch.Tensor  # (B, 3 [+ blend], H, W) gl: residual added to the LMV1-warped base (+ the blend logits)
    lmv1: torch.Tensor  # (B, 2, H, W) NDC: learnable MV of history frame 0 (opaque colour, sky)
    lmv2: torch.Tensor  # (B, 2, H, W) NDC: refined LMV (translucency colour and alpha)
    # (level L, (B, 2, H/2^L, W/2^L)): every smv0 / smv_res as used (coarser level already added), in
    # order L = 3, 2, 1 (k = 0..n−1, smv0 then smv_res), then L = 0: frame 0's pair and the head's refined pair
    flows: list[tuple[int, torch.Tensor]]
    features: tuple[torch.Tensor, ...]  # decoder outputs at 1/2, 1/4, 1/8, streamed to later passes


class Decoder(nn.Module):
    """Four decoder blocks (1/16 → full resolution) plus the output head; see the module docstring."""

    def __init__(
        self,
        *,
        skip_channels: tuple[int, ...],
        gbuffer_skip_channels: tuple[int, ...],
        bottleneck_channels: int,
        gbuffer_bottleneck_channels: int,
        mid_channels: tuple[int, ...] = FSNET_DECODER_MID,
        out_channels: tuple[int, ...] = FSNET_DECODER_OUT,
        head_channels: int = 32,
        history_frames: int = 3,
        mv_gather: str = "nearest",
        warp: str = "exact",
        blend_channels: int = 0,
    ):
        super().__init__()
        if mv_gather not in MV_GATHER_MODES:
            raise ConfigError(f"mv_gather: expected one of {MV_GATHER_MODES}, got {mv_gather!r}")
        if warp not in WARP_CONVENTIONS:
            raise ConfigError(f"warp: expected one of {WARP_CONVENTIONS}, got {warp!r}")
        flow_channels = FLOWS_PER_FRAME * history_frames
        if min(out_channels[:-1]) < flow_channels or out_channels[-1] < FLOWS_PER_FRAME:
            raise ConfigError(
                f"decoder out_channels {out_channels} too narrow to carry the flows ({flow_channels} channels)"
            )
        self.history_frames = history_frames
        self.mv_gather = mv_gather
        self.warp = warp
        in_channels = [history_frames * bottleneck_channels + gbuffer_bottleneck_channels]
        for j in range(1, 4):  # block j consumes the skips of level L = 4 − j (skip index L − 1)
            s = 3 - j
            # the flows replace (not add to) the first 4n channels of the previous block's output
            in_channels.append(history_frames * skip_channels[s] + gbuffer_skip_channels[s] + out_channels[j - 1])
        self.blocks = nn.ModuleList(
            DecoderBlock(i, m, o) for i, m, o in zip(in_channels, mid_channels, out_channels, strict=True)
        )
        self.head_outputs = (HEAD_OUTPUTS[0] + blend_channels, *HEAD_OUTPUTS[1:])
        self.head = OutputBlock(out_channels[-1], head_channels, sum(self.head_outputs))

    def forward(
        self,
        bottleneck: torch.Tensor,
        history_skips: Sequence[tuple[torch.Tensor, ...]],
        gbuffer_skips: tuple[torch.Tensor, ...],
        mvs: Sequence[torch.Tensor],
        flow_scale: torch.Tensor | None = None,
    ) -> DecoderResult:
        """Decode. bottleneck: (B, n·48 + 48, H/16, W/16), the warped history bottlenecks and the G-buffer
        bottleneck; history_skips[k]: gated skips of frame k at 1/2, 1/4, 1/8; gbuffer_skips: the current
        G-buffer skips at 1/2, 1/4, 1/8; mvs[k]: rendered merged MV (B, 2, H, W) from frame t−1−k to t;
        flow_scale: (1, 2, 1, 1) NDC per learned-flow unit (None: the flows are NDC).
        """
        t = self.blocks[0](bottleneck)  # (B, 96, H/8, W/8)
        features, flows, previous = [t], [], None
        for j in range(1, 4):
            level = 4 - j
            pairs = self._flows(t, self.history_frames, previous)
            size = tuple(t.shape[-2:])
            lmvs = [self.learnable_mv(resize_mv(mv, size), pair, flow_scale) for mv, pair in zip(mvs, pairs)]
            warped = [warp_feature(history_skips[k][level - 1], lmv, convention=self.warp) for k, lmv in enumerate(lmvs)]
            smv0s, smv_ress = [p[0] for p in pairs], [p[1] for p in pairs]
            rest = t[:, FLOWS_PER_FRAME * self.history_frames :]
            t = self.blocks[j](torch.cat((*warped, gbuffer_skips[level - 1], *smv0s, *smv_ress, rest), dim=1))
            if j < 3:
                features.append(t)
            flows += [(level, f) for pair in pairs for f in pair]
            previous = pairs
        residual, lmv1, lmv2, head_flows = self._full_resolution(t, mvs[0], previous[0], flow_scale)
        return DecoderResult(residual, lmv1, lmv2, flows + head_flows, tuple(reversed(features)))

    def _full_resolution(
        self, t: torch.Tensor, mv0: torch.Tensor, previous: Flow, flow_scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[int, torch.Tensor]]]:
        """Level 0, history frame 0 only: LMV1, the output head, LMV2 (docs/model.md#forward-pass, steps 6–8). The head
        reads the raw block output t, as the released network (not the flows made from it)."""
        smv0, smv_res = self._flows(t, 1, [previous])[0]
        lmv1 = self.learnable_mv(mv0, (smv0, smv_res), flow_scale)
        head = self.head(t)
        residual, raw_smv0, raw_smv_res = head.split(self.head_outputs, dim=1)
        smv0_2 = smv0 + torch.tanh(raw_smv0)
        smv_res_2 = smv_res + torch.tanh(raw_smv_res)
        lmv2 = self.learnable_mv(mv0, (smv0_2, smv_res_2), flow_scale)
        return residual, lmv1, lmv2, [(0, smv0), (0, smv_res), (0, smv0_2), (0, smv_res_2)]

    def learnable_mv(self, mv: torch.Tensor, flow: Flow, flow_scale: torch.Tensor | None = None) -> torch.Tensor:
        """The learnable MV (NDC) of one history frame at one level, with this decoder's gather and
        convention; `flow_scale` (1, 2, 1, 1) turns flows of another unit into NDC first."""
        if flow_scale is not None:
            flow = (flow[0] * flow_scale, flow[1] * flow_scale)
        return learnable_mv(mv, *flow, mode=self.mv_gather, convention=self.warp)

    def flow_logit_channels(self, block: int) -> int:
        """How many leading output channels of decoder block `block` are read as flow logits (through
        tanh): 4 per history frame, only frame 0 at full resolution (the last block)."""
        return FLOWS_PER_FRAME * (1 if block == len(self.blocks) - 1 else self.history_frames)

    @staticmethod
    def _flows(t: torch.Tensor, frames: int, previous: Sequence[Flow] | None) -> list[Flow]:
        """Per history frame k: tanh of channels [4k, 4k+2) and [4k+2, 4k+4) of t, plus the 2× upsampled
        flows of the level below when there is one (the residual flow pyramid)."""
        pairs = []
        for k in range(frames):
            smv0 = torch.tanh(t[:, FLOWS_PER_FRAME * k : FLOWS_PER_FRAME * k + 2])
            smv_res = torch.tanh(t[:, FLOWS_PER_FRAME * k + 2 : FLOWS_PER_FRAME * k + 4])
            if previous is not None:
                smv0 = smv0 + upsample_flow(previous[k][0])
                smv_res = smv_res + upsample_flow(previous[k][1])
            pairs.append((smv0, smv_res))
        return pairs
