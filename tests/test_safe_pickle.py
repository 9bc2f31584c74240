"""Reading the original FSNet's pickled `.pth` checkpoints without running their code
(`lmv_cli.core.model.safe_pickle`, behind `lmv import-checkpoint`).

What a user handing lmv an untrusted file can rely on: tensors of every storage dtype, views (offsets,
strides) and parameters come back as plain tensors; plain containers are real, every other global is an
inert record (its qualified name, the state, items and values pickle gave it); any call (`os.system`)
or state set on a real object is refused without running, naming the file and what was called; damaged,
foreign, truncated and other-byte-order archives are refused naming the file; persistent references are
checked (shape, storage type, missing storage, size); `module_state_dict` flattens a pickled module tree
(parameters, persistent buffers, submodules, `None`s skipped, prefixes) and names the dotted module that
is not one.

Checkpoints are real `torch.save` archives of tiny objects, or built here: `_archive` writes the zip layout
`torch.save` writes around a pickle written by hand (protocol-0 opcodes) for what `torch.save` never writes.
"""

from __future__ import annotations

import re
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.model.safe_pickle import (
    InertRecord,
    RestrictedUnpickler,
    UnsafePickleError,
    module_state_dict,
    read_restricted,
)

OTHER_ORDER = "big" if sys.byteorder == "little" else "little"


# --- hand-built archives ----------------------------------------------------------------------------------


