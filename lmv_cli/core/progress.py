"""Progress reporting without a terminal dependency: one protocol module for every long core call.

Pack, test and extrapolate accept an optional `progress` callback and call it as
`progress(description, completed, total)`. Training reports richer facts through an `on_event`
callback that receives one typed event per happening (`StartEvent`, `StepEvent`, `ValEvent`,
`CheckpointEvent`, `EndEvent`); a caller renders them by type. `record()` is the event's line of the
run log (`log/train.jsonl`, keyed by `kind`). `None` means nobody is listening.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

ProgressFn = Callable[[str, int, int], None]


def report(progress: ProgressFn | None, description: str, completed: int, total: int) -> None:
    """Call `progress` if there is one (keeps call sites free of `if progress:`)."""
    if progress is not None:
        progress(description, completed, total)


@dataclass(frozen=True, kw_only=True)
class TrainEvent:
    """What every training event carries: the optimizer step and epoch it happened at, the number of
    processes training, and the wall-clock time (s since the epoch)."""

    kind: ClassVar[str] = "event"
    step: int
    world_size: int
    time: float

    def record(self) -> dict[str, Any]:
        """The event as one run-log record: `kind` first, then every field."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}


@dataclass(frozen=True, kw_only=True)
class StartEvent(TrainEvent):
    """The loop starts (or resumes) at `step` of `total_steps`, writing into the run folder `run`."""

    kind: ClassVar[str] = "start"
    total_steps: int
    batches_per_epoch: int
    windows: int
    run: str


@dataclass(frozen=True, kw_only=True)
class StepEvent(TrainEvent):
    """Training figures averaged over the steps since the last one (over all processes): loss, PSNR
    (dB) of the prediction, each loss term, learning rate, throughput and the share of time spent
    waiting for data; `windows_by_rank` counts the windows each process trained on."""

    kind: ClassVar[str] = "train"
    epoch: int
    total_steps: int
    loss: float
    psnr: float
    terms: dict[str, float]
    lr: float
    samples_per_s: float
    data_wait: float
    windows_by_rank: list = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ValEvent(TrainEvent):
    """A validation: `scores[f"n{N}"][method][metric]` (methods model, warp, repeat; metrics psnr in
    dB, ssim), the PSNR that selects the best model, whether it is a new best, and its duration (s)."""

    kind: ClassVar[str] = "val"
    epoch: int
    scores: dict[str, dict[str, dict[str, float]]]
    selection_psnr: float
    best: bool
    seconds: float

    def record(self) -> dict[str, Any]:
        """As `TrainEvent.record`, with the scores of each N at the top level (`n1`, `n2`, …)."""
        record = super().record()
        return {**{k: v for k, v in record.items() if k != "scores"}, **self.scores}


@dataclass(frozen=True, kw_only=True)
class CheckpointEvent(TrainEvent):
    """A checkpoint written to `path` at `epoch`/`batch`, for `reason` (start, interrupted, end; empty
    for a periodic one)."""

    kind: ClassVar[str] = "checkpoint"
    epoch: int
    batch: int
    path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class EndEvent(TrainEvent):
    """The loop ended at `step`; the best validation PSNR (dB) and its step, None before any
    validation; `already_finished` when a resumed run had nothing left to do."""

    kind: ClassVar[str] = "end"
    epoch: int
    best_psnr: float | None
    best_step: int | None
    already_finished: bool = False


OnEvent = Callable[[TrainEvent], None]
"""Receives each training event on the main process (`lmv train`, `lmv resume` render them by type)."""
