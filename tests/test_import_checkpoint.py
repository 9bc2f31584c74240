"""`lmv import-checkpoint`: the original FSNet's checkpoints → lmv model files, read without running code.

The `{'net': module}` form is built here the way the original trainer writes it: stand-in classes
under the original's module and class names pickle a module tree in a separate process; this process
cannot import those names, and the import must still succeed with the same weights. Pickles carrying
`__reduce__` payloads must be refused without the payload running.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.model.files import load_model
from lmv_cli.core.model.safe_pickle import read_restricted

GOLDEN = Path(__file__).parent / "fixtures" / "official_golden"
WEIGHTS = GOLDEN / "official_weights.pt"

# Stand-in classes at the original's module paths (golden README §1): plain nn.Module subclasses with
# the original's attribute names, so the pickled tree names exactly the original's classes.
STAND_INS = {
    "models/shade_net/shade_net_v5d4.py": [
        "ShadeNet", "ShadeNetEncoder", "ShadeNetDecoder", "DecoderBlock", "ResBlock", "OutputBlock", "RecurrentEncoder",
    ],
    "models/general/unet.py": ["InputBlock", "EncoderBlock"],
    "models/shade_net/conv_lstm_v5.py": ["ConvLSTMCell"],
}

BUILD_SCRIPT = textwrap.dedent(
    """
    import sys
    from collections import OrderedDict
    import torch
    from torch import nn
    from models.shade_net.shade_net_v5d4 import (ShadeNet, ShadeNetEncoder, ShadeNetDecoder, DecoderBlock, ResBlock,
                                                 OutputBlock, RecurrentEncoder)
    from models.general.unet import InputBlock, EncoderBlock
    from models.shade_net.conv_lstm_v5 import ConvLSTMCell

    weights, out, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    official = torch.load(weights, weights_only=True)
    NAMED = {"scene_color_encoder": ShadeNetEncoder, "shade_encoder": ShadeNetEncoder, "shade_decoder": ShadeNetDecoder,
             "input_block": InputBlock, "res_block": ResBlock, "output_block": OutputBlock}
    ITEMS = {"encoders": EncoderBlock, "decoders": DecoderBlock, "recurrent_encoders": RecurrentEncoder,
             "recurrent_blocks": ConvLSTMCell}

    def container(parent_name, name):
        if name in NAMED:
            return NAMED[name]()
        if name in ITEMS:
            return nn.ModuleList()
        if parent_name in ITEMS:
            return ITEMS[parent_name]()
        return nn.Sequential()

    def leaf(parent_name, value):
        if value.dim() == 1:
            return nn.PReLU(value.numel())
        if parent_name == "deconv":
            return nn.ConvTranspose2d(value.shape[0], value.shape[1], 4, stride=2, padding=1)
        return nn.Conv2d(value.shape[1], value.shape[0], value.shape[2], padding=value.shape[2] // 2)

    net = ShadeNet()
    for key, value in official.items():
        *path, param = key.split(".")
        module, parent_name = net, ""
        for i, name in enumerate(path):
            if name not in module._modules:
                last = i == len(path) - 1
                module.add_module(name, leaf(name, value) if last else container(parent_name, name))
            module, parent_name = module._modules[name], name
    for encoder in net.recurrent_encoders:
        encoder.add_module("tanh", nn.Tanh())
    net.feature = {"smv0", "sep_smv_res"}  # plain attributes the original carries
    net.config = OrderedDict(method="residual", history_id=[0, 1, 2])
    net.load_state_dict(official, strict=True)
    assert list(net.state_dict()) == list(official)
    net.eval()
    torch.save({"net": net}, out)
    torch.save({"step": 10, "epoch": 1, "model": net, "optimizer": {"state": {}, "param_groups": []}}, out + ".ckpt")

    class Payload:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    net.shade_decoder.hook = Payload()  # a __reduce__ payload deep inside the module tree
    torch.save({"net": net}, out + ".evil")
    """
)


class Payload:
    """Unpickling this would run `touch <marker>` (a `__reduce__` payload)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, ["import-checkpoint", *map(str, args)])


