"""Helpers shared by the command files: error mapping, progress bars, consoles."""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from lmv_cli.core.errors import LmvError

F = TypeVar("F", bound=Callable)
log = logging.getLogger("lmv_cli.cli")


def lmv_command(fn: F) -> F:
    """Wrap a command: an `LmvError` becomes one line on stderr and exit 1 (traceback with --verbose)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LmvError as e:
            if _verbose():
                traceback.print_exc(file=sys.stderr)
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def set_verbose(verbose: bool) -> None:
    """--verbose: lmv's loggers at DEBUG (shown on stderr) and tracebacks on errors."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("lmv_cli").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _verbose() -> bool:
    return logging.getLogger("lmv_cli").isEnabledFor(logging.DEBUG)


def stdout_console():
    """Console for reports; when piped or redirected, wide enough that tables are not truncated."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None] | None]:
    """Yield a `ProgressFn` for the core: a rich progress bar on a terminal, quarter-step log lines
    (visible with --verbose) otherwise, or None when disabled."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        last: dict[str, int] = {}

        def log_progress(description: str, completed: int, total: int) -> None:
            quarter = 4 * completed // max(total, 1)
            if last.get(description) != quarter:
                last[description] = quarter
                log.info("%s: %d/%d", description, completed, total)

        yield log_progress
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr_console(), transient=False) as bar:
        tasks: dict[str, int] = {}

        def rich_progress(description: str, completed: int, total: int) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=completed, total=total)

        yield rich_progress
