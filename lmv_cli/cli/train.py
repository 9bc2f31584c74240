"""`lmv train --config C.yaml`: resolve a run configuration and train FSNet (SPEC §5).

Today only `--dry-run` works: it resolves the configuration, builds the model and prints its parameter
counts. Training itself arrives with the training issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lmv_cli.cli._common import lmv_command, stdout_console

if TYPE_CHECKING:
    from lmv_cli.core.config import Config

NOT_YET = "training is not available yet: it arrives with the training issue (use --dry-run to check a config)"


@lmv_command
def command(
    config: Path = typer.Option(..., "--config", "-c", help="Run configuration (YAML), e.g. configs/fsnet.yaml."),
    overrides: list[str] = typer.Option([], "--set", help="Override one value: section.key=value (repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Parent folder of run directories (overrides train.out_dir)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Resolve the config, build the model, print its size; train nothing."
    ),
) -> None:
    """Train FSNet on packed stores; --dry-run checks the configuration and the model only.

    The resolved configuration is printed as YAML together with the parameter count of each part of
    the network and the total. Exit code 0 on success, 1 on an invalid configuration.
    """
    import dataclasses

    from lmv_cli.core.config import load_config

    cfg = load_config(config, overrides)
    if out is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, out_dir=str(out)))
    if not dry_run:
        typer.echo(f"error: {NOT_YET}", err=True)
        raise typer.Exit(1)

    from lmv_cli.core.model.build import build_model

    model = build_model(cfg.model)
    _render(config, overrides, cfg, model.parameter_counts(), sum(p.numel() for p in model.parameters()))


def _render(path: Path, overrides: list[str], cfg: Config, counts: dict[str, int], total: int) -> None:
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
    run_dir = Path(cfg.train.out_dir) / cfg.train.job_name / "<YYYY-MM-DD_HH-MM-SS>"
    console.print(f"dry run: nothing trained, nothing written (a run would write to {escape(str(run_dir))})")
