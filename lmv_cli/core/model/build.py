"""`build_model(cfg)`: the one place that turns the model configuration into a network.

Modules below take plain keyword arguments and never see the config object (STYLE "Config"); a preset
names a set of architecture arguments in `fsnet.PRESETS`, the config adds the result-changing options
and the initialisation.
"""

from __future__ import annotations

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.fsnet import PRESETS, FSNet


def build_model(cfg: ModelConfig, train_resolution: dict | None = None) -> FSNet:
    """Build the FSNet of preset `cfg.preset` with the options of `cfg`, freshly initialised: PyTorch's
    default initialisation, then with `cfg.init == "warp"` `FSNet.init_as_warp_()` (loading weights
    afterwards replaces both).

    `cfg.downscale` "preset" and "auto" run the network at the preset's factor, an integer at that
    factor; with "auto" and the `train_resolution` a model file records ({"frame": [W, H], ...}) the
    factor is chosen per input size instead (`resolution.working_factor`), for the trained density.
    """
    if cfg.preset not in PRESETS:
        raise ConfigError(f"'model.preset': unknown preset {cfg.preset!r} (presets: {', '.join(sorted(PRESETS))})")
    options = dict(PRESETS[cfg.preset])
    if isinstance(cfg.downscale, int):
        options["downscale"] = cfg.downscale
    model = FSNet(**options, mv_gather=cfg.mv_gather, clamp=cfg.clamp, warp=cfg.warp, demodulate=cfg.demodulate,
                  flow_unit=cfg.flow_unit, working_height=_working_height(cfg, options.get("downscale", 1), train_resolution))
    if cfg.init == "warp":
        model.init_as_warp_()
    return model


def _working_height(cfg: ModelConfig, factor: int, train_resolution: dict | None) -> int | None:
    """The height of the network's grid at training (frame height / training factor) for "auto"; a
    missing or malformed record gives None (the fixed factor), as for models that do not choose."""
    if cfg.downscale != "auto" or not isinstance(train_resolution, dict):
        return None
    frame = train_resolution.get("frame")
    if not (isinstance(frame, (list, tuple)) and len(frame) == 2 and all(isinstance(v, int) and v > 0 for v in frame)):
        return None
    return max(1, round(frame[1] / factor))
