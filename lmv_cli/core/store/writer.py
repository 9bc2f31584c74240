"""`lmv pack`: a UE4 export (one scene or many) → one lmv store (docs/store.md#packing), parallel and resumable.

Order of work, chosen so that nothing half-written ever reads as complete:
1. capture-check (quick) refuses a broken export, naming every problem;
2. the output is prepared under the store's writer lock (`lock`; a second pack fails naming the
   first's PID): an existing store is an error unless --resume (same source and layout required; the
   store is verified and every damaged frame re-packed) or --overwrite (only a recognisable lmv store
   or an empty folder is ever deleted);
3. root and scene groups and all arrays are created (root `complete: false`);
4. frames are packed by `frame.pack_frame` in worker processes; the parent alone records a frame in
   `frames_done` (and its statistics) after the worker reported every chunk written;
5. per-scene statistics are reduced from the per-frame ones (so a resumed pack gives identical
   attributes), and root `complete: true` is written last.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lmv_cli.core import capture
from lmv_cli.core.capture.folders import scan_scene
from lmv_cli.core.errors import CaptureError, LmvError, StoreError
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.store import bookkeeping, layout
from lmv_cli.core.store.bookkeeping import ScenePlan
from lmv_cli.core.store.frame import FrameResult, FrameTask, exit_with_parent, pack_frame
from lmv_cli.core.store.lock import StoreLock
from lmv_cli.core.store.verify import verify_store

IN_FLIGHT_PER_WORKER = 2
"""Frames queued per worker: keeps workers busy while bounding memory to a few frames each."""
IN_PROCESS_PIXELS_TOTAL = 4_000_000
"""With automatic workers, exports smaller than this (frames × H × W, all scenes) are packed
in-process: starting worker processes costs more than it saves."""
MAX_AUTO_WORKERS = 8


@dataclass
class PackResult:
    """What a pack did: per scene (name, frames, frames packed by this run), NaN/Inf replaced."""

    store: Path
    scenes: list[tuple[str, int, int]] = field(default_factory=list)
    nonfinite: dict[str, int] = field(default_factory=dict)  # export folder -> count, all scenes
    warnings: list[str] = field(default_factory=list)  # capture-check warnings
    repaired: int = 0  # frames that verification found damaged (or missing from a complete store), re-packed
    seconds: float = 0.0

    @property
    def frames_packed(self) -> int:
        return sum(done for _, _, done in self.scenes)


def pack(
    export: str | Path,
    out: str | Path,
    *,
    workers: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> PackResult:
    """Pack every scene of `export` into the store `out` (see the module docstring for the order).

    `workers` processes pack frames (1: in this process; 0: one per core, at most 8, or in-process for
    a small export); `resume` continues an interrupted pack of the same export, `overwrite` replaces an
    existing store. Raises `CaptureError` for a broken export, `StoreError` for an unusable output
    path and `ExrError` for a frame that does not decode; a store left behind stays incomplete.
    """
    start = time.perf_counter()
    export, out = Path(export), Path(out)
    if resume and overwrite:
        raise StoreError("`resume` and `overwrite` exclude each other", path=out, option="resume", value=True)
    if workers < 0:
        raise StoreError(f"`workers` must be 0 (automatic) or more, got {workers}", option="workers", value=workers)
    writer = StoreLock(out)
    try:
        with _store_os_errors(out):
            existing = bookkeeping.inspect_output(out, resume=resume, overwrite=overwrite)
            if existing:
                writer.acquire()  # a second pack fails here, before checking the export
        plans, warnings = plan_export(export, progress)
        with _store_os_errors(out):
            if not existing:
                out.mkdir(parents=True, exist_ok=True)
                writer.acquire()
                existing = bookkeeping.inspect_output(out, resume=resume, overwrite=overwrite, locked=True)  # raced?
            result = _pack_locked(export, out, plans, warnings, existing, overwrite, workers, progress)
    finally:
        writer.release()
    result.seconds = time.perf_counter() - start
    return result


def _pack_locked(export: Path, out: Path, plans: list[ScenePlan], warnings: list[str], existing: bool,
                 overwrite: bool, workers: int, progress: ProgressFn | None) -> PackResult:
    """Steps 2–5 of the module docstring, with the store's writer lock held."""
    root, check = _open_output(out, bookkeeping.store_description(export, plans, warnings), existing, overwrite,
                               progress)
    books = [bookkeeping.SceneBook.open(root, plan) for plan in plans]
    damaged = {s.name: s.damaged for s in check.scenes} if check else {}
    for book in books:
        book.forget(damaged.get(book.plan.name, set()))
    result = PackResult(out, [(b.plan.name, b.plan.frames, len(b.missing())) for b in books], warnings=warnings)
    if check is not None:
        result.repaired = result.frames_packed if check.complete else sum(len(d) for d in damaged.values())
    try:
        _pack_frames(out, books, workers or auto_workers(plans), progress)
    except LmvError as e:
        raise type(e)(f"{e}; {out} is left incomplete: pass `resume` once the export is fixed", option="resume") from None
    for book in books:
        for folder, count in book.finish().items():
            result.nonfinite[folder] = result.nonfinite.get(folder, 0) + count
    bookkeeping.mark_complete(root)
    return result


