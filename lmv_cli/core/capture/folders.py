"""Folder-level checks of a UE4 export: which scenes, which buffer folders, which frame files.

Nothing here decodes pixels; it runs in milliseconds and reports every naming and numbering problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lmv_cli.core.capture.report import Problem, Severity
from lmv_cli.core.errors import CaptureError
from lmv_cli.core.schema import BUFFERS, BUFFERS_BY_FOLDER, FRAME_NAME

_EXR_SUFFIX = re.compile(r"\.exr$", re.IGNORECASE)
_IGNORED_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class SceneLayout:
    """The frame files of one scene, after naming checks."""

    name: str
    path: Path
    files: dict[str, dict[int, Path]] = field(default_factory=dict)  # folder -> frame index -> file
    frames: int = 0  # 1 + highest frame index seen in any buffer
    resolution: tuple[int, int] | None = None  # (width, height) most files have; set by the header pass
    problems: list[Problem] = field(default_factory=list)

    def add(self, severity: Severity, code: str, message: str, **where) -> None:
        self.problems.append(Problem(severity, code, message, self.name, **where))


def is_scene_dir(path: Path) -> bool:
    """A scene folder holds at least one buffer folder of the schema."""
    return any((path / b.folder).is_dir() for b in BUFFERS)


def discover_scenes(export: Path) -> list[Path]:
    """EXPORT is one scene folder or a folder of scene folders; return the scene folders, sorted.

    Raises `CaptureError` when the path is missing, not a folder, or holds no scene.
    """
    export = Path(export)
    if not export.exists():
        raise CaptureError("no such folder", path=export)
    if not export.is_dir():
        raise CaptureError("not a folder: expected a UE4 export (scene folder or folder of scene folders)", path=export)
    if is_scene_dir(export):
        return [export]
    scenes = sorted(p for p in export.iterdir() if p.is_dir() and is_scene_dir(p))
    if not scenes:
        expected = ", ".join(b.folder for b in BUFFERS[:3])
        raise CaptureError(f"no scene found: expected buffer folders ({expected}, ...) here or in sub-folders",
                           path=export)
    return scenes


def scan_scene(path: Path) -> SceneLayout:
    """List the frame files of every buffer folder and report naming/numbering problems."""
    layout = SceneLayout(path.name, path)
    for buffer in BUFFERS:
        folder = path / buffer.folder
        if not folder.is_dir():
            if buffer.required:
                layout.add(Severity.ERROR, "missing-buffer", f"missing buffer folder {buffer.folder}/",
                           buffer=buffer.folder, path=folder)
            continue
        layout.files[buffer.folder] = _scan_folder(layout, buffer.folder, folder)
    for entry in sorted(path.iterdir()):
        if entry.is_dir() and entry.name not in BUFFERS_BY_FOLDER:
            layout.add(Severity.WARNING, "unknown-folder", "unknown folder, ignored", path=entry)
    layout.frames = 1 + max((max(f) for f in layout.files.values() if f), default=-1)
    _check_numbering(layout)
    return layout


def _scan_folder(layout: SceneLayout, buffer: str, folder: Path) -> dict[int, Path]:
    frames: dict[int, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name in _IGNORED_FILES or entry.name.startswith("._"):
            continue
        match = FRAME_NAME.match(entry.name)
        if match is None:
            code, what = ("unnumbered-frame", "EXR file without a frame number (expected frame_<k>.EXR)") \
                if _EXR_SUFFIX.search(entry.name) else ("extra-file", "unexpected file, ignored")
            severity = Severity.ERROR if code == "unnumbered-frame" else Severity.WARNING
            layout.add(severity, code, what, buffer=buffer, path=entry)
            continue
        digits = match.group(1)
        k = int(digits)
        if digits != str(k):
            layout.add(Severity.ERROR, "padded-frame-name",
                       f"zero-padded frame number (UE writes frame_{k}.EXR, not {entry.name})",
                       buffer=buffer, path=entry, frame=k)
        if k in frames:
            layout.add(Severity.ERROR, "duplicate-frame", f"frame {k} also stored as {frames[k].name}",
                       buffer=buffer, path=entry, frame=k)
            continue
        frames[k] = entry
    return frames


def _check_numbering(layout: SceneLayout) -> None:
    """Every buffer must hold frames 0..N−1, N the same for all buffers."""
    if layout.frames == 0:
        layout.add(Severity.ERROR, "no-frames", "no frame files found in any buffer folder", path=layout.path)
        return
    counts = {folder: len(frames) for folder, frames in layout.files.items()}
    for folder, frames in layout.files.items():
        missing = [k for k in range(layout.frames) if k not in frames]
        if missing:
            first = missing[0]
            layout.add(
                Severity.ERROR, "missing-frame",
                f"missing {len(missing)} frame(s): {format_ranges(missing)} "
                f"(has {counts[folder]}, expected {layout.frames})",
                buffer=folder, path=layout.path / folder / f"frame_{first}.EXR", frame=first,
            )


def format_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8' (at most 8 runs shown)."""
    runs: list[list[int]] = []
    for k in sorted(indices):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:8]]
    return ", ".join(text) + (f", ... ({len(runs) - 8} more runs)" if len(runs) > 8 else "")
