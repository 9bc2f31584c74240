"""Verify a whole store (`lmv capture-check STORE`, docs/store.md#verification-and-repair) and report every problem.

Checks, all of them whatever fails first: root metadata, format and version, the writer lock, the
"complete" flags against the frames-done bookkeeping, every array's metadata against the format,
and every chunk of every frame marked packed — present, checksum-valid, decodable, finite, and equal
in min/max to the per-frame statistics recorded when it was packed. The report also says what
`pack --resume` must redo (damaged frames, metadata to rewrite).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmv_cli.core.capture import CheckReport, check_export
from lmv_cli.core.errors import StoreError
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.store import layout, lock, metadata
from lmv_cli.core.store.chunks import ChunkDamage, check_chunk, read_chunk
from lmv_cli.core.store.report import SceneCheck, StoreReport

NOT_A_STORE = "not an lmv store (no lmv root group, lock file or scene bookkeeping)"


def check_path(path: str | Path, *, quick: bool = False, workers: int = 0,
               progress: ProgressFn | None = None) -> StoreReport | CheckReport:
    """What `capture-check` checks at `path`: a packed lmv store is verified (`verify_store`; `quick`
    checks chunk presence and checksums without decoding), anything else is checked as a UE4 export
    (`check_export`; `quick` reads headers only, `workers` decoding processes). Returns the report."""
    if Path(path).is_dir() and layout.recognisable(Path(path)):
        return verify_store(path, decode=not quick, progress=progress)
    return check_export(path, quick=quick, workers=workers, progress=progress)


def verify_store(
    path: str | Path, *, decode: bool = True, locked: bool = False, progress: ProgressFn | None = None
) -> StoreReport:
    """Verify the store at `path` (see the module docstring) and return the report.

    `decode=False` checks presence and checksums only (what `pack --resume` needs before repairing);
    `decode=True` also decompresses every chunk and checks values against the bookkeeping. `locked`:
    the caller holds the writer lock (a pack verifying before it repairs). Raises
    `StoreError` only when `path` is not recognisably an lmv store at all."""
    path = Path(path)
    if not path.is_dir() or not layout.recognisable(path):
        raise StoreError(NOT_A_STORE, path=path)
    result = StoreReport(path)
    attrs = _check_root(path, result, locked)
    for plan in _scene_plans(path, attrs, result):
        result.scenes.append(_verify_scene(path, plan, result.complete, decode, progress))
    return result


def _check_root(path: Path, result: StoreReport, locked: bool) -> dict | None:
    """Root metadata, format version, lock and complete flag; the root attributes when readable."""
    try:
        attrs = metadata.group_attrs(path)
    except metadata.MetadataDamage as e:
        result.add("metadata", f"root {e.message}: re-pack with `lmv pack EXPORT STORE --overwrite`", path=e.path)
        attrs = None
    if attrs is not None:
        result.format_version = attrs.get("format_version")
        result.complete = attrs.get("complete") is True
        if result.format_version != layout.FORMAT_VERSION:
            result.add("version", f"format version {result.format_version}, this lmv reads {layout.FORMAT_VERSION}: "
                       "re-pack with `lmv pack EXPORT STORE --overwrite`", path=path / "zarr.json")
        if not isinstance(attrs.get("layout"), dict) or not isinstance(attrs["layout"].get("scenes"), list):
            result.add("metadata", "root attributes lack the scene layout: re-pack with --overwrite",
                       path=path / "zarr.json")
            attrs = None
    holder = None if locked else lock.holder(path)
    if holder is not None:
        result.add("being-packed", f"being packed ({holder}): verify it once that `lmv pack` has finished", path=path)
    elif attrs is not None and not result.complete:
        result.add("incomplete", "packing did not finish: run `lmv pack EXPORT STORE --resume`", path=path)
    return attrs


def _scene_plans(path: Path, attrs: dict | None, result: StoreReport) -> list[dict]:
    """Each scene's name, frames, height and width: from the root layout, or (root metadata damaged)
    from the scene folders' own metadata."""
    if attrs is not None:
        return list(attrs["layout"]["scenes"])
    plans = []
    for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            shape = metadata.read_node(child / layout.BUFFERS[0].name, "array")["shape"]
            plans.append({"name": child.name, "frames": shape[0], "height": shape[2], "width": shape[3]})
        except (StoreError, KeyError, IndexError, TypeError):
            result.add("metadata", f"scene folder {child.name}: no readable {layout.BUFFERS[0].name} metadata; "
                       "its frames cannot be checked", path=child)
    return plans


def _verify_scene(store: Path, plan: dict, store_complete: bool, decode: bool,
                  progress: ProgressFn | None) -> SceneCheck:
    name, frames, height, width = plan["name"], plan["frames"], plan["height"], plan["width"]
    scene = SceneCheck(name, store / name, frames, width, height)
    if not scene.path.is_dir():
        scene.add("missing-scene", "scene folder missing", path=scene.path)
        scene.rebuild_group, scene.damaged = True, set(range(frames))
        return scene
    attrs = _scene_attrs(scene, plan)
    arrays = _check_arrays(scene)
    done = _frames_done(scene, arrays)
    scene.frames_done = int(done.sum())
    if store_complete and scene.frames_done < frames:
        missing = np.flatnonzero(done == 0)
        scene.add("bookkeeping", f"the store is marked complete but {missing.size} frame(s) are not marked packed "
                  f"(first: frame {missing[0]})", path=scene.path / layout.FRAMES_DONE, frame=int(missing[0]))
    stats = np.zeros((frames, len(layout.BUFFERS), 3))
    for t in map(int, np.flatnonzero(done)):
        stats[t] = _verify_frame(scene, t, arrays, decode)
        report(progress, f"verify {name}", t + 1, frames)
    report(progress, f"verify {name}", frames, frames)
    if attrs is not None and decode and store_complete and scene.frames_done == frames and not scene.damaged:
        _check_summary(scene, attrs, stats)
    return scene


