"""Reading one chunk file of a store and proving it intact (docs/store.md#verification-and-repair).

A chunk file is Blosc-compressed little-endian values followed by the CRC-32C of the compressed bytes
(`layout.encode_chunk`). zarr itself answers a missing chunk with the fill value and a bad checksum
with a bare `ValueError`; lmv never reads chunks through zarr, so neither can reach a user: a missing,
truncated, checksum-failing or undecodable chunk is a `ChunkDamage` naming what is wrong, which the
reader and the verifier turn into a message naming store, scene, buffer, frame and chunk path.
"""

from __future__ import annotations

from pathlib import Path

import google_crc32c
import numpy as np
from numcodecs import blosc

from lmv_cli.core.errors import StoreError
from lmv_cli.core.store.layout import CHECKSUM_BYTES

BLOSC_HEADER_BYTES = 16


class ChunkDamage(StoreError):
    """One chunk file is missing, truncated, fails its checksum or does not decode."""

    def __init__(self, message: str, *, path: Path, code: str):
        super().__init__(message, path=path)
        self.code = code  # "chunk-missing", "chunk-truncated", "chunk-checksum" or "chunk-corrupt"


def read_chunk(path: Path, shape: tuple[int, ...], dtype: str, *, verify: bool = True) -> np.ndarray:
    """The values of the chunk file `path`, (shape) in `dtype`; raises `ChunkDamage`.

    `verify=False` skips the checksum: only the read benchmark uses it, to measure what it costs."""
    return decode_chunk(_load(path), path, shape, dtype, verify=verify)


def check_chunk(path: Path) -> None:
    """Presence, length and checksum of the chunk file `path`, without decompressing; `ChunkDamage`."""
    _body(_load(path), path, verify=True)


def _load(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ChunkDamage("chunk file missing", path=path, code="chunk-missing") from None
    except OSError as e:
        raise ChunkDamage(f"chunk file unreadable: {e.strerror}", path=path, code="chunk-corrupt") from None


def _body(data: bytes, path: Path, *, verify: bool) -> memoryview:
    """The compressed bytes of a chunk file, its length and (`verify`) its checksum checked."""
    if len(data) < BLOSC_HEADER_BYTES + CHECKSUM_BYTES:
        raise ChunkDamage(f"chunk truncated: {len(data)} bytes", path=path, code="chunk-truncated")
    if verify:
        stored, computed = checksum_pair(data)
        if stored != computed:
            raise ChunkDamage(f"chunk checksum mismatch (stored crc32c {stored:08x}, computed {computed:08x})",
                              path=path, code="chunk-checksum")
    return memoryview(data)[:-CHECKSUM_BYTES]


def decode_chunk(data: bytes, path: Path, shape: tuple[int, ...], dtype: str, *, verify: bool = True) -> np.ndarray:
    """Check and decompress the bytes of one chunk file (see `read_chunk`)."""
    body = _body(data, path, verify=verify)
    out = np.empty(shape, dtype=np.dtype(dtype).newbyteorder("<"))
    try:
        # Blosc 1 header: nbytes (uncompressed) at bytes 4..7, cbytes (whole buffer) at 12..15, little-endian.
        nbytes, cbytes = int.from_bytes(body[4:8], "little"), int.from_bytes(body[12:16], "little")
        if cbytes != len(body):
            raise ChunkDamage(f"chunk truncated: {len(body)} compressed bytes, its header says {cbytes}",
                              path=path, code="chunk-truncated")
        if nbytes != out.nbytes:
            raise ChunkDamage(f"chunk holds {nbytes} bytes, expected {out.nbytes} for {shape} {dtype}",
                              path=path, code="chunk-corrupt")
        blosc.decompress(body, out)
    except (RuntimeError, ValueError, TypeError) as e:
        raise ChunkDamage(f"chunk does not decode ({e})", path=path, code="chunk-corrupt") from None
    return out


def checksum_pair(data: bytes) -> tuple[int, int]:
    """(stored, computed) CRC-32C of a chunk file's bytes."""
    stored = int.from_bytes(data[-CHECKSUM_BYTES:], "little")
    return stored, google_crc32c.value(np.frombuffer(data, dtype=np.uint8)[:-CHECKSUM_BYTES])
