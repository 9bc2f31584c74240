"""The packing parent's side of a store: output-path rules, creation, resume checks, frames-done
bookkeeping and the final attributes (docs/store.md#completeness-and-resuming).

Only the parent process calls these. zarr 3 writes every chunk and every `zarr.json` through a
temporary file and a rename, so a `kill -9` leaves each file either old or new (plus a stray
`*.partial` file, removed on resume); completeness is never inferred from chunk files (zarr does not
write chunks equal to the fill value) but from `frames_done` and the root `complete` flag.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from lmv_cli import __version__
from lmv_cli.core import brdf_lut, derived
from lmv_cli.core.conventions import DEPTH_NORM_CM
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout, lock, metadata

if TYPE_CHECKING:
    from lmv_cli.core.store.frame import FrameResult
    from lmv_cli.core.store.report import StoreReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScenePlan:
    """One scene to pack, as capture-check found it."""

    name: str
    path: Path
    frames: int
    height: int
    width: int
    files: dict[str, dict[int, Path]]  # export folder -> frame -> file

_COMPARED_ON_RESUME = ("format", "format_version", "lmv_version", "source", "scenes", "layout", "conversions")


def inspect_output(out: Path, *, resume: bool, overwrite: bool, locked: bool = False) -> bool:
    """Apply the output-path rules; return True when `out` holds a store to resume or replace.

    A store another `lmv pack` is writing is refused naming its PID (`locked`: this process holds
    the lock itself).

    A file is always refused; an existing store needs --resume or --overwrite; only a folder that is
    recognisably an lmv store (`layout.recognisable`, damaged metadata included) or an empty folder is
    ever resumed or deleted; --resume needs readable root metadata of this lmv's format version.
    """
    if not out.exists():
        _check_creatable(out)
        if resume:
            log.info("%s does not exist: nothing to resume, packing from the start", out)
        return False
    if not out.is_dir():
        raise StoreError("exists and is not a folder; choose another output path for the store", path=out)
    holder = None if locked else lock.holder(out)
    if holder is not None:
        raise lock.busy(out, holder)
    if not any(p.name != layout.LOCK_FILE for p in out.iterdir()):
        return False
    if not (resume or overwrite):
        raise StoreError("already exists; pass `resume` to continue an interrupted pack or `overwrite` to replace it",
                         path=out, option="overwrite", value=False)
    if not layout.recognisable(out):
        what = "resume" if resume else "delete"
        raise StoreError(f"is not an lmv store (no '{layout.FORMAT}' root group); refusing to {what} it", path=out)
    attrs = layout.read_root_attrs(out)
    if resume and attrs is None:
        raise StoreError("cannot resume: the root zarr.json is missing or damaged; pass `overwrite` to re-pack",
                         path=out, option="overwrite", value=False)
    version = attrs.get("format_version") if attrs else None
    if resume and version != layout.FORMAT_VERSION:
        raise StoreError(f"cannot resume: store format version {version}, this lmv writes "
                         f"{layout.FORMAT_VERSION}; pass `overwrite` to re-pack", path=out,
                         option="overwrite", value=False)
    return True


def _check_creatable(out: Path) -> None:
    """Fail before the export is checked when `out` cannot be a folder (an ancestor is a file);
    other failures (permissions, disk) surface when the store is created."""
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StoreError(f"cannot create the store: {parent} is a file, not a folder", path=out)


def clear_store(out: Path) -> None:
    """Delete a store's contents, keeping its lock file (held by this process). The root `zarr.json`
    goes first, so an interrupted delete leaves a folder no reader mistakes for a store, which
    --overwrite (recognising the lock file) still replaces."""
    (out / "zarr.json").unlink(missing_ok=True)
    for entry in out.iterdir():
        if entry.name == layout.LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def store_description(export: Path, plans: list[ScenePlan], warnings: list[str]) -> dict:
    """Root attributes of a store of these scenes (without `created` and `complete`)."""
    lut = brdf_lut.load_lut()
    return {
        "format": layout.FORMAT,
        "format_version": layout.FORMAT_VERSION,
        "lmv_version": __version__,
        "source": str(export.resolve()),
        "scenes": [p.name for p in plans],
        "layout": {
            "scenes": [{"name": p.name, "source": str(p.path.resolve()), "frames": p.frames, "height": p.height,
                        "width": p.width} for p in plans],
            **layout.layout_description(),
        },
        "conversions": {
            "module": "lmv_cli.core.derived",
            "sky_depth_rel_eps": derived.SKY_DEPTH_REL_EPS,
            "specular_f0_scale": derived.SPECULAR_F0_SCALE,
            "brdf_floor": derived.BRDF_FLOOR,
            "float16_max": derived.FLOAT16_MAX,
            "depth_norm_cm": DEPTH_NORM_CM,
            "brdf_lut": {"size": brdf_lut.LUT_SIZE, "samples": brdf_lut.LUT_SAMPLES,
                         "sha256": hashlib.sha256(lut.tobytes()).hexdigest()},
        },
        "capture_check": {"mode": "quick", "errors": 0, "warnings": warnings},
    }


def create_store(out: Path, desc: dict) -> zarr.Group:
    """Create the root group (complete: false) and every scene group and array."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    root = zarr.create_group(str(out), attributes={**desc, "created": created, "complete": False})
    for scene in desc["layout"]["scenes"]:
        _ensure_scene(root, scene)
    return root


