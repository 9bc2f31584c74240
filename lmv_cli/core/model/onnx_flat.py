"""`NetInputs` + `StreamState` ↔ the flat tensors of the exported step (`model/onnx_step.py`).

The ONNX backends and `lmv export-onnx`'s validation feed the graph through here, so the engine
contract written in `onnx_step.py` is exercised by the same code the tests run.
"""

from __future__ import annotations

import torch

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import NetInputs, NetOutputs
from lmv_cli.core.model.onnx_step import INPUT_NAMES, OUTPUT_NAMES, state_channels
from lmv_cli.core.model.padding import pad_inputs
from lmv_cli.core.model.streaming import StreamedFeatures, StreamState


def flat_inputs(net: FSNet, inputs: NetInputs, state: StreamState | None = None) -> dict[str, torch.Tensor]:
    """The graph's named inputs for one step: `inputs` padded to multiples of `net.pad_multiple` (float32, batch 1)
    and the streamed state of every slot (zeros and `stream_valid` 0 for rendered slots)."""
    state = state or StreamState()
    x = pad_inputs(inputs, net.pad_multiple, net.warp)
    h0 = x.history[0]
    _, _, height, width = x.gbuffer.shape
    blocks: list[list[torch.Tensor]] = [[] for _ in state_channels(net)]
    for streamed in state.streams:
        for level, (decoder_c, gbuffer_c) in enumerate(state_channels(net)):
            size = (height // net.downscale >> (level + 1), width // net.downscale >> (level + 1))
            if streamed is None:
                blocks[level].append(x.gbuffer.new_zeros(1, decoder_c + gbuffer_c, *size))
            else:
                blocks[level].append(torch.cat((streamed.decoder[level], streamed.gbuffer[level]), dim=1).float())
    named = {
        "gbuffer": x.gbuffer,
        "brdf_color": x.brdf_color,
        "sky_mask": x.sky_mask,
        "merged_mv": torch.cat(x.merged_mv, dim=1),
        "history": torch.cat([f.encoder_input() for f in x.history], dim=1),
        "prev_color_no_st": h0.color_no_st,
        "prev_brdf_color": h0.brdf_color,
        "stream_valid": torch.tensor([float(s is not None) for s in state.streams]),
        **{f"state{level + 1}": torch.cat(b, dim=1) for level, b in enumerate(blocks)},
    }
    return {k: named[k].float().contiguous() for k in INPUT_NAMES}


def outputs_from_flat(
    net: FSNet, values: dict[str, torch.Tensor], size: tuple[int, int], state: StreamState | None = None
) -> tuple[NetOutputs, StreamState]:
    """The graph's named outputs → (`NetOutputs` cropped to `size`, the state for the next step), as
    `FSNet.step` returns them (no flows or LMVs: the graph does not output them; no cached encodings)."""
    h, w = size
    crop = {name: values[name][..., :h, :w] for name in OUTPUT_NAMES[:6]}
    decoder, gbuffer = [], []
    for level, (decoder_c, _) in enumerate(state_channels(net)):
        block = values[f"stream{level + 1}"]
        decoder.append(block[:, :decoder_c])
        gbuffer.append(block[:, decoder_c:])
    stream = StreamedFeatures(tuple(decoder), tuple(gbuffer))
    outputs = NetOutputs(**crop, stream=stream)
    streams = (state or StreamState()).streams
    return outputs, StreamState(streams, (None,) * HISTORY_SLOTS).push(stream)