@pytest.fixture(scope="module")
def module_tree(tmp_path_factory) -> dict[str, Path]:
    """`{'net': module}` as the original trainer writes it (`net`), the same module in a training
    checkpoint (`ckpt`) and with a payload in its tree (`evil`, would touch `marker`)."""
    tmp = tmp_path_factory.mktemp("original")
    marker = tmp / "payload_ran"
    net = pickled_module_tree(tmp, marker)
    return {"net": net, "ckpt": Path(f"{net}.ckpt"), "evil": Path(f"{net}.evil"), "marker": marker}


def pickled_module_tree(tmp: Path, marker: Path) -> Path:
    """Pickle the module trees in another process whose path holds stand-in classes under the
    original's names (`STAND_INS`); returns the `{'net': module}` file."""
    for rel, classes in STAND_INS.items():
        path = tmp / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for package in (path.parent, path.parent.parent):
            (package / "__init__.py").touch()
        body = "".join(f"class {name}(nn.Module):\n    pass\n\n\n" for name in classes)
        path.write_text("from torch import nn\n\n\n" + body)
    out = tmp / "best.pt"
    subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, str(WEIGHTS), str(out), str(marker)],
        cwd=tmp / "src", check=True, env={**os.environ, "PYTHONPATH": str(tmp / "src")},
    )
    return out


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def saved_weights(model_file: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_file, map_location="cpu", weights_only=True)["state_dict"]