def _open_output(out: Path, desc: dict, existing: bool, overwrite: bool, progress: ProgressFn | None):
    """The root group to pack into, and the verification of an existing store (None for a new one):
    the existing store verified and repaired (resume), or a new one (after clearing the old one with
    --overwrite, once the export has passed its check)."""
    if existing and overwrite:
        bookkeeping.clear_store(out)
        existing = False
    if not existing:
        return bookkeeping.create_store(out, desc), None
    check = verify_store(out, decode=False, locked=True, progress=progress)
    return bookkeeping.open_for_resume(out, desc, check), check


@contextmanager
def _store_os_errors(out: Path) -> Iterator[None]:
    """File-system failures on the store (permissions, full disk, bad names) → one `StoreError` line."""
    try:
        yield
    except OSError as e:
        raise StoreError(f"cannot write the store: {e.strerror or e}", path=out) from None


def _pack_frames(out: Path, books: list[bookkeeping.SceneBook], workers: int, progress: ProgressFn | None) -> None:
    """Pack every frame not yet done, recording each in its scene's book as it completes."""
    by_name = {book.plan.name: book for book in books}
    for book in books:
        report(progress, f"pack {book.plan.name}", book.done_count(), book.plan.frames)

    def record(r: FrameResult) -> None:
        book = by_name[r.scene]
        book.record(r)
        report(progress, f"pack {r.scene}", book.done_count(), book.plan.frames)

    todo = [(book, t) for book in books for t in book.missing()]
    _run(_tasks(out, todo), min(workers, max(len(todo), 1)), record)


def plan_export(export: Path, progress: ProgressFn | None) -> tuple[list[ScenePlan], list[str]]:
    """Run capture-check (headers only: pack decodes every pixel itself) and turn its scenes into
    plans; raise `CaptureError` naming every error it found. Returns the plans and the warnings."""
    found = capture.check_export(export, quick=True, progress=progress)
    if found.errors:
        shown = "; ".join(str(p) for p in found.errors[:5])
        more = f" (and {len(found.errors) - 5} more; run `lmv capture-check`)" if len(found.errors) > 5 else ""
        raise CaptureError(f"export is broken, not packed: {len(found.errors)} problem(s): {shown}{more}",
                           path=export)
    plans = [
        ScenePlan(s.name, Path(s.path), s.frames, s.height, s.width, scan_scene(Path(s.path)).files)
        for s in found.scenes
    ]
    return plans, [str(p) for p in found.warnings]


def _tasks(out: Path, todo: list[tuple[bookkeeping.SceneBook, int]]) -> Iterator[FrameTask]:
    for book, t in todo:
        plan = book.plan
        files = {folder: plan.files[folder][t] for folder in layout.SOURCE_FOLDERS}
        yield FrameTask(out, plan.name, t, files, plan.height, plan.width)


def _run(tasks: Iterator[FrameTask], workers: int, record: Callable[[FrameResult], None]) -> None:
    """Pack the tasks with `workers` processes (in-process for 1), at most IN_FLIGHT_PER_WORKER
    frames queued per worker, recording each result in the parent as it arrives."""
    if workers == 1:
        for task in tasks:
            record(pack_frame(task))
        return
    # forkserver: workers start clean, without a copy of the parent's zarr event-loop thread; the
    # server imports the worker code once, so each worker forks ready instead of importing for ~1 s.
    # Workers write chunk files with numcodecs (`layout.encode_chunk`) and never import zarr.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lmv_cli.core.store.frame", "numcodecs.blosc"])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=exit_with_parent)
    pending: set[Future] = set()
    try:
        for task in tasks:
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                pending = _collect(pending, record)
            pending.add(pool.submit(pack_frame, task))
        while pending:
            pending = _collect(pending, record)
    except BrokenProcessPool:
        raise StoreError("a packing worker died (killed, or out of memory: try fewer `workers`)", option="workers",
                         value=workers) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(pending: set[Future], record: Callable[[FrameResult], None]) -> set[Future]:
    done, rest = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        record(future.result())  # re-raises a worker's ExrError here
    return rest


def auto_workers(plans: list[ScenePlan]) -> int:
    """One worker per core (EXR decoding is single-threaded, ecosystem notes §1.2), at most
    MAX_AUTO_WORKERS; 1 (in-process) for an export under IN_PROCESS_PIXELS_TOTAL."""
    if sum(p.frames * p.height * p.width for p in plans) < IN_PROCESS_PIXELS_TOTAL:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))
