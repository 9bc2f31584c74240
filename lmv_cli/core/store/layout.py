"""The lmv store format (docs/store.md#arrays): names, shapes, dtypes, codec and attributes, shared by writer and reader.

A store is a Zarr v3 directory (LocalStore):

    OUT.zarr/                      root group, attrs: format, format_version, complete, layout, …
      <scene>/                     one group per scene, attrs: frames, height, width, stats, …
        <buffer>                   (T, C, H, W), chunks (1, C, H, W): one chunk = one frame of one buffer
        frames_done                (T,) uint8, 1 once every chunk of frame t is written (parent only)
        frame_stats                (T, B, 3) float64 per-frame min/max/mean of each buffer (parent only)
        nonfinite                  (T, F) int64 NaN/Inf replaced by 0, per frame and export folder
      .lmv-pack.lock               held (fcntl.flock) by the one `lmv pack` writing the store; holds its PID

Every chunk ends in a CRC-32C checksum (Zarr v3's `crc32c` codec after Blosc, format version 2), and
every chunk of every array is written, zeros included: a missing chunk file is always damage.

The bookkeeping arrays are written only by the packing parent process, after a worker reports a frame
complete, so a frame counts as packed only when all its chunks are on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np
from numcodecs import Blosc

from lmv_cli.core.derived import SOURCE_CHANNELS

FORMAT = "lmv-store"
FORMAT_VERSION = 2
"""2: every array's codec chain ends in `crc32c` (1: no checksums; refused, re-pack with --overwrite)."""
DIMENSION_NAMES = ("frame", "channel", "y", "x")

FRAMES_DONE = "frames_done"
FRAME_STATS = "frame_stats"
NONFINITE = "nonfinite"
LOCK_FILE = ".lmv-pack.lock"
BOOKKEEPING = (FRAMES_DONE, FRAME_STATS, NONFINITE)
STATS_FIELDS = ("min", "max", "mean")


@dataclass(frozen=True)
class BufferSpec:
    """One canonical buffer of a scene group."""

    name: str
    channels: int
    dtype: str  # numpy dtype name
    unit: str
    meaning: str

    def describe(self) -> dict:
        return {"channels": self.channels, "dtype": self.dtype, "unit": self.unit, "meaning": self.meaning}


BUFFERS: tuple[BufferSpec, ...] = (
    BufferSpec("scene_color", 3, "float16", "linear HDR", "final colour incl. separate translucency"),
    BufferSpec("scene_color_no_st", 3, "float16", "linear HDR", "colour without separate translucency"),
    BufferSpec("st_color", 3, "float16", "linear HDR",
               "premultiplied translucency: max(scene_color - scene_color_no_st * st_alpha, 0)"),
    BufferSpec("st_alpha", 1, "float16", "[0, 1]", "translucency transmittance (1 = nothing in front)"),
    BufferSpec("sky_color", 3, "float16", "linear HDR", "sky radiance at every pixel"),
    BufferSpec("base_color", 3, "float16", "[0, 1]", "base colour, 0 on sky"),
    BufferSpec("metallic", 1, "float16", "[0, 1]", "metallic"),
    BufferSpec("roughness", 1, "float16", "[0, 1]", "roughness"),
    BufferSpec("specular", 1, "float16", "[0, 1]", "UE specular (default 0.5)"),
    BufferSpec("nov", 1, "float16", "[-1, 1]", "N.V, not clamped"),
    BufferSpec("world_normal", 3, "float16", "[-1, 1]", "world-space normal"),
    BufferSpec("depth", 1, "float32", "cm", "planar depth; network form min(d, 65536) / 65536"),
    BufferSpec("motion_vector", 2, "float32", "NDC, y down",
               "current - previous position, full width = full height = 2; out(p) = prev(p - mv(p))"),
    BufferSpec("skybox_mask", 1, "uint8", "{0, 1}",
               "1 where depth >= sky depth * (1 - 1e-4) (both cm) and base colour is 0"),
    BufferSpec("brdf_color", 3, "float16", "linear, >= 0.01",
               "demodulation colour: albedo (1 - metallic) + LUT scale * specular colour + LUT bias; "
               "sky colour on sky"),
)
BUFFERS_BY_NAME: dict[str, BufferSpec] = {b.name: b for b in BUFFERS}
BUFFER_NAMES: tuple[str, ...] = tuple(b.name for b in BUFFERS)
SOURCE_FOLDERS: tuple[str, ...] = tuple(SOURCE_CHANNELS)
"""Columns of the `nonfinite` array."""


