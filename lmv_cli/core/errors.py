"""The error model: every failure a user can cause is an `LmvError` with a message that names the
file, the frame and what was expected versus found. The CLI turns these into one line on stderr and
exit code 1; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class LmvError(Exception):
    """Base class of all user-facing errors.

    `path` and `frame` are optional context; `str(err)` renders them in front of the message so that
    every error line reads `<path> [frame k]: <problem>`.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, frame: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.frame = frame

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
    """A configuration file or override is invalid (unknown key, wrong type, failed validation).

    `key` names the option of the core call that is wrong (e.g. `frames`), for a caller that maps it to
    its own spelling (the CLI: `--frames`) instead of reading it out of the message.
    """

    def __init__(self, message: str, *, key: str | None = None, path: str | Path | None = None,
                 frame: int | None = None):
        super().__init__(message, path=path, frame=frame)
        self.key = key


class InputError(LmvError):
    """A tensor handed to the model or a metric is missing or has the wrong shape or values."""


class DeviceError(LmvError):
    """A device name torch does not know, or a CUDA device on a machine without CUDA."""


class CheckpointError(LmvError):
    """A checkpoint or model file cannot be loaded safely or does not match the model."""


class LmvWarning(UserWarning):
    """Something the user should know that does not stop the command (e.g. a model used at another
    resolution than it was trained at); the CLI prints it as one `warning:` line on stderr."""
