"""Read a `torch.save` file that pickles whole objects (the original FSNet trainer's `{'net': module}`)
without executing any of its code.

`torch.load(weights_only=True)` refuses such files because they name the original's classes; an
unrestricted unpickler would import and run whatever the file names. This reader parses the zip
archive `torch.save` writes and unpickles `data.pkl` with an unpickler that:

- rebuilds tensors itself from the archive's raw storages (the file's tensor-rebuild references are
  mapped to functions of this module; torch's own rebuild code is never looked up);
- builds plain containers (`collections.OrderedDict`, `set`, `frozenset`) for real;
- turns every other referenced global into an `InertRecord` class: creating an object of it
  (pickle's NEWOBJ) gives an empty record, and its pickled state (BUILD) is stored in `.state`. Nothing
  is imported;
- refuses any *call* of such a global (pickle's REDUCE, INST, OBJ: the `__reduce__` mechanism that
  would run e.g. `os.system`) with `UnsafePickleError`, before anything is called;
- applies pickled state (BUILD) only to records (an `OrderedDict`'s attributes, e.g. a state dict's
  `_metadata`, are dropped), so no `__setstate__` of a real class ever sees data from the file.

It subclasses the pure-Python `pickle._Unpickler` for that last rule (the C unpickler's opcodes cannot
be overridden); `data.pkl` holds only the object tree, the tensor data lies beside it, so speed is moot.

`module_state_dict(record)` walks a pickled `nn.Module` tree (`_parameters`, `_buffers`, `_modules`)
and returns the dotted-name state dict that the module's `.state_dict()` would have returned.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from lmv_cli.core.errors import CheckpointError


class UnsafePickleError(CheckpointError):
    """The file asks to call something other than a tensor rebuild or a plain container."""


class InertRecord:
    """Stand-in for a class named in the file: holds the pickled state, runs nothing."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> InertRecord:  # NEWOBJ: cls.__new__(cls, *args)
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # reached only when the file *calls* the global
        raise UnsafePickleError(f"refused: the file calls {self.qualified_name}(...), which is not a tensor rebuild")

    def __setstate__(self, state: Any) -> None:  # BUILD
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS of a dict subclass (e.g. a config node)
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:  # APPENDS of a list subclass
        self.__dict__.setdefault("values", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("values", []).extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


class _StorageType:
    """What a `torch.XStorage` reference stands for: only its dtype is used."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """Our `torch._utils._rebuild_tensor_v2`: a view of the flat storage tensor."""
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_tensor(storage, offset, size, stride):
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    """Our `torch._utils._rebuild_parameter(_with_state)`: the parameter's data as a plain tensor."""
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 - the Python unpickler, for its dispatch table
    """Unpickler over a `torch.save` archive's `data.pkl`; see the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.path = archive, prefix, path
        self.records: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 (torch.save's default) spells Python 2 names, e.g. __builtin__.set
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if (module, name) not in self.records:
            record = type(name, (InertRecord,), {"qualified_name": f"{module}.{name}", "__module__": __name__})
            self.records[(module, name)] = record
        return self.records[(module, name)]

    def load_build(self) -> None:
        """BUILD: set the pickled state of the object on top of the stack; records only."""
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, InertRecord):
            inst.__setstate__(state)
        elif type(inst) is not OrderedDict:
            raise UnsafePickleError(f"refused: the file sets the state of a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid: Any) -> torch.Tensor:
        """('storage', storage type, key, location, numel) → the storage as a flat tensor of its dtype."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"refused: unsupported persistent reference {str(pid)[:60]!r}", path=self.path)
        _, storage_type, key, _, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"refused: storage of unknown type {storage_type!r}", path=self.path)
        try:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
        except KeyError:
            raise CheckpointError(f"storage '{key}' is missing from the archive (truncated file?)", path=self.path) from None
        flat = torch.frombuffer(bytearray(raw), dtype=storage_type.dtype) if raw else torch.empty(0, dtype=storage_type.dtype)
        if flat.numel() != numel:
            raise CheckpointError(f"storage '{key}' holds {flat.numel()} values, the file says {numel}", path=self.path)
        return flat


def read_restricted(path: str | Path) -> Any:
    """Unpickle a `torch.save` zip archive without running its code (module docstring).

    Raises `UnsafePickleError` for anything that would call code, `CheckpointError` for a file that is
    not a readable `torch.save` archive.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError("not a torch.save zip archive (legacy or foreign format)", path=path)
    try:
        with zipfile.ZipFile(path) as archive:
            return _unpickle(archive, path)
    except CheckpointError as e:
        raise type(e)(e.message, path=path) from None
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as e:
        raise CheckpointError(f"damaged torch.save archive ({type(e).__name__}: {e})", path=path) from None


def _unpickle(archive: zipfile.ZipFile, path: Path) -> Any:
    """`data.pkl` of an open archive through `RestrictedUnpickler`."""
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pickles:
        raise CheckpointError("torch.save archive without data.pkl")
    prefix = pickles[0].rsplit("/", 1)[0]
    if f"{prefix}/byteorder" in names and archive.read(f"{prefix}/byteorder").decode() != sys.byteorder:
        raise CheckpointError("tensors stored in the other byte order")
    unpickler = RestrictedUnpickler(archive.read(pickles[0]), archive, prefix, path)
    try:
        return unpickler.load()
    except (CheckpointError, zipfile.BadZipFile):
        raise
    except Exception as e:  # noqa: BLE001 - a damaged pickle raises many types
        raise CheckpointError(f"cannot unpickle the checkpoint: {type(e).__name__}: {e}") from None


def module_state_dict(module: Any, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
    """The state dict of a pickled `nn.Module` tree read by `read_restricted` (parameters, then
    persistent buffers, then submodules, as `nn.Module.state_dict`); `CheckpointError` if `module` is
    not such a tree."""
    state = getattr(module, "state", None)
    if not isinstance(module, InertRecord) or not isinstance(state, dict) or "_modules" not in state:
        raise CheckpointError(f"'{prefix.rstrip('.') or 'net'}' is not a pickled torch module ({module!r})")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in state["_modules"].items():
        if child is not None:
            out.update(module_state_dict(child, f"{prefix}{name}."))
    return out
