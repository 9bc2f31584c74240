"""Progress reporting without a terminal dependency.

Core functions that do long work accept an optional `progress` callback and call it as
`progress(description, completed, total)`; the CLI renders it with rich on a terminal and logs it
otherwise. `None` means nobody is listening.
"""

from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[str, int, int], None]


def report(progress: ProgressFn | None, description: str, completed: int, total: int) -> None:
    """Call `progress` if there is one (keeps call sites free of `if progress:`)."""
    if progress is not None:
        progress(description, completed, total)
