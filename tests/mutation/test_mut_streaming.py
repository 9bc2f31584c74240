"""Feature-streaming details pinned where mutation testing found them unpinned (docs/testing.md "Mutation
testing"): `StreamState.mark_rendered()` clears slot 0 (frame t−1) by default; `FeatureStreaming`
refuses per-level channel tuples of different lengths and a number of skips that differs from its
number of levels, instead of silently dropping levels."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.model.streaming import FeatureStreaming, StreamedFeatures, StreamState


def features(value: float) -> StreamedFeatures:
    """One-level streamed features, constant `value` (only identity matters here)."""
    return StreamedFeatures((torch.full((1, 2, 2, 2), value),), (torch.full((1, 1, 2, 2), value),))


def test_mark_rendered_default_clears_slot_zero_only():
    a, b, c = features(1.0), features(2.0), features(3.0)
    state = StreamState().push(c).push(b).push(a)
    assert state.streams == (a, b, c)
    marked = state.mark_rendered()
    assert marked.streams == (None, b, c)
    assert marked.predicted == (False, True, True)
    assert marked.encodings == (None, None, None)


def test_decoder_and_skip_channel_counts_must_match():
    # skips and G-buffer agree (3 levels), the decoder lists only 2 levels: refused, not truncated.
    with pytest.raises(ValueError):
        FeatureStreaming(skip_channels=(2, 3, 4), gbuffer_channels=(1, 1, 1), decoder_channels=(2, 2))
    with pytest.raises(ValueError):
        FeatureStreaming(skip_channels=(2, 3), gbuffer_channels=(1, 1), decoder_channels=(2, 2, 2))


def test_skip_and_gbuffer_channel_counts_must_match():
    # skips and decoder agree (3 levels), the G-buffer lists only 2 levels: refused, not truncated.
    with pytest.raises(ValueError):
        FeatureStreaming(skip_channels=(2, 3, 4), gbuffer_channels=(1, 1), decoder_channels=(2, 2, 2))
    with pytest.raises(ValueError):
        FeatureStreaming(skip_channels=(2, 3), gbuffer_channels=(1, 1, 1), decoder_channels=(2, 2))


def small_streaming() -> FeatureStreaming:
    """Two levels: skips 2 and 3 channels, G-buffer skips 1 channel each, decoder features 2 channels."""
    return FeatureStreaming(skip_channels=(2, 3), gbuffer_channels=(1, 1), decoder_channels=(2, 2))


def test_forward_gates_every_level_with_zero_state_for_a_rendered_frame():
    fs = small_streaming()
    for cell in fs.cells:
        torch.nn.init.zeros_(cell.conv.weight)
        torch.nn.init.zeros_(cell.conv.bias)
    skips = (torch.full((1, 2, 4, 4), 2.0), torch.full((1, 3, 2, 2), -4.0))
    gated = fs(skips, None)
    # zero conv: i = f = g̃ = 0, so out = σ(0)·x + σ(0)·tanh(0) = x / 2
    assert len(gated) == 2
    assert torch.equal(gated[0], torch.full((1, 2, 4, 4), 1.0))
    assert torch.equal(gated[1], torch.full((1, 3, 2, 2), -2.0))


def test_forward_refuses_fewer_skips_than_levels():
    fs = small_streaming()
    with pytest.raises(ValueError):
        fs((torch.zeros(1, 2, 4, 4),), None)


def test_forward_refuses_more_skips_than_levels():
    fs = small_streaming()
    skips = (torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 1, 1))
    with pytest.raises(ValueError):
        fs(skips, None)
