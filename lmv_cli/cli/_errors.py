"""How the CLI words a core error: the core names options as it knows them, in backticks (`overwrite`,
`pack.resume`) and in the error's `option` field; here they become what a user types (`--overwrite`,
`lmv pack EXPORT STORE --resume`)."""

from __future__ import annotations

import re

from lmv_cli.core.errors import LmvError

FLAGS: dict[str, str] = {
    "backend": "--backend",
    "frames": "--frames",
    "model": "--model",
    "out": "--out",
    "overwrite": "--overwrite",
    "override": "--set",
    "resume": "--resume",
    "scene": "--scene",
    "seed": "--seed",
    "size": "--size",
    "workers": "--workers",
    "pack.overwrite": "`lmv pack EXPORT STORE --overwrite`",
    "pack.resume": "`lmv pack EXPORT STORE --resume`",
}
"""Core option (keyword argument, or `call.option` of another command's core call) → what the user types."""

_NAMED = re.compile(r"`([a-z_.]+)`")


def flag(option: str | None) -> str | None:
    """The command-line spelling of a core option (`overwrite` → `--overwrite`), or None if it has none."""
    return FLAGS.get(option) if option is not None else None


def word(text: str) -> str:
    """`text` (a core message) with every option it names in backticks replaced by its flag; names that
    are not options (a file name in backticks) stay as they are."""
    return _NAMED.sub(lambda m: FLAGS.get(m.group(1), m.group(0)), text)


def describe(err: LmvError) -> str:
    """The one line the CLI prints for `err` after `error: `: its path and frame, then its message,
    with options worded as flags."""
    return word(str(err))
