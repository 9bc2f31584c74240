"""Work off the critical path: one background thread drains a bounded queue of tasks in order — the
output writing of `lmv extrapolate` (tonemap, encode and write one frame's files, so prediction never
waits on disk or on PNG/EXR/H.264 encoders) and the scoring of `evaluate_scene` (metrics and regions of
frame t while the network predicts frame t+1).

The queue holds at most `depth` tasks: when the thread falls behind, `submit` blocks, which bounds the
memory to a few frames whatever the scene length. The first exception of a task is kept; later tasks
are skipped, and the error is raised in the caller's thread at its next `submit` or at `close`, so a
failed task fails the run (exit 1) instead of dying silently in the thread.

    writer = BackgroundTasks()
    try:
        for frame in frames:
            writer.submit(lambda f=frame: write(f))
    finally:
        writer.close()          # waits for the queue, then raises the first task error
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from lmv_cli.core.errors import LmvError

QUEUE_DEPTH = 2
"""Tasks waiting at most: with one task running, three frames of outputs are alive at once (1080p:
3 × (3 full-resolution float32 colours) ≈ 220 MB), enough to absorb one slow write."""


class BackgroundTasks:
    """One daemon thread running submitted zero-argument tasks in order; see the module docstring."""

    def __init__(self, depth: int = QUEUE_DEPTH, name: str = "lmv-background"):
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        """Queue `task` (blocks while the queue is full); raise the error of an earlier task, if any."""
        self.raise_error()
        if self._closed:
            raise RuntimeError("BackgroundTasks: submit after close")
        self._queue.put(task)

    def wait(self) -> None:
        """Block until every task submitted so far has run (a two-stage pipeline: the caller prepares the
        next task while this thread runs the last one, and never more than one is alive in each)."""
        self._queue.join()
        self.raise_error()

    def close(self, *, raise_error: bool = True) -> None:
        """Run the queued tasks, stop the thread and (unless `raise_error` is False, as when the caller
        is already failing) raise the first task error. Closing twice does nothing more."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if raise_error:
            self.raise_error()

    def raise_error(self) -> None:
        """Raise the first task error in this (the caller's) thread; an `OSError` becomes an `LmvError`
        naming the file, anything else (a bug) is raised as it is, with its traceback."""
        error = self._error
        if error is None:
            return
        if isinstance(error, OSError):
            raise LmvError(f"cannot write output: {error.strerror or error}", path=error.filename) from error
        raise error

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                self._queue.task_done()
                return
            if self._error is None:
                try:
                    task()
                except BaseException as e:  # noqa: BLE001 — handed to the caller's thread, see raise_error
                    self._error = e
            self._queue.task_done()