def _archive(path: Path, pkl: bytes, files: dict[str, bytes] | None = None, *, prefix: str = "archive",
             byteorder: str | None = sys.byteorder, before: tuple[str, ...] = ()) -> Path:
    """A zip laid out as `torch.save` lays it out: `<prefix>/data.pkl`, `<prefix>/byteorder`,
    `<prefix>/data/<key>`; `before` names entries written ahead of `data.pkl`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name in before:
            z.writestr(name, b"3\n")
        z.writestr(f"{prefix}/data.pkl", pkl)
        if byteorder is not None:
            z.writestr(f"{prefix}/byteorder", byteorder.encode())
        for key, raw in (files or {}).items():
            z.writestr(f"{prefix}/data/{key}", raw)
    return path


def _floats(*values: float) -> bytes:
    return struct.pack(f"={len(values)}f", *values)


def _pid(storage_type: bytes, key: str, numel: int) -> bytes:
    """The persistent reference ('storage', type, key, 'cpu', numel), then BINPERSID."""
    return b"(S'storage'\n" + storage_type + b"S'" + key.encode() + b"'\nS'cpu'\nI" + str(numel).encode() + b"\ntQ"


FLOAT = b"ctorch\nFloatStorage\n"


def _save(tmp_path: Path, obj, name: str = "ckpt.pt") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


# --- tensors ------------------------------------------------------------------------------------------------


def test_tensors_of_every_storage_dtype(tmp_path):
    src = _save(tmp_path, {
        "f": torch.tensor([[1.5, -2.0, 3.0], [4.0, 5.0, 6.25]]),
        "d": torch.tensor([0.125, 2.0], dtype=torch.float64),
        "h": torch.tensor([1.5, -1.0], dtype=torch.float16),
        "bf": torch.tensor([2.0, 0.5], dtype=torch.bfloat16),
        "l": torch.tensor([-(2**40), 7], dtype=torch.int64),
        "i": torch.tensor([-70000, 3], dtype=torch.int32),
        "s": torch.tensor([-300, 300], dtype=torch.int16),
        "c": torch.tensor([-5, 100], dtype=torch.int8),
        "u": torch.tensor([250, 1], dtype=torch.uint8),
        "b": torch.tensor([True, False, True]),
    })
    got = read_restricted(src)
    assert type(got) is dict and list(got) == ["f", "d", "h", "bf", "l", "i", "s", "c", "u", "b"]
    expected = {
        "f": (torch.float32, [[1.5, -2.0, 3.0], [4.0, 5.0, 6.25]]),
        "d": (torch.float64, [0.125, 2.0]),
        "h": (torch.float16, [1.5, -1.0]),
        "bf": (torch.bfloat16, [2.0, 0.5]),
        "l": (torch.int64, [-(2**40), 7]),
        "i": (torch.int32, [-70000, 3]),
        "s": (torch.int16, [-300, 300]),
        "c": (torch.int8, [-5, 100]),
        "u": (torch.uint8, [250, 1]),
        "b": (torch.bool, [True, False, True]),
    }
    for key, (dtype, values) in expected.items():
        assert type(got[key]) is torch.Tensor, key
        assert got[key].dtype == dtype and got[key].tolist() == values, key


def test_views_keep_offset_stride_and_drop_requires_grad(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    src = _save(tmp_path, {"view": base[1:, 1::2], "t": base.t(), "grad": torch.tensor([1.0, 2.0], requires_grad=True)})
    got = read_restricted(src)
    view, t, grad = got["view"], got["t"], got["grad"]
    assert view.tolist() == [[5.0, 7.0], [9.0, 11.0]]
    assert view.shape == (2, 2) and view.stride() == (4, 2) and view.storage_offset() == 5
    assert t.shape == (4, 3) and t.stride() == (1, 4) and t.storage_offset() == 0
    assert t.tolist() == [[0.0, 4.0, 8.0], [1.0, 5.0, 9.0], [2.0, 6.0, 10.0], [3.0, 7.0, 11.0]]
    assert grad.tolist() == [1.0, 2.0] and grad.requires_grad is False and type(grad) is torch.Tensor


def test_parameters_become_plain_tensors(tmp_path):
    plain = nn.Parameter(torch.tensor([1.0, 2.0]))
    with_state = nn.Parameter(torch.tensor([[3.0], [4.0]]))
    with_state.extra = "x"  # torch.save writes _rebuild_parameter_with_state
    got = read_restricted(_save(tmp_path, {"p": plain, "q": with_state}))
    for key, values in (("p", [1.0, 2.0]), ("q", [[3.0], [4.0]])):
        assert type(got[key]) is torch.Tensor and got[key].requires_grad is False
        assert got[key].tolist() == values


def test_empty_storages_keep_their_dtype(tmp_path):
    got = read_restricted(_save(tmp_path, {"l": torch.zeros(0, dtype=torch.int64), "f": torch.zeros(0, 3)}))
    assert got["l"].dtype == torch.int64 and got["l"].shape == (0,)
    assert got["f"].dtype == torch.float32 and got["f"].shape == (0, 3)


def test_legacy_rebuild_tensor_with_offset(tmp_path):
    pkl = b"ctorch._utils\n_rebuild_tensor\n(" + _pid(FLOAT, "0", 6) + b"I1\n(I2\nI2\nt(I1\nI2\nttR."
    src = _archive(tmp_path / "old.pt", pkl, {"0": _floats(0, 1, 2, 3, 4, 5)})
    got = read_restricted(src)
    assert got.dtype == torch.float32 and got.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert got.stride() == (1, 2) and got.storage_offset() == 1


def test_untyped_storage_in_torch_storage_module(tmp_path):
    pkl = b"ctorch._utils\n_rebuild_tensor_v2\n(" + _pid(b"ctorch.storage\nUntypedStorage\n", "k", 3) + b"I1\n(I2\nt(I1\ntI00\ntR."
    got = read_restricted(_archive(tmp_path / "u.pt", pkl, {"k": bytes([9, 200, 17])}))
    assert got.dtype == torch.uint8 and got.tolist() == [200, 17] and got.storage_offset() == 1


# --- containers and records --------------------------------------------------------------------------------


def test_plain_containers_are_real(tmp_path):
    got = read_restricted(_save(tmp_path, {"s": {1, 2}, "f": frozenset({3}), "o": OrderedDict(b=1, a=2), "n": [1, (2, "x")]}))
    assert type(got["s"]) is set and got["s"] == {1, 2}
    assert type(got["f"]) is frozenset and got["f"] == frozenset({3})
    assert type(got["o"]) is OrderedDict and list(got["o"].items()) == [("b", 1), ("a", 2)]
    assert got["n"] == [1, (2, "x")]


def test_state_dict_metadata_is_dropped(tmp_path):
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0]]))
        layer.bias.fill_(0.5)
    got = read_restricted(_save(tmp_path, layer.state_dict()))
    assert type(got) is OrderedDict and list(got) == ["weight", "bias"]
    assert not hasattr(got, "_metadata")
    assert got["weight"].tolist() == [[1.0, -1.0]] and got["bias"].tolist() == [0.5]


def test_find_class_records_storage_types_and_python2_names(tmp_path):
    pkl = (b"(cpkg.mod\nThing\ncpkg.mod\nThing\ncfoo\nFloatStorage\nc__builtin__\nxrange\n"
           b"ctorch.storage\nUntypedStorage\nctorch\nDoubleStorage\nctorch\nHalfStorage\ncpkg.mod\nOther\nt.")
    thing, again, foo, xrange, untyped, double, half, other = read_restricted(_archive(tmp_path / "g.pt", pkl))
    assert thing is again and issubclass(thing, InertRecord) and other is not thing
    assert thing.__name__ == "Thing" and thing.qualified_name == "pkg.mod.Thing"
    assert other.qualified_name == "pkg.mod.Other"
    # a FloatStorage outside torch is no storage; Python 2's names are read as Python 3's
    assert issubclass(foo, InertRecord) and foo.qualified_name == "foo.FloatStorage"
    assert issubclass(xrange, InertRecord) and xrange.qualified_name == "builtins.range"
    assert (untyped.dtype, double.dtype, half.dtype) == (torch.uint8, torch.float64, torch.float16)


def test_record_state_items_and_values(tmp_path):
    pkl = (b"(cpkg\nThing\n)\x81}S'k'\nI1\nsb"  # NEWOBJ + BUILD
           b"cpkg\nCfg\n)\x81S'a'\nI1\ns(S'b'\nI2\nS'c'\nI3\nu"  # SETITEM, SETITEMS
           b"cpkg\nSeq\n)\x81I1\na(I2\nI3\ne"  # APPEND, APPENDS (extend)
           b"cpkg\nSeq\n)\x81(I4\nI5\ne"  # APPENDS first
           b"cpkg\nBare\n)\x81t.")
    thing, cfg, seq, seq2, bare = read_restricted(_archive(tmp_path / "r.pt", pkl))
    assert vars(seq2) == {"values": [4, 5]}
    assert vars(thing) == {"state": {"k": 1}} and repr(thing) == "<inert pkg.Thing>"
    assert vars(cfg) == {"items": {"a": 1, "b": 2, "c": 3}}
    assert vars(seq) == {"values": [1, 2, 3]}
    assert vars(bare) == {} and repr(bare) == "<inert pkg.Bare>"


def test_record_methods_directly():
    cls = type("Node", (InertRecord,), {"qualified_name": "cfg.Node"})
    rec = cls.__new__(cls)
    rec["x"] = 1
    rec["y"] = None
    rec.append(2)
    rec.extend([3, 4])
    rec.append(None)
    rec.__setstate__({"s": 5})
    assert vars(rec) == {"items": {"x": 1, "y": None}, "values": [2, 3, 4, None], "state": {"s": 5}}
    assert repr(rec) == "<inert cfg.Node>"
    first = cls.__new__(cls)
    first.extend((7, 8))  # APPENDS before any APPEND
    assert vars(first) == {"values": [7, 8]}


# --- refusals ----------------------------------------------------------------------------------------------


def test_call_of_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    src = _archive(tmp_path / "evil.pt", b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError) as info:
        read_restricted(src)
    assert re.search(r"refused.*os\.system", info.value.message) and str(src) in str(info.value)
    assert info.value.path == src
    assert not marker.exists()


def test_call_of_a_record_class_is_refused(tmp_path):
    src = _archive(tmp_path / "call.pt", b"cpkg\nThing\n(I1\ntR.")
    with pytest.raises(UnsafePickleError) as info:
        read_restricted(src)
    assert re.search(r"refused.*pkg\.Thing", info.value.message)


def test_state_of_a_real_object_is_refused(tmp_path):
    src = _archive(tmp_path / "build.pt", b"c__builtin__\nset\n(]tR}S'attribute'\nI1\nsb.")
    with pytest.raises(UnsafePickleError) as info:
        read_restricted(src)
    assert re.search(r"refused.*state.*\bset\b", info.value.message) and info.value.path == src


def test_ordered_dict_state_is_dropped(tmp_path):
    got = read_restricted(_archive(tmp_path / "od.pt", b"ccollections\nOrderedDict\n)R}S'_metadata'\nI1\nsb."))
    assert type(got) is OrderedDict and got == OrderedDict() and not hasattr(got, "_metadata")


PERSISTENT_ERRORS = [
    # (pickle, storages, error type, message)
    (b"(S'storage'\nI1\ntQ.", {}, UnsafePickleError, r"refused.*persistent reference.*\('storage', 1\)"),
    (b"(S'storage'\nI1\nI2\nI3\nI4\nI5\ntQ.", {}, UnsafePickleError,
     r"refused.*persistent reference.*\('storage', 1, 2, 3, 4, 5\)"),
    (b"(S'other'\n" + FLOAT + b"S'0'\nS'cpu'\nI1\ntQ.", {}, UnsafePickleError, r"refused.*persistent reference.*'other'"),
    # a long reference is shown cut short
    (b"P" + b"x" * 100 + b"\n.", {}, UnsafePickleError, r"refused.*persistent reference.*'x{60}'"),
    (b"(S'storage'\nS'FloatStorage'\nS'0'\nS'cpu'\nI1\ntQ.", {}, UnsafePickleError,
     r"refused.*unknown type 'FloatStorage'"),
    (_pid(FLOAT, "7", 1) + b".", {"0": _floats(1)}, CheckpointError, r"storage '7' is missing"),
    (_pid(FLOAT, "0", 3) + b".", {"0": _floats(1, 2)}, CheckpointError, r"storage '0' holds 2 values.*\b3\b"),
    (_pid(FLOAT, "0", 1) + b".", {"0": b""}, CheckpointError, r"storage '0' holds 0 values.*\b1\b"),
]


@pytest.mark.parametrize("pkl,files,kind,message", PERSISTENT_ERRORS)
def test_persistent_reference_errors_name_the_file(tmp_path, pkl, files, kind, message):
    src = _archive(tmp_path / "p.pt", pkl, files)
    with pytest.raises(kind) as info:
        read_restricted(src)
    assert type(info.value) is kind and info.value.path == src
    assert re.search(message, info.value.message) and str(src) in str(info.value)
    # the unpickler itself names the file it was given
    with zipfile.ZipFile(src) as archive:
        unpickler = RestrictedUnpickler(archive.read("archive/data.pkl"), archive, "archive", Path("named.pt"))
        with pytest.raises(kind) as info:
            unpickler.load()
    assert info.value.path == Path("named.pt") and re.search(message, info.value.message)


# --- archive errors ----------------------------------------------------------------------------------------


def test_not_a_zip(tmp_path):
    src = tmp_path / "legacy.pt"
    src.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError) as info:
        read_restricted(str(src))
    assert info.value.path == src and "not a torch.save zip archive" in info.value.message
    assert info.value.path == src


def test_archive_without_data_pkl_at_the_first_level(tmp_path):
    src = tmp_path / "nopkl.pt"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("data.pkl", b"I1\n.")
        z.writestr("a/b/data.pkl", b"I2\n.")
        z.writestr("a/data.pkls", b"I3\n.")
        z.writestr("a/DATA.PKL", b"I4\n.")
    with pytest.raises(CheckpointError) as info:
        read_restricted(src)
    assert type(info.value) is CheckpointError
    assert info.value.path == src and "data.pkl" in info.value.message


def test_data_pkl_found_after_other_entries_under_any_prefix(tmp_path):
    pkl = b"ctorch._utils\n_rebuild_tensor_v2\n(" + _pid(FLOAT, "0", 2) + b"I0\n(I2\nt(I1\ntI00\ntR."
    src = _archive(tmp_path / "best.pt", pkl, {"0": _floats(0.5, 1.5)}, prefix="best",
                   before=("best/version", "best/.format_version"))
    assert read_restricted(src).tolist() == [0.5, 1.5]
    # no byteorder record (older torch): native order assumed
    src = _archive(tmp_path / "nobo.pt", pkl, {"0": _floats(0.5, 1.5)}, prefix="best", byteorder=None)
    assert read_restricted(src).tolist() == [0.5, 1.5]


def test_other_byte_order_is_refused(tmp_path):
    src = _archive(tmp_path / "be.pt", b"I1\n.", byteorder=OTHER_ORDER)
    with pytest.raises(CheckpointError) as info:
        read_restricted(src)
    assert info.value.path == src and "byte order" in info.value.message


def test_damaged_archive(tmp_path):
    src = _archive(tmp_path / "crc.pt", b"(I1\nI2\nI3\nt.")
    raw = bytearray(src.read_bytes())
    at = raw.index(b"I2\n")
    raw[at + 1] = ord("7")  # the entry's CRC no longer matches
    src.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError) as info:
        read_restricted(src)
    assert type(info.value) is CheckpointError and info.value.path == src
    assert re.search(r"damaged.*CRC.*archive/data\.pkl", info.value.message)  # what is damaged, where


def test_damaged_pickle(tmp_path):
    src = _archive(tmp_path / "bad.pt", b"\xff")
    with pytest.raises(CheckpointError) as info:
        read_restricted(src)
    assert type(info.value) is CheckpointError
    assert info.value.path == src and re.search(r"cannot unpickle.*KeyError", info.value.message)


# --- module trees ------------------------------------------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([1.0, 2.0]))
        self.register_parameter("nobias", None)
        self.register_buffer("scale", torch.tensor([3.0]), persistent=False)
        self.register_buffer("gone", None)
        self.register_buffer("count", torch.tensor([4], dtype=torch.int64))
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.lstmX = nn.Sequential(nn.Linear(2, 2))
        self.register_module("nothing", None)


@pytest.fixture
def net_file(tmp_path, monkeypatch):
    """`{'net': Net()}` pickled as the class `original.models.Net`, which this process cannot import after."""
    module = types.ModuleType("original.models")
    module.Net = Net
    monkeypatch.setattr(Net, "__module__", "original.models")
    monkeypatch.setitem(sys.modules, "original", types.ModuleType("original"))
    monkeypatch.setitem(sys.modules, "original.models", module)
    torch.manual_seed(0)
    net = Net()
    path = _save(tmp_path, {"net": net})
    monkeypatch.delitem(sys.modules, "original.models")
    monkeypatch.delitem(sys.modules, "original")
    return path, net.state_dict()


KEYS = ["p", "count", "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked", "lstmX.0.weight", "lstmX.0.bias"]


def test_module_state_dict_of_a_pickled_tree(net_file):
    path, reference = net_file
    net = read_restricted(path)["net"]
    assert type(net).qualified_name == "original.models.Net" and repr(net) == "<inert original.models.Net>"
    got = module_state_dict(net)
    assert type(got) is OrderedDict and list(got) == KEYS
    assert got["p"].tolist() == [1.0, 2.0] and got["count"].tolist() == [4]
    assert got["bn.running_var"].tolist() == [1.0, 1.0] and got["bn.num_batches_tracked"].dtype == torch.int64
    assert all(torch.equal(got[k], reference[k]) for k in KEYS)
    prefixed = module_state_dict(net, "m.")
    assert list(prefixed) == ["m." + k for k in KEYS]
    sub = module_state_dict(net.state["_modules"]["lstmX"])
    assert list(sub) == ["0.weight", "0.bias"]


def _record(name: str, state) -> InertRecord:
    cls = type(name.rsplit(".", 1)[1], (InertRecord,), {"qualified_name": name})
    rec = cls.__new__(cls)  # as pickle's NEWOBJ creates it
    rec.__setstate__(state)
    return rec


@pytest.mark.parametrize(
    "module,message",
    [
        (lambda: {"_modules": {}}, "{'_modules': {}}"),  # what was found instead
        (lambda: types.SimpleNamespace(state={"_modules": {}}), "namespace(state={'_modules': {}})"),
        (lambda: _record("pkg.Thing", {"x": 1}), "pkg.Thing"),
        (lambda: _record("pkg.Thing", [("_modules", 1)]), "pkg.Thing"),
        (lambda: InertRecord.__new__(type("Bare", (InertRecord,), {"qualified_name": "pkg.Bare"})), "pkg.Bare"),
    ],
)
def test_module_state_dict_refuses_what_is_not_a_module(module, message):
    with pytest.raises(CheckpointError) as info:
        module_state_dict(module())
    assert re.search(r"'net'.*not a pickled torch module", str(info.value)) and message in str(info.value)


def test_module_state_dict_error_names_the_nested_module():
    leaf = _record("pkg.Leaf", {"weights": 1})
    inner = _record("pkg.Inner", {"_modules": {"lstmX": leaf}})
    outer = _record("pkg.Outer", {"_parameters": None, "_modules": {"enc": inner, "skip": None}})
    with pytest.raises(CheckpointError) as info:
        module_state_dict(outer)
    assert re.search(r"'enc\.lstmX'.*not a pickled torch module.*pkg\.Leaf", str(info.value))
    with pytest.raises(CheckpointError) as info:
        module_state_dict(inner, "top.")
    assert re.search(r"'top\.lstmX'.*pkg\.Leaf", str(info.value))


def test_module_state_dict_of_hand_built_records():
    w, b, m = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0])
    child = _record("pkg.Child", {"_parameters": {"w": w, "none": None}, "_buffers": {"m": m, "hidden": b},
                                  "_non_persistent_buffers_set": {"hidden"}, "_modules": {}})
    root = _record("pkg.Root", {"_parameters": {"b": b}, "_modules": {"c": child, "n": None}})
    got = module_state_dict(root)
    assert list(got) == ["b", "c.w", "c.m"]
    assert got["b"] is b and got["c.w"] is w and got["c.m"] is m
