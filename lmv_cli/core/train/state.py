"""Where a run stands (`Progress`, saved in checkpoints) and the `RunningSums` between two log lines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Where the run stands: the next batch to train is batch `batch` of epoch `epoch`."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best_psnr: float | None = None
    best_step: int | None = None
    validated_step: int | None = None  # step of the last validation (so the end does not repeat it)


@dataclass
class RunningSums:
    """Running sums between two log lines."""

    start: float = field(default_factory=time.perf_counter)
    steps: int = 0
    loss: float = 0.0
    psnr: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)
    wait: float = 0.0
    windows: list[int] = field(default_factory=list)  # indices into DataIndex.windows this rank trained on
