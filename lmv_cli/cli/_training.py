"""What `lmv train` and `lmv resume` show while a run trains: a rich progress bar (loss, PSNR, samples/s)
on a terminal, plain log lines otherwise; validation results as one line per N."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

import typer

from lmv_cli.core.progress import CheckpointEvent, EndEvent, StartEvent, StepEvent, TrainEvent, ValEvent


def _num(value: Any, fmt: str = ".2f") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else str(value)


def val_lines(event: ValEvent) -> list[str]:
    """`val step S N=1: model 31.20 dB / SSIM … | warp … | repeat …` per N, then a new best."""
    lines = []
    for key in sorted(event.scores):
        parts = [f"{m} {_num(v['psnr'])} dB / SSIM {_num(v['ssim'], '.4f')}" for m, v in event.scores[key].items()]
        lines.append(f"val step {event.step} N={key[1:]}: " + " | ".join(parts))
    if event.best:
        lines.append(f"val step {event.step}: new best model (PSNR {_num(event.selection_psnr)} dB)")
    return lines


def plain_lines(event: TrainEvent) -> list[str]:
    """The plain-text lines of one training event."""
    if isinstance(event, StartEvent):
        return _start_lines(event)
    if isinstance(event, StepEvent):
        return [f"step {event.step}/{event.total_steps} epoch {event.epoch} loss {_num(event.loss, '.4f')} "
                f"psnr {_num(event.psnr)} lr {_num(event.lr, '.2e')} {_num(event.samples_per_s)} samples/s "
                f"data wait {100 * event.data_wait:.1f}%"]
    if isinstance(event, ValEvent):
        return val_lines(event)
    if isinstance(event, CheckpointEvent):
        note = f" ({event.reason})" if event.reason else ""
        return [f"checkpoint step {event.step}{note}: {event.path}"]
    if isinstance(event, EndEvent):
        best = f", best validation PSNR {_num(event.best_psnr)} dB at step {event.best_step}" \
            if event.best_psnr is not None else ""
        if event.already_finished:
            return [f"already finished at step {event.step}{best}; extend it with --epochs or --steps"]
        return [f"done at step {event.step}{best}"]
    return []


def _start_lines(event: StartEvent) -> list[str]:
    lines = [f"run {event.run}: steps {event.step}..{event.total_steps}, {event.windows} windows, "
             f"{event.batches_per_epoch} batches/epoch, world size {event.world_size}"]
    if event.step == 0 and not _tensorboard():
        lines.append(f"note: no TensorBoard event files in {event.run}/writer/ (the 'tb' extra is not "
                     "installed: pip install 'lmv[tb]'); the log is in log/train.jsonl")
    return lines


def _tensorboard() -> bool:
    """Whether the run writes TensorBoard event files (the `tb` extra; `train.logs.RunLog`)."""
    from lmv_cli.core.train.logs import tensorboard_available

    return tensorboard_available()


@contextmanager
def reporter():
    """Yield an `OnEvent` that shows training events: rich bar on a terminal, plain lines otherwise."""
    if not sys.stderr.isatty():
        def plain(event: TrainEvent) -> None:
            for line in plain_lines(event):
                typer.echo(line)
            sys.stdout.flush()

        yield plain
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lmv_cli.cli._common import stderr_console

    columns = (TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=stderr_console()) as bar:
        task = bar.add_task("train", total=None, status="")

        def rich(event: TrainEvent) -> None:
            if isinstance(event, StepEvent):
                status = f"loss {event.loss:.4f} psnr {event.psnr:.2f} {event.samples_per_s:.1f} samples/s"
                bar.update(task, completed=event.step, status=status)
                return
            if isinstance(event, StartEvent):
                bar.update(task, total=event.total_steps, completed=event.step)
            for line in plain_lines(event):
                bar.console.print(line, highlight=False, markup=False)

        yield rich