def open_for_resume(out: Path, desc: dict, check: StoreReport) -> zarr.Group:
    """Open a store to continue or repair it: same source, scenes, layout and conversions required.
    Removes stray temporary files, rewrites the damaged metadata `check` found, re-creates damaged
    arrays, and creates whatever an interrupted creation left out."""
    stored = layout.read_root_attrs(out) or {}
    differs = [key for key in _COMPARED_ON_RESUME if stored.get(key) != desc[key]]
    if differs:
        detail = "; ".join(f"{k}: store has {_short(stored.get(k))}, now {_short(desc[k])}" for k in differs)
        raise StoreError(f"cannot resume: the store was packed differently ({detail}); pass `overwrite` to re-pack",
                         path=out, option="overwrite", value=False)
    root = zarr.open_group(str(out), mode="r+")
    if check.errors:
        mark_incomplete(root)  # readers refuse the store until the repair has finished
    for partial in out.rglob("*.partial"):
        partial.unlink()
    plans = {scene["name"]: scene for scene in desc["layout"]["scenes"]}
    for scene in check.scenes:
        if scene.rebuild_group and scene.name in plans:
            metadata.write_group(out / scene.name, {**plans[scene.name], "complete": False})
        for array in scene.rebuild_arrays:
            shutil.rmtree(out / scene.name / array, ignore_errors=True)
    for scene in desc["layout"]["scenes"]:
        _ensure_scene(root, scene)
    return root


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ensure_scene(root: zarr.Group, scene: dict) -> None:
    """Create the scene group and each array it lacks (creation may have been interrupted)."""
    name, frames, h, w = scene["name"], scene["frames"], scene["height"], scene["width"]
    if name not in root:
        root.create_group(name, attributes={**scene, "complete": False})
    group = root[name]
    for spec in layout.BUFFERS:
        if spec.name not in group:
            shape = layout.buffer_shape(spec, frames, h, w)
            group.create_array(spec.name, shape=shape, chunks=(1, *shape[1:]), dtype=spec.dtype, fill_value=0,
                               compressors=layout.codecs(), dimension_names=layout.DIMENSION_NAMES,
                               attributes=spec.describe())
    for key in layout.BOOKKEEPING:
        shape, chunks, dtype = layout.array_shapes(frames, h, w)[key]
        if key not in group:
            group.create_array(key, shape=shape, chunks=chunks, dtype=dtype, fill_value=0, compressors=layout.codecs())


class SceneBook:
    """The parent's record of one scene: which frames are packed, and their statistics."""

    def __init__(self, plan: ScenePlan, group: zarr.Group):
        # Every chunk is written, zeros included, so that a missing chunk file always means damage.
        full = {"write_empty_chunks": True}
        self.plan = plan
        self._done_array = group[layout.FRAMES_DONE].with_config(full)
        self._stats = group[layout.FRAME_STATS].with_config(full)
        self._nonfinite = group[layout.NONFINITE].with_config(full)
        self._group = group
        self._done = np.asarray(self._done_array[:], dtype=np.uint8)

    @classmethod
    def open(cls, root: zarr.Group, plan: ScenePlan) -> SceneBook:
        return cls(plan, root[plan.name])

    def missing(self) -> list[int]:
        return [int(t) for t in np.flatnonzero(self._done == 0)]

    def forget(self, frames: set[int]) -> None:
        """Mark damaged frames not packed (and the scene incomplete) so that they are packed again."""
        if frames:
            self._done[sorted(frames)] = 0
            self._done_array[:] = self._done
            self._group.attrs.update({"complete": False})

    def done_count(self) -> int:
        return int(self._done.sum())

    def record(self, result: FrameResult) -> None:
        """A worker wrote every chunk of `result.frame`: store its statistics, then mark it done."""
        self._stats[result.frame] = result.stats
        self._nonfinite[result.frame] = result.nonfinite
        self._done[result.frame] = 1
        self._done_array[:] = self._done

    def finish(self) -> dict[str, int]:
        """Reduce per-frame statistics into the scene attributes and mark the scene complete;
        return the NaN/Inf counts per export folder."""
        stats = np.asarray(self._stats[:])  # (T, B, 3)
        summary = {
            spec.name: {"min": float(stats[:, b, 0].min()), "max": float(stats[:, b, 1].max()),
                        "mean": float(stats[:, b, 2].mean())}
            for b, spec in enumerate(layout.BUFFERS)
        }
        totals = np.asarray(self._nonfinite[:]).sum(axis=0)
        nonfinite = {folder: int(n) for folder, n in zip(layout.SOURCE_FOLDERS, totals)}
        if any(nonfinite.values()):
            log.warning("%s: NaN/Inf replaced by 0: %s", self.plan.name,
                        ", ".join(f"{k} {v}" for k, v in nonfinite.items() if v))
        self._group.attrs.update({"stats": summary, "nonfinite": nonfinite, "nonfinite_total": int(totals.sum()),
                                  "frames_done": self.done_count(), "complete": True})
        return nonfinite


def mark_incomplete(root: zarr.Group) -> None:
    """Before repairing a complete store: readers refuse it until the repair has finished."""
    root.attrs.update({"complete": False})


def mark_complete(root: zarr.Group) -> None:
    """The last write of a pack: from now on readers accept the store."""
    root.attrs.update({"complete": True})
