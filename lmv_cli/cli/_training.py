"""What `lmv train` and `lmv resume` show while a run trains: a rich progress bar (loss, PSNR, samples/s)
on a terminal, plain log lines otherwise; validation results as one line per N."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

import typer


def _num(value: Any, fmt: str = ".2f") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else str(value)


def val_lines(record: dict[str, Any]) -> list[str]:
    """`val N=1: model 31.20 dB | warp 30.10 | repeat 25.40 (SSIM …)` per N."""
    lines = []
    for key in sorted(k for k in record if k.startswith("n") and k[1:].isdigit()):
        parts = [f"{m} {_num(v['psnr'])} dB / SSIM {_num(v['ssim'], '.4f')}" for m, v in record[key].items()]
        lines.append(f"val step {record['step']} N={key[1:]}: " + " | ".join(parts))
    if record.get("best"):
        lines.append(f"val step {record['step']}: new best model (PSNR {_num(record['selection_psnr'])} dB)")
    return lines


def plain_line(record: dict[str, Any]) -> list[str]:
    """The plain-text lines of one event record."""
    kind = record["kind"]
    if kind == "start":
        lines = [f"run {record['run']}: steps {record['step']}..{record['total_steps']}, "
                 f"{record['windows']} windows, {record['batches_per_epoch']} batches/epoch, "
                 f"world size {record['world_size']}"]
        if record["step"] == 0 and not _tensorboard():
            lines.append(f"note: no TensorBoard event files in {record['run']}/writer/ (the 'tb' extra is not "
                         "installed: pip install 'lmv[tb]'); the log is in log/train.jsonl")
        return lines
    if kind == "train":
        return [f"step {record['step']}/{record['total_steps']} epoch {record['epoch']} "
                f"loss {_num(record['loss'], '.4f')} "
                f"psnr {_num(record['psnr'])} lr {_num(record['lr'], '.2e')} {_num(record['samples_per_s'])} samples/s "
                f"data wait {100 * record['data_wait']:.1f}%"]
    if kind == "val":
        return val_lines(record)
    if kind == "checkpoint":
        note = f" ({record['reason']})" if record.get("reason") else ""
        return [f"checkpoint step {record['step']}{note}: {record['path']}"]
    if kind == "end":
        best = f", best validation PSNR {_num(record['best_psnr'])} dB at step {record['best_step']}" \
            if record.get("best_psnr") is not None else ""
        if record.get("already_finished"):
            return [f"already finished at step {record['step']}{best}; extend it with --epochs or --steps"]
        return [f"done at step {record['step']}{best}"]
    return []


def _tensorboard() -> bool:
    """Whether the run writes TensorBoard event files (the `tb` extra; `train.logs.RunLog`)."""
    from lmv_cli.core.train.logs import tensorboard_available

    return tensorboard_available()


@contextmanager
def reporter():
    """Yield an `OnEvent` that shows records: rich bar on a terminal, plain lines otherwise."""
    if not sys.stderr.isatty():
        def plain(record: dict[str, Any]) -> None:
            for line in plain_line(record):
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

        def rich(record: dict[str, Any]) -> None:
            if record["kind"] == "start":
                bar.update(task, total=record["total_steps"], completed=record["step"])
            if record["kind"] == "train":
                status = (f"loss {record['loss']:.4f} psnr {record['psnr']:.2f} "
                          f"{record['samples_per_s']:.1f} samples/s")
                bar.update(task, completed=record["step"], status=status)
            if record["kind"] != "train":
                for line in plain_line(record):
                    bar.console.print(line, highlight=False, markup=False)

        yield rich