def golden_state() -> OrderedDict:
    return torch.load(WEIGHTS, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------------------------- the three forms


def test_bare_state_dict_imports_in_original_mode(runner, tmp_path):
    out = tmp_path / "fsnet.pt"
    result = invoke(runner, WEIGHTS, out)
    assert result.exit_code == 0, result.output
    assert "111 tensors, 2,076,641 parameters (from a state dict)" in result.output
    model, cfg, meta = load_model(out)
    assert (cfg.preset, cfg.compat, cfg.warp, cfg.clamp, cfg.mv_gather) == ("fsnet", "original", "original", "batch", "nearest")
    assert meta["source_form"] == "state dict" and len(meta["source_sha256"]) == 64
    assert sum(p.numel() for p in model.parameters()) == 2_076_641
    official = golden_state()
    assert torch.equal(model.state_dict()["decoder.blocks.0.up.weight"], official["shade_decoder.decoders.0.deconv.weight"])
    # the official recurrent encoder 0 reads the 1/8 decoder output: lmv's level 2
    assert torch.equal(
        model.state_dict()["streaming.recurrent_encoders.2.conv.weight"], official["recurrent_encoders.0.compress_conv.weight"]
    )


def test_imported_model_reproduces_the_golden_outputs(runner, tmp_path):
    import numpy as np

    out = tmp_path / "fsnet.pt"
    assert invoke(runner, WEIGHTS, out).exit_code == 0
    model, _, _ = load_model(out)
    with np.load(GOLDEN / "case_plain.npz", allow_pickle=False) as z:
        arrays = {k: torch.from_numpy(z[k]) for k in z.files}
    from test_golden import assert_agrees, net_inputs

    with torch.no_grad():
        assert_agrees(model(net_inputs(arrays)), arrays)


def test_state_dict_wrapper_form(runner, tmp_path):
    src = tmp_path / "wrapped.pt"
    torch.save({"state_dict": golden_state()}, src)
    result = invoke(runner, src, tmp_path / "out.pt")
    assert result.exit_code == 0 and "from a {'state_dict': …}" in result.output, result.output


def test_pickled_module_tree_imports_without_the_original_classes(runner, tmp_path, module_tree):
    src = module_tree["net"]
    with pytest.raises(ModuleNotFoundError):  # this process cannot import the original's classes
        importlib.util.find_spec("models.shade_net.shade_net_v5d4")
    reference, net = tmp_path / "reference.pt", tmp_path / "net.pt"
    assert invoke(runner, WEIGHTS, reference).exit_code == 0
    result = invoke(runner, src, net)
    assert result.exit_code == 0 and "from a {'net': module}" in result.output, result.output
    expected = saved_weights(reference)
    got = saved_weights(net)
    assert list(got) == list(expected) and all(torch.equal(got[k], expected[k]) for k in got)
    # a resumable training checkpoint of the original holds the module under 'model'
    result = invoke(runner, module_tree["ckpt"], tmp_path / "from_ckpt.pt")
    assert result.exit_code == 0 and "training checkpoint" in result.output, result.output
    got = saved_weights(tmp_path / "from_ckpt.pt")
    assert list(got) == list(expected) and all(torch.equal(got[k], expected[k]) for k in got)
    assert "models.shade_net.shade_net_v5d4" not in sys.modules


def test_module_tree_records_are_inert(module_tree):
    payload = read_restricted(module_tree["net"])
    net = payload["net"]
    assert type(net).qualified_name == "models.shade_net.shade_net_v5d4.ShadeNet"
    assert net.state["feature"] == {"smv0", "sep_smv_res"}
    encoder = net.state["_modules"]["recurrent_encoders"].state["_modules"]["0"]
    assert type(encoder).qualified_name == "models.shade_net.shade_net_v5d4.RecurrentEncoder"
    assert type(encoder.state["_modules"]["tanh"]).qualified_name == "torch.nn.modules.activation.Tanh"


# ----------------------------------------------------------------------------------------------- unsafe pickles


@pytest.mark.parametrize("where", ["top level", "inside the module tree"])
def test_reduce_payload_is_refused_and_never_runs(runner, tmp_path, where, module_tree):
    if where == "top level":
        src, marker = tmp_path / "evil.pt", tmp_path / "payload_ran"
        torch.save({"net": Payload(marker)}, src)
    else:
        src, marker = module_tree["evil"], module_tree["marker"]
    assert not marker.exists()
    out = tmp_path / "out.pt"
    result = invoke(runner, src, out)
    assert_one_line_error(result, str(src), "refused: the file calls ", "system(...)")
    assert not marker.exists() and not out.exists()


def test_reading_never_imports_a_module_the_file_names(tmp_path, monkeypatch):
    """A module named by the pickle is never imported (a plain unpickler would run its top-level code)."""
    marker = tmp_path / "imported"
    (tmp_path / "lmv_canary_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import lmv_canary_module

    src = tmp_path / "canary.pt"
    torch.save({"net": lmv_canary_module.Thing()}, src)
    marker.unlink()
    monkeypatch.delitem(sys.modules, "lmv_canary_module")
    payload = read_restricted(src)
    assert type(payload["net"]).qualified_name == "lmv_canary_module.Thing"
    assert not marker.exists() and "lmv_canary_module" not in sys.modules


class SetWithState:
    """Pickles as `set([])` followed by BUILD with a state: pickled state for a real object."""

    def __reduce__(self):
        return (set, ([],), {"attribute": 1})


def test_state_is_never_set_on_a_real_object(tmp_path):
    """BUILD (pickled state) on anything but an inert record, here a real `set`, is refused."""
    from lmv_cli.core.model.safe_pickle import UnsafePickleError

    src = tmp_path / "build.pt"
    torch.save({"net": SetWithState()}, src)
    with pytest.raises(UnsafePickleError, match="refused: the file sets the state of a set"):
        read_restricted(src)


# ----------------------------------------------------------------------------------------------- wrong checkpoints


def _edited(tmp_path: Path, edit) -> Path:
    state = golden_state()
    edit(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


def _rename(state: OrderedDict, old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in state.items()]
    state.clear()
    state.update(items)


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda s: _rename(s, "shade_decoder.decoders.2.deconv.bias", "shade_decoder.decoders.2.deconv_.bias"),
            "unexpected key 'shade_decoder.decoders.2.deconv_.bias' (not a parameter of the released FSNet",
        ),
        (lambda s: s.pop("recurrent_blocks.1.conv.weight"), "weights lack key 'recurrent_blocks.1.conv.weight'"),
        (
            lambda s: _rename(s, "scene_color_encoder.input_block.seq.conv1.weight", "module.scene_color_encoder.input_block.seq.conv1.weight"),
            "unexpected key 'module.scene_color_encoder.input_block.seq.conv1.weight' (not a parameter of the released FSNet; a DistributedDataParallel 'module.' prefix?)",
        ),
        (
            lambda s: s.__setitem__("shade_decoder.output_block.output1x1.weight", torch.zeros(8, 32, 1, 1)),
            "key 'shade_decoder.output_block.output1x1.weight' has shape (8, 32, 1, 1), the released FSNet has (7, 32, 1, 1)",
        ),
        (lambda s: s.__setitem__("shade_encoder.extra.weight", torch.zeros(1)), "unexpected key 'shade_encoder.extra.weight'"),
        (lambda s: s.__setitem__("step", 3), "not an official FSNet checkpoint: expected a state dict"),
    ],
)
def test_wrong_checkpoint_is_a_one_line_error_naming_the_key_and_writes_nothing(runner, tmp_path, edit, message):
    src, out = _edited(tmp_path, edit), tmp_path / "out.pt"
    assert_one_line_error(invoke(runner, src, out), message)
    assert not out.exists() and not list(tmp_path.glob(".out.pt.*"))


