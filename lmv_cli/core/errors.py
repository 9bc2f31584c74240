"""The error model: every failure a user can cause is an `LmvError` with a message that names the
file, the frame and what was expected versus found. The CLI turns these into one line on stderr and
exit code 1; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class LmvError(Exception):
    """Base class of all user-facing errors.

    `path` and `frame` are optional context; `str(err)` renders them in front of the message so that
    every error line reads `<path> [frame k]: <problem>`. `option` names the option of the core call the
    error is about, as the core knows it (a keyword argument such as `overwrite`, a config key such as
    `train.lr`): the one to change to get past the error (the one at fault, or the one that fixes it),
    and `value` the value it was given. A
    message names options the same way, in backticks (`` `overwrite` ``; `` `pack.resume` `` for an
    option of another core call), so that a caller can word them in its own spelling (the CLI: flags)
    instead of reading them out of the text.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, frame: int | None = None,
                 option: str | None = None, value: object = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.frame = frame
        self.option = option
        self.value = value

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ExrError(LmvError):
    """An EXR file is missing, truncated, not an EXR, or lacks the channels asked for."""


class CaptureError(LmvError):
    """A UE4 export folder is malformed (raised by commands that need a clean export)."""


class StoreError(LmvError):
    """A Zarr store is missing, incomplete, of another format version, or not writable."""


class ConfigError(LmvError):
    """A configuration file, override or option value is invalid (unknown key, wrong type, failed
    validation); `option` names the key or option (e.g. `frames`, `train.lr`)."""


class InputError(LmvError):
    """A tensor handed to the model or a metric is missing or has the wrong shape or values."""


class DeviceError(LmvError):
    """A device name torch does not know, or a CUDA device on a machine without CUDA."""


class CheckpointError(LmvError):
    """A checkpoint or model file cannot be loaded safely or does not match the model."""


class LmvWarning(UserWarning):
    """Something the user should know that does not stop the command (e.g. a model used at another
    resolution than it was trained at); the CLI prints it as one `warning:` line on stderr."""
