"""`lmv capture-check EXPORT|STORE`: validate a UE4 export before packing it, or verify a packed store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from lmv_cli.cli._common import lmv_command, progress_bar, stdout_console


@lmv_command
def command(
    export: Path = typer.Argument(..., metavar="EXPORT|STORE",
                                  help="A scene folder (holding SceneColor/, VelocityDepth/, ...), a folder of scene "
                                       "folders, or a store written by `lmv pack` (e.g. data.zarr)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout (schema "
                                  "lmv.capture-check/1 for an export, lmv.store-check/1 for a store)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    quick: bool = typer.Option(False, "--quick", help="Export: read headers only (layout, numbering, truncation, "
                               "channels, sizes). Store: check chunk presence and checksums, skip decoding."),
    workers: int = typer.Option(0, "--workers", min=0, help="Decoding processes for an export (0 = one per core)."),
) -> None:
    """Validate a UE4 export, or verify a packed store, and report every problem in it.

    Export: checks each scene's folders and frame numbering, unreadable or truncated files, channels,
    resolutions, NaN/Inf, value ranges, lossy compression and all-zero velocity, and measures the
    motion-vector sanity figure: warping frame t-1 with the velocity must beat repeating it.

    Store: checks format and version, root and scene metadata, the "frames done" bookkeeping, and every
    chunk of every packed frame: present, crc32c checksum valid, decodable, finite, and consistent with
    the recorded statistics. `lmv pack EXPORT STORE --resume` repairs what it finds.

    Exit code 0 when clean (warnings allowed), 1 on errors (or on warnings with --strict).
    """
    from lmv_cli.core.store.report import StoreReport
    from lmv_cli.core.store.verify import check_path

    with progress_bar(enabled=not json_out) as progress:
        report = check_path(export, quick=quick, workers=workers, progress=progress)
    show = _show_store if isinstance(report, StoreReport) else _show_report
    if json_out:
        typer.echo(json.dumps(_finite(report.to_json()), indent=2))
    else:
        show(report, strict)
    raise typer.Exit(0 if report.ok(strict) else 1)


def _show_store(report, strict: bool) -> None:
    from rich.table import Table

    console = stdout_console()
    title = f"capture-check {report.store} (store, format version {report.format_version})"
    summary = Table(title=title)
    for column in ("scene", "frames", "size", "packed", "damaged frames", "errors", "warnings"):
        summary.add_column(column, justify="left" if column == "scene" else "right", no_wrap=True)
    for s in report.scenes:
        errors = sum(p.severity.value == "error" for p in s.problems)
        size = f"{s.width}x{s.height}" if s.width else "-"
        summary.add_row(s.name, str(s.frames), size, f"{s.frames_done}/{s.frames}", _count(len(s.damaged), "red"),
                        _count(errors, "red"), _count(len(s.problems) - errors, "yellow"))
    console.print(summary)
    _show_problems(console, report)
    _verdict(console, report, strict, f"{len(report.scenes)} scene(s), {report.damaged_frames} damaged frame(s)")
    if report.errors:
        console.print(f"repair: `lmv pack EXPORT {report.store} --resume` re-packs damaged frames; damaged root "
                      "metadata or another format version needs `--overwrite`", highlight=False)


def _show_report(report, strict: bool) -> None:
    from rich.table import Table

    console = stdout_console()
    summary = Table(title=f"capture-check {report.export}" + (" (quick: headers only)" if report.quick else ""))
    for column in ("scene", "frames", "size", "buffers", "warp/repeat dB", "MV fit", "errors", "warnings"):
        summary.add_column(column, justify="left" if column in ("scene", "MV fit") else "right", no_wrap=True)
    for s in report.scenes:
        errors = sum(p.severity.value == "error" for p in s.problems)
        warnings = len(s.problems) - errors
        size = f"{s.width}x{s.height}" if s.width else "-"
        motion = f"{s.motion.warp_psnr:.2f}/{s.motion.repeat_psnr:.2f}" if s.motion else "-"
        fit = s.motion.best if s.motion and s.motion.conventions else "-"
        summary.add_row(s.name, str(s.frames), size, str(len(s.buffers)), motion, fit,
                        _count(errors, "red"), _count(warnings, "yellow"))
    console.print(summary)
    if not report.quick and report.scenes:
        console.print(_ranges_table(report))
    _show_problems(console, report)
    _verdict(console, report, strict, f"{len(report.scenes)} scene(s)")


def _verdict(console, report, strict: bool, what: str) -> None:
    verdict = "OK" if report.ok(strict) else "FAILED"
    style = "green" if report.ok(strict) else "red"
    console.print(f"[{style}]{verdict}[/]: {what}, {len(report.errors)} error(s), "
                  f"{len(report.warnings)} warning(s)" + (" (--strict: warnings fail)" if strict else ""))


def _ranges_table(report):
    from rich.table import Table

    from lmv_cli.core.schema import BUFFERS

    table = Table(title="value ranges (min..max over all frames)")
    table.add_column("buffer", no_wrap=True)
    for s in report.scenes:
        table.add_column(s.name, justify="right", no_wrap=True)
    for buffer in BUFFERS:
        # Colours, normals etc. share one meaning across R, G, B: one row. Packed G-buffers: a row per channel.
        distinct = len({c.meaning.split(" (")[0] for c in buffer.channels}) > 1
        groups = [(f"{buffer.folder}.{c.name}", [c.name]) for c in buffer.channels] if distinct \
            else [(buffer.folder, list(buffer.channel_names))]
        for label, names in groups:
            cells = [_range_cell(s.ranges.get(buffer.folder), names) for s in report.scenes]
            if any(c != "-" for c in cells):
                table.add_row(label, *cells)
    return table


def _range_cell(ranges, names) -> str:
    if not ranges:
        return "-"
    lo = min(ranges[n][0] for n in names)
    hi = max(ranges[n][1] for n in names)
    return f"{lo:.3g}..{hi:.3g}"


def _show_problems(console, report) -> None:
    from rich.markup import escape

    groups: dict[tuple[str, str], list] = {}
    for p in report.all_problems:
        groups.setdefault((p.scene or "store", p.buffer or "-"), []).append(p)
    for (scene, buffer), problems in groups.items():
        console.print(f"[bold]{escape(scene)}[/] / [bold]{escape(buffer)}[/]")
        for p in problems:
            tag = "[red]error[/]" if p.severity.value == "error" else "[yellow]warning[/]"
            console.print(f"  {tag} {escape(str(p))}")


def _count(n: int, style: str) -> str:
    return f"[{style}]{n}[/]" if n else "0"


def _finite(value):
    """JSON has no inf/nan: map them to null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