def _scene_attrs(scene: SceneCheck, plan: dict) -> dict | None:
    try:
        attrs = metadata.group_attrs(scene.path)
    except metadata.MetadataDamage as e:
        scene.add("metadata", f"scene {e.message}", path=e.path)
        scene.rebuild_group = True
        return None
    size = {k: attrs.get(k) for k in ("frames", "height", "width")}
    if size != {k: plan[k] for k in size}:
        scene.add("attributes", f"scene attributes say {size}, the store layout says frames {plan['frames']}, "
                  f"height {plan['height']}, width {plan['width']}", path=scene.path / "zarr.json")
        scene.rebuild_group = True
    return attrs


def _check_arrays(scene: SceneCheck) -> dict[str, tuple[tuple[int, ...], str]]:
    """Check every array's metadata; return chunk shape and dtype of the intact ones by name."""
    shapes = layout.array_shapes(scene.frames, scene.height, scene.width)
    intact = {}
    for name, (shape, chunks, dtype) in shapes.items():
        try:
            metadata.check_array(scene.path / name, shape, chunks, dtype)
            intact[name] = (chunks, dtype)
        except metadata.MetadataDamage as e:
            scene.add("metadata", e.message, buffer=name, path=e.path)
            scene.rebuild_arrays.add(name)
    if scene.rebuild_arrays:
        scene.damaged = set(range(scene.frames))  # a re-created array is empty: every frame is repacked
    return intact


def _frames_done(scene: SceneCheck, arrays: dict) -> np.ndarray:
    """The frames-done bookkeeping; all zero (every frame to repack) when it is damaged."""
    if layout.FRAMES_DONE not in arrays:
        return np.zeros(scene.frames, dtype=np.uint8)
    path = scene.path / layout.FRAMES_DONE / "c" / "0"
    try:
        return read_chunk(path, (scene.frames,), "uint8")
    except ChunkDamage as e:
        if e.code == "chunk-missing":
            return np.zeros(scene.frames, dtype=np.uint8)  # no frame recorded yet
        scene.add(e.code, f"frames-done bookkeeping: {e.message}", buffer=layout.FRAMES_DONE, path=path)
        scene.rebuild_arrays.add(layout.FRAMES_DONE)
        return np.zeros(scene.frames, dtype=np.uint8)


def _verify_frame(scene: SceneCheck, t: int, arrays: dict, decode: bool) -> np.ndarray:
    """Check every chunk of frame t (marked packed); return its recorded (B, 3) statistics."""
    recorded = {}
    for name in layout.BOOKKEEPING[1:]:
        if name in arrays:
            recorded[name] = _chunk(scene, name, t, arrays[name], decode=True)
    stats = recorded.get(layout.FRAME_STATS)
    stats = np.zeros((len(layout.BUFFERS), 3)) if stats is None else stats[0]
    for b, spec in enumerate(layout.BUFFERS):
        if spec.name in arrays:
            values = _chunk(scene, spec.name, t, arrays[spec.name], decode)
            if values is not None and decode:
                _check_values(scene, spec.name, t, values, stats[b])
    return stats


def _chunk(scene: SceneCheck, name: str, t: int, chunk: tuple, decode: bool) -> np.ndarray | None:
    shape, dtype = chunk
    path = scene.path / layout.chunk_key(name, t, len(shape))
    try:
        if decode:
            return read_chunk(path, shape, dtype)
        check_chunk(path)
        return None
    except ChunkDamage as e:
        scene.add(e.code, f"frame {t}: {e.message}", buffer=name, path=path, frame=t)
        scene.damaged.add(t)
        return None


def _check_values(scene: SceneCheck, name: str, t: int, values: np.ndarray, stats: np.ndarray) -> None:
    """Finite values whose min/max equal the statistics recorded at packing."""
    path = scene.path / layout.chunk_key(name, t)
    bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
    if bad:
        scene.add("nonfinite", f"{bad} NaN/Inf values in a packed chunk", buffer=name, path=path, frame=t)
        scene.damaged.add(t)
    elif (float(values.min()), float(values.max())) != (stats[0], stats[1]):
        scene.add("attributes", f"values span {float(values.min()):.6g}..{float(values.max()):.6g}, the recorded "
                  f"frame statistics say {stats[0]:.6g}..{stats[1]:.6g}", buffer=name, path=path, frame=t)
        scene.damaged.add(t)


def _check_summary(scene: SceneCheck, attrs: dict, stats: np.ndarray) -> None:
    """The scene attributes (complete, frames_done, per-buffer min/max) against the per-frame records."""
    want = {"complete": True, "frames_done": scene.frames}
    for b, spec in enumerate(layout.BUFFERS):
        want[f"stats.{spec.name}.min"] = float(stats[:, b, 0].min())
        want[f"stats.{spec.name}.max"] = float(stats[:, b, 1].max())
    found = {"complete": attrs.get("complete"), "frames_done": attrs.get("frames_done")}
    for spec in layout.BUFFERS:
        for field in ("min", "max"):
            found[f"stats.{spec.name}.{field}"] = attrs.get("stats", {}).get(spec.name, {}).get(field)
    wrong = [f"{k} {found[k]} (expected {v})" for k, v in want.items() if found[k] != v]
    if wrong:
        scene.add("attributes", f"scene attributes disagree with its arrays: {'; '.join(wrong[:4])}",
                  path=scene.path / "zarr.json")
        scene.rebuild_group = True
