"""Converting the original FSNet's checkpoints (`lmv_cli.core.model.official`, behind `lmv
import-checkpoint`): `official_name` on hand-written lmv → official key pairs for every branch (both encoders'
input block and stages, every decoder-block and head part, the reversed recurrent-encoder numbering for
several `recurrent_levels` and its default, the cells) and its `ValueError` for names outside the
layout; `to_lmv_state_dict`'s renaming (float32, every key, levels taken from the model) and its
unexpected / non-tensor / wrong-shape / missing key refusals (the key, the hint, the shapes), with and
without a path;
`read_official_state_dict`'s accepted forms (bare state dict, `{'state_dict': sd}`, `{'net': module}`,
`{'model': module}` training checkpoint) with the returned form names, and its refusals (missing file,
directory, lmv model file, a module that is no module tree, anything else with the keys or repr it
found, cut at 6 keys / 80 characters); `import_official_checkpoint`'s refusals (output is the input,
output exists without `overwrite`), the model file it writes (weights, configuration, meta) and the
summary it returns.

Checkpoints are real `torch.save` files in tmp_path, built from the repository's golden official weights
(`tests/fixtures/official_golden/official_weights.pt`, the released network's 111 tensors under their
own names); the `{'net': module}` form pickles a plain `nn.Module` tree with the official names.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.official import (
    import_official_checkpoint,
    official_name,
    read_official_state_dict,
    to_lmv_state_dict,
)

WEIGHTS = Path(__file__).resolve().parent / "fixtures" / "official_golden" / "official_weights.pt"
EXPECTED_FORMS = ("state dict", "{'state_dict': …}", "{'net': module}", "training checkpoint {'model': module}")
NOT_OFFICIAL = r"not an official FSNet checkpoint.*found "  # then what it found


@pytest.fixture(scope="module")
def official() -> OrderedDict:
    return torch.load(WEIGHTS, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def fsnet() -> FSNet:
    return FSNet.from_preset("fsnet")


def module_tree(state: dict[str, torch.Tensor]) -> nn.Module:
    """A plain `nn.Module` tree whose state dict is `state` (the original trainer pickles its module)."""
    root = nn.Module()
    for key, value in state.items():
        *path, name = key.split(".")
        module = root
        for part in path:
            if part not in module._modules:
                module.add_module(part, nn.Module())
            module = module._modules[part]
        module.register_parameter(name, nn.Parameter(value.clone(), requires_grad=False))
    return root


def raised(fn, *args, **kwargs) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        fn(*args, **kwargs)
    return info.value


# ----------------------------------------------------------------------------------------------- official_name


@pytest.mark.parametrize(
    "ours,theirs",
    [
        ("history_encoder.input_block.conv1.weight", "scene_color_encoder.input_block.seq.conv1.weight"),
        ("history_encoder.input_block.act.weight", "scene_color_encoder.input_block.seq.prelu_1.weight"),
        ("history_encoder.input_block.conv2.bias", "scene_color_encoder.input_block.seq.conv2.bias"),
        ("history_encoder.stages.0.conv1.weight", "scene_color_encoder.encoders.0.seq.conv1.weight"),
        ("history_encoder.stages.12.act.weight", "scene_color_encoder.encoders.12.seq.prelu_1.weight"),
        ("gbuffer_encoder.input_block.conv1.bias", "shade_encoder.input_block.seq.conv1.bias"),
        ("gbuffer_encoder.stages.3.conv2.weight", "shade_encoder.encoders.3.seq.conv2.weight"),
        ("decoder.blocks.0.up.weight", "shade_decoder.decoders.0.deconv.weight"),
        ("decoder.blocks.2.conv.weight", "shade_decoder.decoders.2.single_conv.0.weight"),
        ("decoder.blocks.3.act.weight", "shade_decoder.decoders.3.single_conv.prelu_1.weight"),
        ("decoder.blocks.1.res.conv1.bias", "shade_decoder.decoders.1.res_block.conv1.0.bias"),
        ("decoder.blocks.1.res.act1.weight", "shade_decoder.decoders.1.res_block.conv1.prelu_1.weight"),
        ("decoder.blocks.2.res.conv2.weight", "shade_decoder.decoders.2.res_block.conv5.weight"),
        ("decoder.blocks.3.res.act2.weight", "shade_decoder.decoders.3.res_block.single_norm_act.prelu_1.weight"),
        ("decoder.blocks.11.up.bias", "shade_decoder.decoders.11.deconv.bias"),
        ("decoder.head.conv.weight", "shade_decoder.output_block.conv1x1.0.weight"),
        ("decoder.head.act.weight", "shade_decoder.output_block.conv1x1.prelu_1.weight"),
        ("decoder.head.out.bias", "shade_decoder.output_block.output1x1.bias"),
        ("streaming.recurrent_encoders.0.conv.weight", "recurrent_encoders.2.compress_conv.weight"),
        ("streaming.recurrent_encoders.1.conv.bias", "recurrent_encoders.1.compress_conv.bias"),
        ("streaming.recurrent_encoders.2.conv.weight", "recurrent_encoders.0.compress_conv.weight"),
        ("streaming.cells.0.conv.weight", "recurrent_blocks.0.conv.weight"),
        ("streaming.cells.2.conv.bias", "recurrent_blocks.2.conv.bias"),
    ],
)
def test_official_name_examples(ours, theirs):
    assert official_name(ours) == theirs


def test_official_name_recurrent_levels_reverse_the_numbering():
    assert official_name("streaming.recurrent_encoders.0.conv.weight", 3) == "recurrent_encoders.2.compress_conv.weight"
    assert official_name("streaming.recurrent_encoders.1.conv.weight", 5) == "recurrent_encoders.3.compress_conv.weight"
    assert official_name("streaming.recurrent_encoders.0.conv.bias", 1) == "recurrent_encoders.0.compress_conv.bias"
    assert official_name("streaming.recurrent_encoders.10.conv.bias", 12) == "recurrent_encoders.1.compress_conv.bias"
    # the cells keep their numbers whatever the levels
    assert official_name("streaming.cells.1.conv.weight", 5) == "recurrent_blocks.1.conv.weight"


@pytest.mark.parametrize(
    "key",
    [
        "weight",
        "foo.weight",
        "history_encoder.stages.0.bogus.weight",
        "history_encoder.stages.x.conv1.weight",
        "history_encoder.head.conv1.weight",
        "gbuffer_encoder.input_block.conv3.weight",
        "decoder.blocks.0.bogus.weight",
        "decoder.blocks.0.res.conv3.weight",
        "decoder.blocks.x.up.weight",
        "decoder.head.bogus.weight",
        "decoder.head.weight",
        "streaming.recurrent_encoders.0.act.weight",
        "streaming.cells.0.gate.weight",
        "Decoder.blocks.0.up.weight",
    ],
)
def test_official_name_refuses_names_outside_the_layout(key):
    with pytest.raises(ValueError, match=re.escape(repr(key))) as info:
        official_name(key)
    assert type(info.value) is ValueError


# ----------------------------------------------------------------------------------------------- to_lmv_state_dict


def test_to_lmv_state_dict_renames_every_tensor_to_float32(official, fsnet):
    state = to_lmv_state_dict(official, fsnet)
    own = fsnet.state_dict()
    assert len(official) == 111 and set(state) == set(own) and len(state) == 111
    assert all(v.dtype == torch.float32 and v.shape == own[k].shape for k, v in state.items())
    assert official["shade_decoder.decoders.0.deconv.weight"].dtype == torch.float16
    pairs = {
        "decoder.blocks.0.up.weight": "shade_decoder.decoders.0.deconv.weight",
        "streaming.recurrent_encoders.2.conv.weight": "recurrent_encoders.0.compress_conv.weight",
        "streaming.recurrent_encoders.0.conv.bias": "recurrent_encoders.2.compress_conv.bias",
        "history_encoder.input_block.conv1.weight": "scene_color_encoder.input_block.seq.conv1.weight",
        "gbuffer_encoder.stages.1.act.weight": "shade_encoder.encoders.1.seq.prelu_1.weight",
        "decoder.head.out.bias": "shade_decoder.output_block.output1x1.bias",
        "streaming.cells.1.conv.weight": "recurrent_blocks.1.conv.weight",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(state[ours], official[theirs].float()), ours


class _Levels(nn.Module):
    """The smallest module `to_lmv_state_dict` reads: `streaming.recurrent_encoders` with `levels` convs."""

    def __init__(self, levels: int):
        super().__init__()
        self.streaming = nn.Module()
        self.streaming.recurrent_encoders = nn.ModuleList()
        for _ in range(levels):
            encoder = nn.Module()
            encoder.conv = nn.Conv2d(1, 1, 1)
            self.streaming.recurrent_encoders.append(encoder)


def test_to_lmv_state_dict_takes_the_levels_from_the_model():
    model = _Levels(2)
    w0, b0, w1, b1 = (torch.full(s, float(i)) for i, s in enumerate([(1, 1, 1, 1), (1,), (1, 1, 1, 1), (1,)]))
    official = {
        "recurrent_encoders.1.compress_conv.weight": w0,
        "recurrent_encoders.1.compress_conv.bias": b0,
        "recurrent_encoders.0.compress_conv.weight": w1,
        "recurrent_encoders.0.compress_conv.bias": b1,
    }
    state = to_lmv_state_dict(official, model)
    assert set(state) == {
        "streaming.recurrent_encoders.0.conv.weight",
        "streaming.recurrent_encoders.0.conv.bias",
        "streaming.recurrent_encoders.1.conv.weight",
        "streaming.recurrent_encoders.1.conv.bias",
    }
    assert torch.equal(state["streaming.recurrent_encoders.0.conv.weight"], w0)
    assert torch.equal(state["streaming.recurrent_encoders.1.conv.bias"], b1)


def _renamed(state: OrderedDict, old: str, new: str) -> OrderedDict:
    return OrderedDict((new if k == old else k, v) for k, v in state.items())


def test_unexpected_key_another_architecture(official, fsnet, tmp_path):
    bad = _renamed(official, "shade_decoder.decoders.2.deconv.bias", "shade_decoder.decoders.2.deconv_.bias")
    message = r"unexpected key 'shade_decoder\.decoders\.2\.deconv_\.bias'.*another architecture"
    err = raised(to_lmv_state_dict, bad, fsnet)
    assert re.search(message, str(err)) and err.path is None
    err = raised(to_lmv_state_dict, bad, fsnet, tmp_path / "x.pt")
    assert err.path == tmp_path / "x.pt" and str(tmp_path / "x.pt") in str(err) and re.search(message, str(err))


def test_unexpected_key_module_prefix(official, fsnet, tmp_path):
    key = "scene_color_encoder.input_block.seq.conv1.weight"
    bad = _renamed(official, key, "module." + key)
    err = raised(to_lmv_state_dict, bad, fsnet, tmp_path / "ddp.pt")
    assert str(tmp_path / "ddp.pt") in str(err)
    assert re.search(rf"unexpected key 'module\.{re.escape(key)}'.*DistributedDataParallel", err.message)
    # 'module' without the dot is no DDP prefix
    err = raised(to_lmv_state_dict, {"modulexyz.weight": torch.zeros(1)}, fsnet)
    assert re.search(r"'modulexyz\.weight'.*another architecture", err.message)
    assert "DistributedDataParallel" not in err.message


def test_non_tensor_value(official, fsnet, tmp_path):
    bad = OrderedDict(official)
    bad["recurrent_blocks.0.conv.bias"] = 3
    err = raised(to_lmv_state_dict, bad, fsnet, tmp_path / "n.pt")
    assert err.path == tmp_path / "n.pt"
    assert re.search(r"'recurrent_blocks\.0\.conv\.bias'.*\bint\b.*not a tensor", err.message)
    bad["recurrent_blocks.0.conv.bias"] = [1.0]
    assert re.search(r"'recurrent_blocks\.0\.conv\.bias'.*\blist\b", raised(to_lmv_state_dict, bad, fsnet).message)


def test_wrong_shape(official, fsnet, tmp_path):
    bad = OrderedDict(official)
    bad["shade_decoder.output_block.output1x1.weight"] = torch.zeros(8, 32, 1, 1)
    err = raised(to_lmv_state_dict, bad, fsnet, tmp_path / "s.pt")
    assert err.path == tmp_path / "s.pt"
    # the key, the file's shape, then the released network's
    assert re.search(r"'shade_decoder\.output_block\.output1x1\.weight'.*\(8, 32, 1, 1\).*\(7, 32, 1, 1\)", err.message)


def test_missing_key(official, fsnet, tmp_path):
    bad = OrderedDict(official)
    del bad["recurrent_blocks.1.conv.weight"]
    err = raised(to_lmv_state_dict, bad, fsnet, tmp_path / "m.pt")
    assert err.path == tmp_path / "m.pt"
    assert re.search(r"lack.*'recurrent_blocks\.1\.conv\.weight'", err.message)
    assert re.search(r"lack.*'recurrent_encoders\.0\.compress_conv\.weight'", raised(to_lmv_state_dict, {}, _Levels(1)).message)


# ----------------------------------------------------------------------------------------------- read_official_state_dict


def _assert_same(got: dict, official: OrderedDict) -> None:
    assert type(got) is dict and list(got) == list(official)
    assert all(torch.equal(got[k], official[k]) for k in official)


def test_read_bare_state_dict(official):
    got, form = read_official_state_dict(str(WEIGHTS))
    assert form == "state dict"
    _assert_same(got, official)


def test_read_state_dict_wrapper(official, tmp_path):
    src = tmp_path / "wrapped.pt"
    torch.save({"state_dict": official, "epoch": 3}, src)
    got, form = read_official_state_dict(src)
    assert form == "{'state_dict': …}" == EXPECTED_FORMS[1]
    _assert_same(got, official)


def test_read_module_tree_forms(official, tmp_path):
    small = OrderedDict(list(official.items())[:5])
    net = module_tree(small)
    src = tmp_path / "net.pt"
    torch.save({"net": net}, src)
    got, form = read_official_state_dict(src)
    assert form == "{'net': module}"
    _assert_same(got, small)
    ckpt = tmp_path / "train.ckpt"
    torch.save({"step": 10, "epoch": 1, "model": net, "optimizer": {"state": {}}}, ckpt)
    got, form = read_official_state_dict(ckpt)
    assert form == "training checkpoint {'model': module}"
    _assert_same(got, small)


class _NotAModule:
    def __init__(self):
        self.value = 1


def test_read_refuses_a_record_that_is_no_module_tree(tmp_path):
    src = tmp_path / "odd.pt"
    torch.save({"net": _NotAModule()}, src)
    err = raised(read_official_state_dict, src)
    assert err.path == src
    assert re.search(r"'net'.*not a pickled torch module.*_NotAModule", err.message)
    assert str(src) in str(err)


def test_read_missing_and_directory(tmp_path):
    missing = tmp_path / "missing.pt"
    err = raised(read_official_state_dict, str(missing))
    assert err.path == missing and str(missing) in str(err) and "no such" in err.message
    err = raised(read_official_state_dict, tmp_path)
    assert err.path == tmp_path and "not a file" in err.message


def test_read_refuses_an_lmv_model_file(tmp_path):
    src = tmp_path / "lmv.pt"
    torch.save({"format": "lmv-model", "state_dict": {"a": torch.zeros(1)}}, src)
    err = raised(read_official_state_dict, src)
    assert err.path == src
    assert re.search(r"not an official FSNet checkpoint.*already an lmv model file", err.message)
    # another format value is no lmv model file: an unknown dict
    other = tmp_path / "other.pt"
    torch.save({"format": "lmv-modelx"}, other)
    assert re.search(NOT_OFFICIAL + "a dict with keys 'format'", raised(read_official_state_dict, other).message)


@pytest.mark.parametrize(
    "payload,found",
    [
        ({}, "a dict with keys "),
        ({"net": 3, "step": 1}, "a dict with keys 'net', 'step'"),
        ({"model": "x"}, "a dict with keys 'model'"),
        ({"state_dict": [1]}, "a dict with keys 'state_dict'"),
        ({"a": torch.zeros(1), "b": 2}, "a dict with keys 'a', 'b'"),
        (
            {f"k{i}": i for i in range(8)},
            "a dict with keys 'k0', 'k1', 'k2', 'k3', 'k4', 'k5'",
        ),
        ([1, 2], "[1, 2]"),
        ([torch.zeros(1)], "[tensor([0.])]"),
        ("x" * 100, "'" + "x" * 79),
        (7, "7"),
    ],
)
def test_read_refuses_anything_else_naming_what_it_found(tmp_path, payload, found):
    src = tmp_path / "other.pt"
    torch.save(payload, src)
    err = raised(read_official_state_dict, src)
    assert err.path == src and str(src) in str(err)
    assert re.search(NOT_OFFICIAL + re.escape(found) + "$", err.message)  # what was found, cut where it is long


# ----------------------------------------------------------------------------------------------- import_official_checkpoint


def test_import_writes_a_loadable_lmv_model_and_returns_a_summary(official, tmp_path):
    from lmv_cli.core.model.files import load_model

    src = tmp_path / "best.pt"
    src.write_bytes(WEIGHTS.read_bytes())
    dst = tmp_path / "out" / "fsnet.pt"
    summary = import_official_checkpoint(str(src), str(dst))
    assert set(summary) == {"out", "form", "tensors", "parameters", "model"}
    assert summary["out"] == str(dst)
    assert summary["form"] == "state dict"
    assert summary["tensors"] == 111
    assert summary["parameters"] == 2_076_641
    assert summary["model"]["preset"] == "fsnet"
    assert summary["model"]["compat"] == "original"
    assert summary["model"]["init"] == "random"
    assert (summary["model"]["warp"], summary["model"]["clamp"], summary["model"]["mv_gather"]) == (
        "original", "batch", "nearest"
    )
    payload = torch.load(dst, map_location="cpu", weights_only=True)
    assert payload["format"] == "lmv-model" and payload["model"] == summary["model"]
    assert payload["meta"] == {
        "source": "official FSNet checkpoint (VicRanger/learnable-motion-vector)",
        "source_file": "best.pt",
        "source_form": "state dict",
        "source_sha256": hashlib.sha256(WEIGHTS.read_bytes()).hexdigest(),
    }
    model, cfg, meta = load_model(dst)
    assert (cfg.preset, cfg.compat, cfg.init) == ("fsnet", "original", "random")
    assert meta["source_file"] == "best.pt"
    weights = model.state_dict()
    assert torch.equal(weights["decoder.blocks.0.up.weight"], official["shade_decoder.decoders.0.deconv.weight"].float())
    assert torch.equal(
        weights["streaming.recurrent_encoders.2.conv.weight"], official["recurrent_encoders.0.compress_conv.weight"].float()
    )
    assert torch.equal(weights["decoder.head.out.bias"], official["shade_decoder.output_block.output1x1.bias"].float())


def test_import_records_the_source_form(official, tmp_path):
    src = tmp_path / "net.pt"
    torch.save({"net": module_tree(official)}, src)
    dst = tmp_path / "fsnet.pt"
    summary = import_official_checkpoint(src, dst)
    assert summary["form"] == "{'net': module}" and summary["tensors"] == 111
    meta = torch.load(dst, map_location="cpu", weights_only=True)["meta"]
    assert meta["source_form"] == "{'net': module}" and meta["source_file"] == "net.pt"
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_import_refuses_to_overwrite_without_overwrite(tmp_path):
    dst = tmp_path / "out.pt"
    dst.write_bytes(b"keep me")
    err = raised(import_official_checkpoint, WEIGHTS, dst)
    assert err.path == dst and str(dst) in str(err) and err.option == "overwrite"
    err = raised(import_official_checkpoint, WEIGHTS, dst, overwrite=False)
    assert "exists" in err.message and (err.option, err.value) == ("overwrite", False)
    assert dst.read_bytes() == b"keep me"
    summary = import_official_checkpoint(WEIGHTS, dst, overwrite=True)
    assert summary["out"] == str(dst)
    assert torch.load(dst, map_location="cpu", weights_only=True)["format"] == "lmv-model"


def test_import_refuses_to_write_over_its_input(tmp_path):
    src = tmp_path / "best.pt"
    src.write_bytes(WEIGHTS.read_bytes())
    for dst in (src, tmp_path / "sub" / ".." / "best.pt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        for overwrite in (False, True):
            err = raised(import_official_checkpoint, src, dst, overwrite=overwrite)
            assert err.path == Path(dst)
            assert str(dst) in str(err) and "is the input" in err.message
    assert src.read_bytes() == WEIGHTS.read_bytes()
    # a missing input named as its own output is a missing input
    missing = tmp_path / "missing.pt"
    err = raised(import_official_checkpoint, missing, missing)
    assert err.path == missing and "no such" in err.message


def test_import_errors_name_the_source_and_write_nothing(official, tmp_path):
    src = tmp_path / "partial.pt"
    bad = OrderedDict(official)
    del bad["recurrent_blocks.1.conv.weight"]
    torch.save(bad, src)
    dst = tmp_path / "out.pt"
    err = raised(import_official_checkpoint, src, dst)
    assert err.path == src
    assert str(src) in str(err) and re.search(r"lack.*'recurrent_blocks\.1\.conv\.weight'", err.message)
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]
