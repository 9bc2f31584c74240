"""Output folders that never mix runs and never hold half a run (docs/evaluation.md#lmv-extrapolate-output).

A run writes into a staging folder beside OUT (`<OUT>.partial-<random>`, same file system) and moves its
files into OUT only when everything was written. A failed or interrupted run removes its staging
folder, so OUT is left as it was; only `kill -9` can leave a `<OUT>.partial-*` folder behind, and its
name says what it is. OUT must be missing or empty unless `overwrite`: then the files recorded in OUT's
manifest (`MANIFEST`, written by the previous run) are replaced and every other file is kept.

    folder = OutputFolder(out, overwrite=False)     # checks OUT before any work
    with folder.staged() as staging:                # write into `staging`
        ...
    folder.files                                    # what was moved into OUT
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from lmv_cli.core.errors import LmvError

MANIFEST = ".lmv-outputs.json"
"""File in OUT listing (relative POSIX paths) the files lmv wrote there: what `--overwrite` may replace."""
SCHEMA = "lmv.outputs/1"


class OutputFolder:
    """OUT of one run; `staged()` yields the staging folder and moves its files into OUT on success."""

    def __init__(self, out: str | Path, *, overwrite: bool = False, command: str = "extrapolate"):
        self.out, self.overwrite, self.command = Path(out), overwrite, command
        self.files: list[str] = []
        if self.out.exists() and not self.out.is_dir():
            raise LmvError("output folder is a file", path=self.out)
        if not overwrite and self.out.is_dir() and any(self.out.iterdir()):
            count = sum(1 for _ in self.out.iterdir())
            raise LmvError(f"output folder is not empty ({count} entries); choose another `out`, or pass "
                           "`overwrite` to replace the files of the earlier lmv run (other files are kept)",
                           path=self.out, option="overwrite", value=False)
        if overwrite:
            read_manifest(self.out)  # a damaged manifest fails now, before any work

    @contextmanager
    def staged(self) -> Iterator[Path]:
        """Yield a fresh staging folder; when the block succeeds, move its files into OUT (`commit`);
        when it raises (or is interrupted), delete the staging folder and re-raise."""
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{self.out.name}.partial-", dir=self.out.parent))
        except OSError as e:
            raise LmvError(f"cannot create output folder: {e.strerror or e}", path=self.out) from None
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.commit(staging)

    def commit(self, staging: Path) -> None:
        """Move every file of `staging` into OUT: a rename of the whole folder when OUT is missing or empty,
        else (overwrite) remove the files of OUT's manifest, then move the new files in one by one."""
        new = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        old = set(read_manifest(self.out))
        clash = [p for p in new if (self.out / p).exists() and p not in old]
        if clash:
            raise LmvError(f"{len(clash)} output file(s) would replace files lmv did not write there, e.g. "
                           f"{clash[0]}; the outputs are kept in {staging}", path=self.out)
        self.files = new
        _write_manifest(staging / MANIFEST, self.command, new)
        if not self.out.exists() or not any(self.out.iterdir()):
            os.replace(staging, self.out)  # rename(2) replaces an empty directory atomically
            return
        for rel in old:
            _remove(self.out, rel)
        for rel in [*new, MANIFEST]:
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, self.out / rel)
        shutil.rmtree(staging, ignore_errors=True)


def read_manifest(out: Path) -> list[str]:
    """The relative paths recorded in `out`'s manifest ([] without one); only plain relative paths
    inside `out` are returned, so a tampered manifest cannot point `--overwrite` elsewhere."""
    path = out / MANIFEST
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        files = document["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LmvError(f"unreadable lmv output manifest ({e}); remove it or choose another `out`", path=path,
                       option="out") from None
    return [f for f in files if isinstance(f, str) and f and _inside(f)]


def _inside(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and p.as_posix() != MANIFEST


def _remove(out: Path, rel: str) -> None:
    """Delete file `out`/`rel` (if it is a file) and the folders above it that it leaves empty."""
    path = out / rel
    if path.is_file() and not path.is_symlink():
        path.unlink()
    parent = path.parent
    while parent != out and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _write_manifest(path: Path, command: str, files: list[str]) -> None:
    document = {"schema": SCHEMA, "command": command, "files": files}
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
