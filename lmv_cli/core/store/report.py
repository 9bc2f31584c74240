"""What verifying a store finds (`lmv capture-check STORE`): every problem, per scene, plus what
`pack --resume` must redo to repair it. JSON schema `lmv.store-check/1`, same family as an export's
`lmv.capture-check/1` (schema, ok, summary, problems, scenes with their problems; docs/store.md and docs/capture.md document both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lmv_cli.core.capture.report import Problem, ProblemTotals, Severity

JSON_SCHEMA = "lmv.store-check/1"


@dataclass
class SceneCheck:
    """One scene of a store as verification found it."""

    name: str
    path: Path
    frames: int = 0
    width: int | None = None
    height: int | None = None
    frames_done: int = 0
    problems: list[Problem] = field(default_factory=list)
    damaged: set[int] = field(default_factory=set)  # frames marked packed whose chunks are damaged
    rebuild_group: bool = False  # the scene's zarr.json must be written again
    rebuild_arrays: set[str] = field(default_factory=set)  # arrays whose metadata is damaged

    def add(self, code: str, message: str, *, buffer: str | None = None, path: Path | None = None,
            frame: int | None = None, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(severity, code, message, self.name, buffer, path, frame))

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "frames_done": self.frames_done,
            "damaged_frames": sorted(self.damaged),
            "rebuild": sorted(self.rebuild_arrays | ({"zarr.json"} if self.rebuild_group else set())),
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass
class StoreReport(ProblemTotals):
    """Verification of a whole store (see `verify.verify_store`)."""

    store: Path
    format_version: int | None = None
    complete: bool = False
    problems: list[Problem] = field(default_factory=list)  # problems of the store as a whole
    scenes: list[SceneCheck] = field(default_factory=list)

    def add(self, code: str, message: str, *, path: Path | None = None, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(severity, code, message, "", None, path, None))

    @property
    def damaged_frames(self) -> int:
        return sum(len(s.damaged) for s in self.scenes)

    def to_json(self) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "store": str(self.store),
            "format_version": self.format_version,
            "complete": self.complete,
            "ok": self.ok(),
            "summary": {
                "scenes": len(self.scenes),
                "frames": sum(s.frames for s in self.scenes),
                "damaged_frames": self.damaged_frames,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "problems": [p.to_json() for p in self.problems],
            "scenes": [s.to_json() for s in self.scenes],
        }
