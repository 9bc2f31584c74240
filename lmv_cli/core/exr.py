"""EXR reading and writing: the only module that imports OpenEXR.

Pitfalls handled here (ecosystem notes §1.2): header dicts are emptied when an `OpenEXR.File` is closed,
so everything is copied out while the file is open; multi-part files (Blender 5) are walked part by part;
truncated files are detected from the chunk offset table *before* decoding, because the decoder only
prints C-level warnings and returns an empty file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR

from lmv_cli.core.errors import ExrError

MAGIC = b"\x76\x2f\x31\x01"
_TILED_FLAG, _DEEP_FLAG, _MULTIPART_FLAG = 0x200, 0x800, 0x1000
# Scanlines per chunk by compression id (OpenEXR file layout, "Line Offset Tables").
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256, 10: 256, 11: 32}
_PIXEL_TYPES = {0: "uint", 1: "half", 2: "float"}
_DTYPES = {"half": np.float16, "float": np.float32, "uint": np.uint32}


@dataclass(frozen=True)
class ExrInfo:
    """What a header-only read tells about a file (all parts merged)."""

    path: Path
    width: int
    height: int
    channels: dict[str, str]  # channel name -> "half" | "float" | "uint"
    compression: str  # e.g. "ZIP", "DWAA"; of the first part
    parts: int


def read_info(path: str | Path) -> ExrInfo:
    """Read the header of an EXR file and verify that every chunk it announces lies in the file.

    Reads the header, the offset table and the last chunk's leader only (well under a millisecond):
    no pixel is decoded. Raises `ExrError` for a missing, non-EXR, truncated or deep file.
    """
    path = Path(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(min(size, 1 << 16))
        if len(head) < 8 or head[:4] != MAGIC:
            raise ExrError(f"not an EXR file (bad magic number, {size} bytes)", path=path)
        while True:
            try:
                headers, offsets_at = _parse_headers(path, head)
                break
            except _NeedMore:
                if len(head) >= size:
                    raise ExrError("truncated EXR header", path=path) from None
                head += f.read(len(head))
        _check_chunks(path, f, size, headers, offsets_at)
    first = headers[0]
    channels: dict[str, str] = {}
    for h in headers:
        channels.update(h["channels"])
    return ExrInfo(path, first["width"], first["height"], channels, first["compression"], len(headers))


def read_channels(
    path: str | Path, names: Iterable[str] | None = None, *, verified: bool = False
) -> dict[str, np.ndarray]:
    """Decode channels of an EXR file as (H, W) arrays in their stored dtype.

    `names` selects channels (all when None); a missing one raises `ExrError` listing the channels
    found. Multi-part files are merged (their channel names are unique in practice, e.g. Blender's
    `ViewLayer.Depth.Z`). `verified=True` skips the truncation check when the caller just did it.
    """
    path = Path(path)
    parts = None if verified else read_info(path).parts
    try:
        f = OpenEXR.File(str(path), separate_channels=True)
        found = {name: ch.pixels for part in f.parts for name, ch in part.channels.items()}
    except Exception as e:  # the binding raises RuntimeError/ValueError with C-library text
        raise ExrError(f"cannot decode EXR: {e}", path=path) from e
    # Undecodable chunk data (header intact) makes the binding print a warning and drop the part.
    if not f.parts or (parts is not None and len(f.parts) < parts):
        decoded = f"{len(f.parts)} of {parts} part(s) decoded" if parts else "no part decoded"
        raise ExrError(f"cannot decode pixel data: {decoded} (corrupt chunk data)", path=path)
    if names is None:
        return found
    wanted = list(names)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ExrError(
            f"missing channel(s) {', '.join(missing)}; channels found: {', '.join(sorted(found)) or 'none'}",
            path=path,
        )
    return {n: found[n] for n in wanted}


def read_stack(path: str | Path, names: Iterable[str], dtype: type = np.float32) -> np.ndarray:
    """Decode the given channels and stack them into one (C, H, W) array of `dtype`."""
    chans = read_channels(path, names)
    return np.stack([np.asarray(c, dtype=dtype) for c in chans.values()])


def write_exr(
    path: str | Path,
    channels: Mapping[str, np.ndarray],
    *,
    compression: str = "ZIP",
    attributes: Mapping[str, object] | None = None,
) -> None:
    """Write a single-part scanline EXR atomically (temporary name, then rename).

    `channels` maps channel names to (H, W) arrays; float16 arrays are stored as half, float32 as
    float, uint32 as uint. Other float dtypes are converted to float32.
    """
    path = Path(path)
    prepared = {name: _as_storable(name, arr) for name, arr in channels.items()}
    header = {"compression": _compression(compression), "type": OpenEXR.scanlineimage}
    header.update(attributes or {})
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        OpenEXR.File(header, prepared).write(str(tmp))
        os.replace(tmp, path)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise ExrError(f"cannot write EXR: {e}", path=path) from e


def write_rgba(path: str | Path, image: np.ndarray, *, compression: str = "ZIP", alpha: float = 1.0) -> None:
    """Write a (C, H, W) image with C in 1..4 as an RGBA EXR (UE export style: missing channels 0,
    alpha `alpha` unless given)."""
    c, h, w = image.shape
    if not 1 <= c <= 4:
        raise ExrError(f"expected 1 to 4 channels, got {c}", path=path)
    dtype = image.dtype if image.dtype in (np.float16, np.float32) else np.float32
    planes = {}
    for i, name in enumerate("RGBA"):
        if i < c:
            planes[name] = image[i].astype(dtype, copy=False)
        else:
            planes[name] = np.full((h, w), alpha if name == "A" else 0.0, dtype=dtype)
    write_exr(path, planes, compression=compression)


def _as_storable(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ExrError(f"channel {name!r} must be 2-D (H, W), got shape {arr.shape}")
    if arr.dtype not in (np.float16, np.float32, np.uint32):
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)


def _compression(name: str):
    try:
        return getattr(OpenEXR, f"{name.upper()}_COMPRESSION")
    except AttributeError:
        raise ExrError(f"unknown EXR compression {name!r}") from None


class _NeedMore(Exception):
    """The header runs past the bytes read so far."""


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ExrError("file not found", path=path) from None
    except IsADirectoryError:
        raise ExrError("is a directory, expected an EXR file", path=path) from None
    except OSError as e:
        raise ExrError(f"cannot read: {e.strerror}", path=path) from None


def _parse_headers(path: Path, data: bytes) -> tuple[list[dict], int]:
    """Parse the header(s); return them and the byte offset where the offset tables start."""
    (version,) = struct.unpack_from("<I", data, 4)
    if version & _DEEP_FLAG:
        raise ExrError("deep EXR files are not supported", path=path)
    multipart = bool(version & _MULTIPART_FLAG)
    pos, headers = 8, []
    while True:
        header, pos = _parse_one_header(path, data, pos)
        header["tiled"] = bool(version & _TILED_FLAG) or header.get("type", "").startswith("tiled")
        headers.append(header)
        if not multipart:
            break
        if pos >= len(data):
            raise _NeedMore
        if data[pos] == 0:  # an empty header ends the list of parts
            pos += 1
            break
    return headers, pos


def _parse_one_header(path: Path, data: bytes, pos: int) -> tuple[dict, int]:
    header: dict = {"channels": {}}
    try:
        while data[pos] != 0:
            name, pos = _cstring(data, pos)
            kind, pos = _cstring(data, pos)
            (size,) = struct.unpack_from("<i", data, pos)
            value = data[pos + 4 : pos + 4 + size]
            if len(value) != size:
                raise IndexError
            pos += 4 + size
            _decode_attribute(header, name, kind, value)
    except (IndexError, ValueError, struct.error):
        raise _NeedMore from None
    if "width" not in header:
        raise ExrError("EXR header has no dataWindow", path=path)
    return header, pos + 1


def _decode_attribute(header: dict, name: str, kind: str, value: bytes) -> None:
    if kind == "chlist":
        p = 0
        while value[p] != 0:
            cname, p = _cstring(value, p)
            (ptype,) = struct.unpack_from("<i", value, p)
            header["channels"][cname] = _PIXEL_TYPES.get(ptype, f"type{ptype}")
            p += 16
    elif name == "dataWindow":
        x0, y0, x1, y1 = struct.unpack("<4i", value)
        header.update(width=x1 - x0 + 1, height=y1 - y0 + 1)
    elif name == "compression":
        header["compression_id"] = value[0]
        header["compression"] = _compression_name(value[0])
    elif name == "chunkCount":
        (header["chunk_count"],) = struct.unpack("<i", value)
    elif name == "type":
        header["type"] = value.rstrip(b"\0").decode("latin-1")


def _compression_name(cid: int) -> str:
    for name, member in OpenEXR.Compression.__members__.items():
        if int(member) == cid:
            return name.removesuffix("_COMPRESSION")
    return f"compression{cid}"


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _check_chunks(path: Path, f, size: int, headers: list[dict], pos: int) -> None:
    """Every chunk offset must point inside the file, and the last chunk must end inside it."""
    multipart = len(headers) > 1 or "chunk_count" in headers[0]
    for h in headers:
        count = h.get("chunk_count")
        if count is None:
            if h["tiled"]:
                return  # tile counts need the level structure; the decoder validates tiled files
            lines = _LINES_PER_CHUNK.get(h.get("compression_id", 0))
            if lines is None:
                return  # a codec newer than this table: leave validation to the decoder
            count = -(-h["height"] // lines)
        f.seek(pos)
        raw = f.read(8 * count)
        if len(raw) < 8 * count:
            raise ExrError(f"truncated: the offset table runs past the end of the file ({size} bytes)", path=path)
        table = np.frombuffer(raw, dtype="<u8")
        pos += 8 * count
        outside = (table < pos) | (table >= size)
        if outside.any():
            raise ExrError(
                f"truncated or corrupt: {int(outside.sum())} of {count} chunks point outside the file ({size} bytes)",
                path=path,
            )
        # The chunk leader holds [part number], y (or 4 tile ints), then the data size.
        size_at = int(table.max()) + (4 if multipart else 0) + (16 if h["tiled"] else 4)
        f.seek(size_at)
        leader = f.read(4)
        if len(leader) < 4:
            raise ExrError(f"truncated: the last chunk starts past the end of the file ({size} bytes)", path=path)
        (chunk,) = struct.unpack("<i", leader)
        if size_at + 4 + chunk > size:
            raise ExrError(f"truncated: the last chunk needs {size_at + 4 + chunk} bytes, the file has {size}", path=path)
