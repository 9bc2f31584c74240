"""What `capture-check` finds: problems, per-scene summaries, and the JSON form (schema
`lmv.capture-check/1`, documented in docs/capture.md#json-report — keep both in step)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

JSON_SCHEMA = "lmv.capture-check/1"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding, located as precisely as possible (scene, buffer folder, file, frame)."""

    severity: Severity
    code: str  # stable identifier, e.g. "missing-frame", "truncated", "nan", "velocity-convention"
    message: str
    scene: str
    buffer: str | None = None
    path: Path | None = None
    frame: int | None = None

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "/".join(p for p in (self.scene, self.buffer) if p)
        if self.frame is not None and self.path is None:
            where += f" frame {self.frame}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["path"] = str(self.path) if self.path is not None else None
        return d


@dataclass
class MotionFigure:
    """Motion-vector sanity figure: ACES PSNR (dB) of frame t−1 warped with the velocity of frame t
    versus repeated, against frame t (SceneColorNoST), median over frame pairs."""

    warp_psnr: float
    repeat_psnr: float
    pairs: int
    conventions: dict[str, float]  # convention name -> median warp PSNR over the sampled pairs
    advantage: dict[str, float]  # convention -> median dB it beats the documented one by where they disagree
    best: str  # the documented convention unless another one fits clearly better

    @property
    def gain_db(self) -> float:
        return self.warp_psnr - self.repeat_psnr


@dataclass
class SceneReport:
    name: str
    path: Path
    frames: int = 0
    width: int | None = None
    height: int | None = None
    buffers: list[str] = field(default_factory=list)
    ranges: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # buffer -> channel -> [min, max]
    motion: MotionFigure | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict:
        motion = None
        if self.motion is not None:
            motion = asdict(self.motion) | {"gain_db": self.motion.gain_db}
        return {
            "name": self.name,
            "path": str(self.path),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "buffers": self.buffers,
            "ranges": self.ranges,
            "motion": motion,
            "problems": [p.to_json() for p in self.problems],
        }


class ProblemTotals:
    """Every problem of a report (its own `problems` and those of its `scenes`), and the errors and
    warnings among them; shared by the export and the store reports."""

    problems: list[Problem]
    scenes: list

    @property
    def all_problems(self) -> list[Problem]:
        return self.problems + [p for s in self.scenes for p in s.problems]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.all_problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.all_problems if p.severity is Severity.WARNING]

    def ok(self, strict: bool = False) -> bool:
        """True when there are no errors (and, with `strict`, no warnings either)."""
        return not self.errors and not (strict and self.warnings)


@dataclass
class CheckReport(ProblemTotals):
    export: Path
    quick: bool
    scenes: list[SceneReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # problems not tied to one scene

    def to_json(self) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "export": str(self.export),
            "quick": self.quick,
            "ok": self.ok(),
            "summary": {
                "scenes": len(self.scenes),
                "frames": sum(s.frames for s in self.scenes),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "problems": [p.to_json() for p in self.problems],
            "scenes": [s.to_json() for s in self.scenes],
        }