@pytest.mark.parametrize("where", ["pickle", "a tensor", "the directory"])
def test_damaged_checkpoint_is_a_one_line_error(runner, tmp_path, where):
    data = bytearray(WEIGHTS.read_bytes())
    at = {"pickle": 100, "a tensor": len(data) // 2, "the directory": len(data) - 200}[where]
    data[at : at + 64] = b"\xff" * 64
    src, out = tmp_path / "damaged.pt", tmp_path / "out.pt"
    src.write_bytes(bytes(data))
    assert_one_line_error(invoke(runner, src, out), str(src), "damaged torch.save archive")
    assert not out.exists()


def test_other_files_and_outputs(runner, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    assert_one_line_error(invoke(runner, text, tmp_path / "a.pt"), "not a torch.save zip archive")
    assert_one_line_error(invoke(runner, tmp_path / "missing.pt", tmp_path / "a.pt"), "no such checkpoint file")
    out = tmp_path / "out.pt"
    assert invoke(runner, WEIGHTS, out).exit_code == 0
    assert_one_line_error(invoke(runner, WEIGHTS, out), "output exists (pass --overwrite")
    assert invoke(runner, WEIGHTS, out, "--overwrite").exit_code == 0
    # an lmv model file is not an official checkpoint
    assert_one_line_error(invoke(runner, out, tmp_path / "again.pt"), "not an official FSNet checkpoint")
    assert not (tmp_path / "a.pt").exists() and not (tmp_path / "again.pt").exists()


# ----------------------------------------------------------------------------------------------- use


def test_imported_model_predicts_a_synth_store_frame(runner, synth_scene, tmp_path):
    """The imported model runs like any lmv model on lmv's own data (rollout with its warp convention)."""
    from lmv_cli.core.rollout import Rollout
    from lmv_cli.core.store import open_store
    from lmv_cli.core.store.writer import pack

    model_path = tmp_path / "fsnet.pt"
    assert invoke(runner, WEIGHTS, model_path).exit_code == 0
    model, cfg, _ = load_model(model_path)
    pack(synth_scene, tmp_path / "synth.zarr", workers=1)
    scene = next(iter(open_store(tmp_path / "synth.zarr")))
    rollout = Rollout(model)
    assert rollout.history.convention == cfg.warp == "original"
    with torch.no_grad():
        for t in range(4):
            frame = {k: torch.from_numpy(v).float()[None] for k, v in scene.frame(t).items()}
            if t < 3:
                rollout.history.advance_rendered(frame)
            else:
                out = rollout.predict(frame)
    assert out.color.shape == (1, 3, *frame["brdf_color"].shape[-2:])
    assert torch.isfinite(out.color).all() and float(out.color.abs().max()) > 0