def codec():
    """The chunk compressor: Blosc LZ4 level 5, byte shuffle. On the Blender scenes it compresses 2.3×
    at 2.5 ms per 320x180 frame (all buffers); Blosc Zstd 1 gives 2.6× at 7.3 ms and decodes 2× slower,
    so LZ4 keeps packing and data loading cheap."""
    from zarr.codecs import BloscCodec, BloscShuffle

    return BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.shuffle)


def codecs() -> list:
    """Every array's bytes-to-bytes codecs: `codec()`, then Zarr v3's `crc32c` checksum."""
    from zarr.codecs import Crc32cCodec

    return [codec(), Crc32cCodec()]


CODEC_DESCRIPTION = {"name": "blosc", "cname": "lz4", "clevel": 5, "shuffle": "shuffle", "checksum": "crc32c"}
CHECKSUM_BYTES = 4


def chunk_key(array: str, frame: int, ndim: int = 4) -> str:
    """Path, relative to a scene group, of the chunk holding frame `frame` of an array with `ndim`
    dimensions, chunked one frame per chunk: Zarr v3's default chunk key encoding ("c" prefix, "/"
    separator), e.g. `depth/c/5/0/0/0` for frame 5 of depth (1, 1, H, W) chunks."""
    return f"{array}/c/{frame}" + "/0" * (ndim - 1)


def array_shapes(frames: int, height: int, width: int) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], str]]:
    """Every array of a scene group: name → (shape, chunk shape, dtype), buffers then bookkeeping."""
    arrays = {}
    for spec in BUFFERS:
        shape = buffer_shape(spec, frames, height, width)
        arrays[spec.name] = (shape, (1, *shape[1:]), spec.dtype)
    arrays[FRAMES_DONE] = ((frames,), (frames,), "uint8")
    arrays[FRAME_STATS] = ((frames, len(BUFFERS), 3), (1, len(BUFFERS), 3), "float64")
    arrays[NONFINITE] = ((frames, len(SOURCE_FOLDERS)), (1, len(SOURCE_FOLDERS)), "int64")
    return arrays


def encode_chunk(values) -> bytes:
    """The stored bytes of one chunk (C, H, W), byte for byte what zarr writes through the array's
    codecs: the little-endian "bytes" codec, Blosc with `codec()`'s parameters (typesize = item size),
    then the CRC-32C of the compressed bytes, little-endian. Lets a packing worker skip zarr's per-array
    machinery (~3 ms per chunk)."""
    values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    blosc = Blosc(cname=CODEC_DESCRIPTION["cname"], clevel=CODEC_DESCRIPTION["clevel"], shuffle=Blosc.SHUFFLE)
    compressed = bytes(blosc.encode(values))
    return compressed + google_crc32c.value(compressed).to_bytes(CHECKSUM_BYTES, "little")


def buffer_shape(spec: BufferSpec, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(T, C, H, W) of a buffer array."""
    return (frames, spec.channels, height, width)


def layout_description() -> dict:
    """What the root `layout` attribute records about buffers and codec (compared on --resume)."""
    return {
        "buffers": {b.name: b.describe() for b in BUFFERS},
        "chunks": "one frame of one buffer: (1, C, H, W)",
        "codec": CODEC_DESCRIPTION,
        "bookkeeping": list(BOOKKEEPING),
        "nonfinite_columns": list(SOURCE_FOLDERS),
        "stats_fields": list(STATS_FIELDS),
    }


def recognisable(path: Path) -> bool:
    """True when the folder `path` is recognisably an lmv store even with damaged metadata: it holds
    the pack lock file, its root `zarr.json` names the format, or a scene folder holds `frames_done`.
    Only such a folder is ever deleted by `pack --overwrite`."""
    attrs = read_root_attrs(path)
    if attrs is not None:
        return attrs.get("format") == FORMAT
    if (path / LOCK_FILE).exists():
        return True
    try:
        if f'"{FORMAT}"'.encode() in (path / "zarr.json").read_bytes():
            return True
    except OSError:
        pass
    return any((child / FRAMES_DONE / "zarr.json").exists() for child in path.iterdir() if child.is_dir())


def read_root_attrs(path: Path) -> dict | None:
    """The root group's attributes read straight from `zarr.json`, or None when `path` holds no Zarr
    v3 group (a plain folder, a v2 store, unreadable JSON). Cheap: no zarr import."""
    try:
        meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
        return None
    attrs = meta.get("attributes", {})
    return attrs if isinstance(attrs, dict) else None
