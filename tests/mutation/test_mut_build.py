"""Mutation-killing tests for lmv_cli/core/model/build.py (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import re

import pytest

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.build import build_model


def test_an_unknown_preset_names_it_and_the_sorted_presets():
    message = "'model.preset': unknown preset 'big' (presets: fsnet, fsnet_lite, fsnet_small)"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        build_model(ModelConfig(preset="big"))


def test_the_preset_sets_the_architecture():
    # fsnet_small: every width halved, 520,729 parameters (the default FSNet arguments are the fsnet preset)
    small = build_model(ModelConfig(preset="fsnet_small"))
    assert sum(p.numel() for p in small.parameters()) == 520_729
    assert small.downscale == 1 and small.decoder.head.conv.out_channels == 16
    lite = build_model(ModelConfig(preset="fsnet_lite"))
    assert sum(p.numel() for p in lite.parameters()) == 352_241
    assert lite.downscale == 2


@pytest.mark.parametrize("mv_gather", ["nearest", "bilinear"])
def test_the_mv_gather_option_reaches_the_decoder(mv_gather):
    model = build_model(ModelConfig(preset="fsnet_small", mv_gather=mv_gather))
    assert model.decoder.mv_gather == mv_gather
