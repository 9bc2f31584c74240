"""Header-level checks of every frame file (no pixel decoded): readable, complete, channels,
resolution, pixel types, compression. This is all `capture-check --quick` does after the layout scan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lmv_cli.core.capture.folders import SceneLayout
from lmv_cli.core.capture.report import Severity
from lmv_cli.core.errors import ExrError
from lmv_cli.core.exr import ExrInfo, read_info
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.schema import BUFFERS_BY_FOLDER, LOSSY_COMPRESSIONS, Kind

_LOSSLESS_NEEDED = {Kind.GBUFFER, Kind.NORMAL, Kind.VELOCITY_DEPTH, Kind.DEPTH, Kind.POSITION, Kind.ALPHA}


def check_headers(layout: SceneLayout, progress: ProgressFn | None = None) -> dict[str, dict[int, Path]]:
    """Check every frame file's header; return the files that can be decoded, by folder and frame.

    Adds problems to `layout` and sets `layout.resolution` to the size most files have; each file of
    another size is reported with expected versus actual.
    """
    infos: dict[tuple[str, int], ExrInfo] = {}
    total = sum(len(f) for f in layout.files.values())
    done = 0
    for folder, frames in layout.files.items():
        for k, path in frames.items():
            try:
                infos[folder, k] = read_info(path)
            except ExrError as e:
                code = "truncated" if "truncated" in e.message else "unreadable"
                layout.add(Severity.ERROR, code, e.message, buffer=folder, path=path, frame=k)
            done += 1
            report(progress, f"headers {layout.name}", done, total)
    size = Counter((i.width, i.height) for i in infos.values()).most_common(1)
    expected = size[0][0] if size else None
    good: dict[str, dict[int, Path]] = {folder: {} for folder in layout.files}
    lossy_reported: set[str] = set()
    for (folder, k), info in sorted(infos.items()):
        if _check_one(layout, folder, k, info, expected, lossy_reported):
            good[folder][k] = info.path
    layout.resolution = expected
    return good


def _check_one(layout: SceneLayout, folder: str, k: int, info: ExrInfo, expected, lossy_reported: set[str]) -> bool:
    buffer = BUFFERS_BY_FOLDER[folder]
    where = {"buffer": folder, "path": info.path, "frame": k}
    ok = True
    missing = [c for c in buffer.channel_names if c not in info.channels]
    if missing:
        found = ", ".join(sorted(info.channels)) or "none"
        layout.add(Severity.ERROR, "channels",
                   f"missing channel(s) {', '.join(missing)} (needs {', '.join(buffer.channel_names)}); "
                   f"channels found: {found}", **where)
        ok = False
    bad_types = [f"{c}={info.channels[c]}" for c in buffer.channel_names
                 if c in info.channels and info.channels[c] not in ("half", "float")]
    if bad_types:
        layout.add(Severity.ERROR, "pixel-type", f"channels must be half or float, found {', '.join(bad_types)}",
                   **where)
        ok = False
    if expected is not None and (info.width, info.height) != expected:
        layout.add(Severity.ERROR, "resolution",
                   f"resolution {info.width}x{info.height}, expected {expected[0]}x{expected[1]} (as the other files)",
                   **where)
        ok = False
    if info.parts > 1:
        layout.add(Severity.WARNING, "multi-part", f"multi-part EXR ({info.parts} parts); UE writes single-part",
                   **where)
    if info.compression in LOSSY_COMPRESSIONS and buffer.kind in _LOSSLESS_NEEDED and folder not in lossy_reported:
        lossy_reported.add(folder)
        layout.add(Severity.WARNING, "lossy-compression",
                   f"lossy {info.compression} compression damages {buffer.kind.value} data; "
                   "write G-buffers with ZIP, PIZ or no compression", **where)
    return ok
