"""Typed configuration: every shipped config loads, unknown keys and type mismatches are named,
overrides go through the same checks, validate() catches cross-field mistakes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lmv_cli.core.config import Config, DataConfig, ModelConfig, load_config
from lmv_cli.core.errors import ConfigError

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_round_trips(path, tmp_path):
    cfg = load_config(path)
    again = load_config(write(tmp_path, cfg.to_yaml()))
    assert again == cfg


def test_shipped_configs_exist():
    assert {"fsnet.yaml", "tiny.yaml"} <= {p.name for p in CONFIGS}


def test_fsnet_yaml_is_the_released_recipe():
    cfg = load_config(Path(__file__).parents[1] / "configs" / "fsnet.yaml")
    assert cfg == Config()  # the defaults are the recipe, written out in full
    assert (cfg.data.sequence_length, cfg.data.history_probs) == (8, (0.0, 1.0, 0.0))
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.lr_min, cfg.train.weight_decay) == (6, 2e-4, 2e-5, 1e-4)
    assert dataclasses.astuple(cfg.loss) == (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0)  # change: lmv's, off


def test_empty_file_and_no_file_give_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()
    assert load_config(None) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modle: {}", r"unknown key 'modle' \(valid keys under the top level: model, data, train, loss\)"),
        ("model: {presett: x}", r"unknown key 'model.presett' \(valid keys under model: preset, mv_gather, clamp, warp, compat, init, demodulate, flow_unit, downscale\)"),
        ("train: {lr: abc}", r"'train.lr': expected float, got str \('abc'\)"),
        ("train: {epochs: 1.5}", r"'train.epochs': expected int, got float \(1.5\)"),
        ("train: {epochs: true}", r"'train.epochs': expected int, got bool"),
        ("data: {mirror: 1}", r"'data.mirror': expected bool, got int"),
        ("train: {job_name: 3}", r"'train.job_name': expected str, got int"),
        ("train: {betas: 0.9}", r"'train.betas': expected a list, got float"),
        ("train: {betas: [0.9]}", r"'train.betas': expected a list of 2 values, got 1"),
        ("data: {crop: [64, x]}", r"'data.crop\[1\]': expected int, got str"),
        ("data: {stores: [1]}", r"'data.stores\[0\]': expected str, got int"),
        ("model: {mv_gather: linear}", r"'model.mv_gather': expected one of 'nearest', 'bilinear', got 'linear'"),
        ("model: 3", r"'model' must be a mapping, got int"),
        ("train: {lr: null}", r"'train.lr': expected float, got null"),
        ("model: {flow_unit: px}", r"'model.flow_unit': expected one of 'pixels', 'ndc', got 'px'"),
        ("model: {downscale: big}", r"'model.downscale': expected int or 'auto' or 'preset', got str \('big'\)"),
        ("model: {downscale: 1.5}", r"'model.downscale': expected int or 'auto' or 'preset', got float"),
        ("model: {demodulate: maybe}", r"'model.demodulate'.*'learned'.*'maybe'"),
    ],
)
def test_bad_keys_and_types_are_named(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_lenient_where_yaml_is_ambiguous(tmp_path):
    cfg = load_config(write(tmp_path, "train: {lr: 1, lr_min: 1e-5, betas: [0, 0.5]}\ndata: {crop: null}"))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)  # int accepted for float
    assert cfg.train.lr_min == 1e-5  # YAML 1.1 reads 1e-5 as a string
    assert cfg.train.betas == (0.0, 0.5)  # list → tuple
    assert cfg.data.crop is None


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [unclosed"))
    with pytest.raises(ConfigError, match="top level must be a mapping of sections, got list"):
        load_config(write(tmp_path, "- 1\n- 2"))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"model:\n  preset: \xff\xfe")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a UTF-8 text file \(byte 17\)"):
        load_config(binary)


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_unreadable_config_file_is_a_config_error():
    # a regular file whose read fails (EIO at offset 0), also when running as root
    with pytest.raises(ConfigError, match=r"/proc/self/mem: cannot read the config file: Input/output error"):
        load_config("/proc/self/mem")


def test_overrides_use_the_same_path():
    cfg = load_config(None, ["train.lr=1e-3", "data.crop=[64, 32]", "model.mv_gather=bilinear", "data.crop=[32,32]"])
    assert cfg.train.lr == 1e-3
    assert cfg.data.crop == (32, 32)  # later overrides win
    assert cfg.model.mv_gather == "bilinear"
    assert load_config(None, ["data.crop=null"]).data.crop is None
    assert load_config(None, ["train.job_name=a=b"]).train.job_name == "a=b"  # split at the first '='


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.foo=1", r"`override` model.foo=1: unknown key 'model.foo' \(valid keys under model: preset"),
        ("nonsense.x=1", r"`override` nonsense.x=1: unknown key 'nonsense' \(valid keys: model, data, train, loss\)"),
        ("train.lr.x=1", r"'train.lr' is a value, not a section"),
        ("train.lr=fast", r"`override` train.lr=fast: 'train.lr': expected float, got str \('fast'\)"),
        ("train.lr", r"override must look like section.key=value"),
        ("=3", r"override must look like section.key=value"),
        ("data.crop=[1,", r"value is not valid YAML"),
        ("model=3", r"'model' must be a mapping, got int"),
        ("train.lr=.inf", r"`override` train.lr=.inf: 'train.lr': expected a finite float, got inf"),
        ("loss.sky=.nan", r"'loss.sky': expected a finite float, got nan"),
        ("train.lr=1e400", r"'train.lr': expected a finite float, got inf"),
    ],
)
def test_bad_overrides_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.history_probs=[0, 1.5, 0]", r"data.history_probs\[1\] must be in \[0, 1\], got 1.5"),
        ("data.history_probs=[0, 1]", r"data.history_probs needs 3 values"),
        ("data.random_pattern_prob=-0.1", r"data.random_pattern_prob must be in \[0, 1\]"),
        ("data.history=2", r"unknown key 'data.history'"),  # fixed by the architecture, not a setting
        ("data.crop=[64, 40]", r"data.crop must be positive multiples of 16"),
        ("data.crop=[0, 64]", r"data.crop must be positive multiples of 16"),
        ("data.sequence_length=0", r"data.sequence_length must be >= 1"),
        ("data.workers=-1", r"data.workers must be >= 0"),
        ("train.lr_min=1e-3", r"need 0 < train.lr_min <= train.lr, got lr_min=0.001, lr=0.0002"),
        ("train.lr_min=0", r"need 0 < train.lr_min <= train.lr"),
        ("train.batch_size=0", r"train.batch_size must be >= 1"),
        ("train.max_steps=0", r"train.max_steps must be >= 1 or null"),
        ("train.weight_decay=-1", r"train.weight_decay must be >= 0"),
        ("train.betas=[0.9, 1.0]", r"train.betas must be in \[0, 1\)"),
        ("train.job_name=../x", r"train.job_name must be a non-empty relative name"),
        ("loss.sky=-1", r"loss.sky must be >= 0, got -1.0"),
        ("model.downscale=0", r"model.downscale must be >= 1, 'auto' or 'preset', got 0"),
    ],
)
def test_validate_rejects_cross_field_mistakes(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_validate_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.train_scenes=[a, b]", "data.val_scenes=[b]", "train.epochs=0"])
    assert "scenes in both data.train_scenes and data.val_scenes: b" in str(info.value)
    assert "train.epochs must be >= 1" in str(info.value)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DataConfig().crop = (16, 16)  # type: ignore[misc]


def test_build_model_passes_preset_and_options():
    from lmv_cli.core.model.build import build_model

    model = build_model(ModelConfig(preset="fsnet", mv_gather="bilinear", clamp="batch"))
    assert sum(p.numel() for p in model.parameters()) == 2_076_641
    assert model.clamp == "batch" and model.decoder.mv_gather == "bilinear"
    with pytest.raises(ConfigError, match=r"'model.preset': unknown preset 'big' \(presets: fsnet, "):
        build_model(ModelConfig(preset="big"))


def test_flow_unit_and_downscale_options():
    """New configs learn pixel-unit flows at a chosen factor; `--set` takes a fixed integer factor;
    compat original is the released NDC unit at full resolution; old stored dicts mean NDC + preset."""
    from lmv_cli.core.config import with_legacy_defaults

    assert (Config().model.flow_unit, Config().model.downscale) == ("pixels", "auto")
    assert load_config(None, ["model.downscale=3"]).model.downscale == 3
    assert load_config(None, ["model.downscale=preset", "model.flow_unit=ndc", "model.warp=original"]).model.warp == "original"
    released = load_config(None, ["model.compat=original"]).model
    assert (released.flow_unit, released.downscale, released.warp) == ("ndc", 1, "original")
    assert with_legacy_defaults({"preset": "fsnet_lite"}) == {"preset": "fsnet_lite", "flow_unit": "ndc", "downscale": "preset"}
    assert with_legacy_defaults({"flow_unit": "pixels", "downscale": 2})["downscale"] == 2


def test_demodulate_takes_true_false_or_learned(tmp_path):
    for text, value in [("true", True), ("false", False), ("learned", "learned")]:
        assert load_config(write(tmp_path, f"model: {{demodulate: {text}}}")).model.demodulate == value
    assert load_config(None, ["model.demodulate=learned"]).model.demodulate == "learned"


def test_the_old_flips_key_still_reads_as_mirror(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("data: {flips: false}\n")
    assert load_config(old).data.mirror is False
    assert load_config(None, ["data.flips=false"]).data.mirror is False
    both = tmp_path / "both.yaml"
    both.write_text("data: {flips: false, mirror: true}\n")
    with pytest.raises(ConfigError, match="data.flips"):
        load_config(both)


def test_an_override_error_carries_the_key_and_the_value():
    with pytest.raises(ConfigError, match="train.lr=fast") as raised:
        load_config(None, ["train.lr=fast"])
    assert (raised.value.option, raised.value.value) == ("train.lr", "fast")
