"""`build_model(cfg)`: the one place that turns the model configuration into a network.

Modules below take plain keyword arguments and never see the config object (STYLE "Config"); a preset
names a set of architecture arguments in `fsnet.PRESETS`, the config adds the result-changing options
and the initialisation.
"""

from __future__ import annotations

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.fsnet import PRESETS, FSNet


def build_model(cfg: ModelConfig) -> FSNet:
    """Build the FSNet of preset `cfg.preset` with the options of `cfg`, freshly initialised: PyTorch's
    default initialisation, then with `cfg.init == "warp"` `FSNet.init_as_warp_()` (loading weights
    afterwards replaces both)."""
    if cfg.preset not in PRESETS:
        raise ConfigError(f"'model.preset': unknown preset {cfg.preset!r} (presets: {', '.join(sorted(PRESETS))})")
    model = FSNet(**PRESETS[cfg.preset], mv_gather=cfg.mv_gather, clamp=cfg.clamp, warp=cfg.warp,
                  demodulate=cfg.demodulate)
    if cfg.init == "warp":
        model.init_as_warp_()
    return model
