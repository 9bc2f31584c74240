"""Helpers shared by the command files: error mapping, progress bars, consoles."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from lmv_cli.cli._errors import describe, word
from lmv_cli.core.errors import LmvError, LmvWarning

F = TypeVar("F", bound=Callable)
log = logging.getLogger("lmv_cli.cli")


ERROR_SCHEMA = "lmv.error/1"


def _tidy(params: list) -> list:
    """Help and usage read the same in every command: arguments by upper-case name (`{MODEL} {OUT}`,
    unless a metavar says otherwise), flags without Typer's `<bool>` value placeholder (they take none)."""
    for param in params:
        if isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = param.name.upper()
        elif isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
    return params


def reflow(text: str | None) -> str | None:
    """A command's docstring as paragraphs: the lines of each paragraph joined by spaces (the terminal
    wraps them at its own width; rich help would keep every source line break), blank-line breaks
    kept, and a paragraph that starts with click's no-rewrap marker (a backspace line) kept as is."""
    if not text:
        return text
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    return "\n\n".join(p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
                       for p in paragraphs)


class LmvCommand(TyperCommand):
    """A Typer command whose help and usage lines follow `_tidy`, and whose help text flows as
    paragraphs (`reflow`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx):
        return _tidy(super().get_params(ctx))


class LmvGroup(TyperGroup):
    """The `lmv` group, with the same help conventions as its commands (`_tidy`)."""

    def get_params(self, ctx):
        return _tidy(super().get_params(ctx))


def lmv_command(fn: F) -> F:
    """Wrap a command: an `LmvError` becomes one line on stderr and exit 1 (traceback with --verbose);
    when the command was given --json, a failure (exit 1, or a usage error the command body raises,
    exit 2) also prints a JSON error object (schema lmv.error/1) on stdout."""

    json_option = _json_option(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        as_json = bool(json_option and kwargs.get(json_option))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", LmvWarning)
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except LmvError as e:
            if _verbose():
                traceback.print_exc(file=sys.stderr)
            if as_json:
                _json_error(1, type(e).__name__, word(e.message), describe(e), path=e.path, frame=e.frame)
            typer.echo(f"error: {describe(e)}", err=True)
            raise typer.Exit(1) from None
        except typer.BadParameter as e:
            if as_json:
                _json_error(2, "UsageError", e.format_message(), e.format_message())
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """`LmvWarning`s as one `warning:` line on stderr; others (a library's) only with --verbose."""
    if issubclass(category, LmvWarning):
        typer.echo(f"warning: {word(str(message))}", err=True)
    elif _verbose():
        typer.echo(warnings.formatwarning(message, category, filename, lineno, line).rstrip(), err=True)


def _json_option(fn: Callable) -> str | None:
    """The name of the command's `--json` option, if it has one."""
    for name, parameter in inspect.signature(fn).parameters.items():
        if "--json" in (getattr(parameter.default, "param_decls", None) or ()):
            return name
    return None


def _json_error(code: int, kind: str, message: str, text: str, *, path=None, frame: int | None = None) -> None:
    """Print the JSON error object (schema lmv.error/1) of a failed --json command on stdout."""
    error = {"type": kind, "message": message, "path": None if path is None else str(path), "frame": frame,
             "text": text}
    typer.echo(json.dumps({"schema": ERROR_SCHEMA, "ok": False, "exit_code": code, "error": error}))


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
