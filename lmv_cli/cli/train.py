"""`lmv train --config C.yaml`: resolve a run configuration and train FSNet on packed stores (docs/training.md).

`--dry-run` resolves the configuration, opens every store (missing, incomplete, unknown scenes are
errors), builds the model and prints its parameter counts; nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lmv_cli.cli._common import lmv_command, stdout_console

if TYPE_CHECKING:
    from lmv_cli.core.config import Config

@lmv_command
def command(
    config: Path = typer.Option(..., "--config", "-c", help="Run configuration (YAML), e.g. configs/fsnet.yaml."),
    overrides: list[str] = typer.Option([], "--set", help="Override one value: section.key=value (repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Parent folder of run directories (overrides train.out_dir)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Resolve the config, build the model, print its size; train nothing."
    ),
) -> None:
    """Train FSNet on packed stores into <out>/<job_name>/<YYYY-MM-DD_HH-MM-SS>/.

    The run directory holds config.yaml (resolved), log/train.jsonl, model/best.pt (best validation
    PSNR) and model/last.pt, checkpoint/ and history_checkpoints/, and writer/ (TensorBoard, with the
    `tb` extra). Ctrl-C saves a checkpoint and exits 130; continue with `lmv resume RUN_DIR`.
    Multi-GPU / multi-node: run the same command under `torchrun --nproc_per_node=K --no-python lmv train …`.
    --dry-run prints the resolved config, the stores' scenes and the model size, and writes nothing.
    Exit code 0 on success, 1 on bad input (config, stores, out dir).
    """
    from lmv_cli.core.config import load_config
    from lmv_cli.core.train.run import plan_run, train, with_out_dir

    cfg = with_out_dir(load_config(config, overrides), out)
    if dry_run:
        plan = plan_run(cfg)
        _show_config(config, overrides, cfg, plan.parameter_counts, plan.parameters, plan.index)
        return

    from lmv_cli.cli._training import reporter

    with reporter() as on_event:
        result = train(cfg, on_event)
    if result.main:
        typer.echo(f"run directory: {result.run}")


def _show_config(path: Path, overrides: list[str], cfg: Config, counts: dict[str, int], total: int, index=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    console.print(f"[bold]config[/] {escape(str(path))}" + "".join(f" --set {escape(o)}" for o in overrides))
    console.print(escape(cfg.to_yaml().rstrip()), highlight=False)
    table = Table(title=f"model: preset {cfg.model.preset}")
    table.add_column("part", no_wrap=True)
    table.add_column("parameters", justify="right", no_wrap=True)
    for part, n in counts.items():
        table.add_row(part, f"{n:,}")
    if sum(counts.values()) != total:
        table.add_row("(not in a part)", f"{total - sum(counts.values()):,}")
    table.add_section()
    table.add_row("[bold]total[/]", f"[bold]{total:,}[/]")
    console.print(table)
    _show_data(console, cfg, index)
    run_dir = Path(cfg.train.out_dir) / cfg.train.job_name / "<YYYY-MM-DD_HH-MM-SS>"
    console.print(f"dry run: nothing trained, nothing written (a run would write to {escape(str(run_dir))})")


def _show_data(console, cfg: Config, index) -> None:
    """The stores' scenes and their split, or a note that no store is named."""
    from rich.table import Table

    if index is None:
        console.print("data: no stores named (set data.stores to train)")
        return
    table = Table(title=f"data: {len(index.windows)} training windows of {index.length} frames")
    for column in ("store", "scene", "frames", "size", "split"):
        table.add_column(column, no_wrap=True)
    for ref in index.train_scenes + index.val_scenes:
        split = "validation" if ref in index.val_scenes else "training"
        table.add_row(ref.store, ref.scene, str(ref.frames), f"{ref.width}x{ref.height}", split)
    console.print(table)
