"""Ctrl-C during training: finish the current optimizer step, then stop, so a checkpoint is never cut."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Ctrl-C (SIGINT) only sets a flag that the loop checks after each optimizer step, so a checkpoint
    is never cut in half; a second Ctrl-C interrupts at once. Yields the flag's reader."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested: list[bool] = []

    def handler(signum, frame) -> None:
        if requested:
            raise KeyboardInterrupt
        requested.append(True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(requested)
    finally:
        signal.signal(signal.SIGINT, previous)
