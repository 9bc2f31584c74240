"""One writer at a time (docs/store.md#one-writer-at-a-time): `lmv pack` holds an exclusive `fcntl.flock` on a lock file inside
the store for as long as it writes, with its PID written in the file.

The OS drops a flock when its process dies, `kill -9` included, so a crashed pack never leaves a stale
lock: the file stays, with a dead PID in it, and the next `pack --resume` simply takes it again. The
file is never deleted (deleting a lock file lets two processes lock two different files).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from lmv_cli.core.errors import StoreError
from lmv_cli.core.store.layout import LOCK_FILE

ACQUIRE_SECONDS = 1.0
"""How long `acquire` retries: a reader probing the lock (`holder`) holds it shared for microseconds."""


class StoreLock:
    """The exclusive writer lock of the store folder `store` (which must exist)."""

    def __init__(self, store: Path):
        self.store = store
        self.path = store / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write this PID into it; `StoreError` naming the holder's PID when another
        process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + ACQUIRE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise busy(self.store, _pid_text(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> StoreLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def busy(store: Path, who: str) -> StoreError:
    """The error of a second writer: `who` is 'PID n' of the pack holding the lock."""
    return StoreError(f"is being packed by another `lmv pack` ({who}); wait for it to finish, or stop that "
                      "process and resume it with `pack.resume`", path=store, option="pack.resume")


def holder(store: Path) -> str | None:
    """'PID n' of the `lmv pack` writing `store` now, or None when no pack holds its lock."""
    path = store / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_text(path)
    finally:
        os.close(fd)
    return None


def _pid_text(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "PID unknown"
