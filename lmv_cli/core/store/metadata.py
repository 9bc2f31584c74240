"""The `zarr.json` documents of a store, read and checked without zarr (docs/store.md#verification-and-repair).

Readers and the verifier compare every array's metadata with what the format prescribes (shape from
the scene's frames and size, dtype, one chunk per frame, Blosc + crc32c codecs), so a damaged or
foreign `zarr.json` is reported as such instead of steering zarr into reading the wrong thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout


class MetadataDamage(StoreError):
    """A `zarr.json` is missing, not JSON, or not the node the format prescribes."""


def read_node(path: Path, node_type: str) -> dict:
    """The parsed `zarr.json` of the group or array folder `path`; raises `MetadataDamage`."""
    meta_path = path / "zarr.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetadataDamage("zarr.json missing", path=meta_path) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise MetadataDamage(f"zarr.json unreadable ({_first_line(e)})", path=meta_path) from None
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3 or meta.get("node_type") != node_type:
        raise MetadataDamage(f"zarr.json is not a Zarr v3 {node_type}", path=meta_path)
    if not isinstance(meta.get("attributes", {}), dict):
        raise MetadataDamage("zarr.json attributes are not a mapping", path=meta_path)
    return meta


def group_attrs(path: Path) -> dict:
    """The attributes of the group at `path`; raises `MetadataDamage`."""
    return read_node(path, "group").get("attributes", {})


def expected_codecs(dtype: str) -> list[dict]:
    """The codec chain zarr writes for `layout.codecs()` on an array of `dtype` (pinned by a test)."""
    size = np.dtype(dtype).itemsize
    endian = [{"name": "bytes"}] if size == 1 else [{"name": "bytes", "configuration": {"endian": "little"}}]
    blosc = {"typesize": size, "cname": layout.CODEC_DESCRIPTION["cname"], "clevel": layout.CODEC_DESCRIPTION["clevel"],
             "shuffle": layout.CODEC_DESCRIPTION["shuffle"], "blocksize": 0}
    return [*endian, {"name": "blosc", "configuration": blosc}, {"name": "crc32c"}]


def check_array(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str) -> dict:
    """Read the array metadata at `path` and raise `MetadataDamage` naming the first field that
    differs from the format (shape, dtype, chunk shape, chunk keys, codecs); return the metadata."""
    meta = read_node(path, "array")
    grid = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
    keys = meta.get("chunk_key_encoding", {})
    found = {
        "shape": (list(meta.get("shape", [])), list(shape)),
        "data type": (meta.get("data_type"), dtype),
        "chunk shape": (grid, list(chunks)),
        "chunk key encoding": (keys.get("name"), "default"),
        "chunk key separator": (keys.get("configuration", {}).get("separator", "/"), "/"),
    }
    for what, (got, want) in found.items():
        if got != want:
            raise MetadataDamage(f"array {what} {got}, expected {want}", path=path / "zarr.json")
    codecs = meta.get("codecs")
    if codecs != expected_codecs(dtype):
        names = [c.get("name") for c in codecs] if isinstance(codecs, list) else codecs
        raise MetadataDamage(f"array codecs {names}, expected bytes, blosc, crc32c (format version "
                             f"{layout.FORMAT_VERSION})", path=path / "zarr.json")
    return meta


def write_group(path: Path, attrs: dict) -> None:
    """Write the `zarr.json` of a group (as zarr writes it), atomically."""
    meta = {"attributes": attrs, "zarr_format": 3, "node_type": "group"}
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "zarr.json.lmv.partial"
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    tmp.replace(path / "zarr.json")


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
