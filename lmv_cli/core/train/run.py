"""Starting and resuming runs: everything around the loop (docs/training.md#checkpoints-and-resume).

`check_data(cfg)` opens every store and finds every data problem before a run directory exists;
`train(cfg)` creates the run and trains; `resume(path)` reloads a run's `config.yaml` and checkpoint and
continues, optionally with more epochs or steps. Under torchrun each rank calls the same function;
rank 0 creates the run directory and the others learn its path from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from lmv_cli.core.compat import data_signature
from lmv_cli.core.config import LEGACY_MODEL_OPTIONS, Config, load_config
from lmv_cli.core.data import DataIndex, build_index
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import load_model, resolve_model
from lmv_cli.core.progress import OnEvent
from lmv_cli.core.store import open_store
from lmv_cli.core.train import checkpoint as ckpt
from lmv_cli.core.train.distributed import World, broadcast, setup, teardown
from lmv_cli.core.train.loop import Trainer
from lmv_cli.core.train.meta import train_resolution
from lmv_cli.core.train.rundir import RunDir, create_run, find_run
from lmv_cli.core.train.state import Progress


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or already finished) run reports."""

    run: Path
    progress: Progress
    total_steps: int
    world_size: int
    main: bool  # rank 0 (the process that reports)


@dataclass(frozen=True)
class RunPlan:
    """What `train` would do with a config, found without writing anything: the stores' windows (None
    when the config names no store) and the model's parameters, per part and in all."""

    index: DataIndex | None
    parameter_counts: dict[str, int]
    parameters: int


def plan_run(cfg: Config) -> RunPlan:
    """Check the stores of `cfg` (as `train` would, when it names any) and build its model once to
    count its parameters; writes nothing (`lmv train --dry-run`)."""
    index = check_data(cfg) if cfg.data.stores else None
    initial_weights(cfg)
    model = build_model(cfg.model)
    return RunPlan(index, model.parameter_counts(), sum(p.numel() for p in model.parameters()))


def initial_weights(cfg: Config) -> dict[str, torch.Tensor] | None:
    """The weights a fresh run of `cfg` starts from with `train.init_from` (fine-tuning; None without
    it): those of the model it names (`resolve_model`: a file, a run, "bundled"), whose model options
    must equal `cfg.model`'s except `init` (a `ConfigError` naming every option that differs)."""
    if cfg.train.init_from is None:
        return None
    path = resolve_model(cfg.train.init_from)
    model, model_cfg, _ = load_model(path)
    ours, theirs = dataclasses.asdict(cfg.model), dataclasses.asdict(model_cfg)
    differ = [f"`model.{k}` is {theirs[k]!r} there, {ours[k]!r} here" for k in ours if k != "init" and ours[k] != theirs[k]]
    if differ:
        raise ConfigError(f"`train.init_from`: the model to start from was built otherwise: {'; '.join(differ)}",
                          path=path, option="train.init_from", value=cfg.train.init_from)
    return model.state_dict()


def check_data(cfg: Config) -> DataIndex:
    """Open every store and cut the windows; any problem is one `LmvError` naming the store or scene."""
    return build_index(cfg.data)


def train(cfg: Config, on_event: OnEvent | None = None) -> TrainResult:
    """Start a fresh run of `cfg` and train it to the end. Store paths are made absolute in the run's
    config.yaml, so `lmv resume` works from any directory."""
    stores = tuple(str(Path(s).resolve()) for s in cfg.data.stores)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, stores=stores))
    if cfg.train.init_from is not None:  # the file itself, so the run's config.yaml says what it started from
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, init_from=str(resolve_model(cfg.train.init_from).resolve())))
    world = setup(cfg.train.device)
    try:
        index = check_data(cfg)
        initial = initial_weights(cfg)
        run = RunDir(Path(broadcast(str(create_run(cfg).path) if world.main else None, world)))
        trainer = _trainer(cfg, index, run, world, on_event, initial=initial)
        return _fit(trainer)
    finally:
        teardown(world)


def resume(path: str | Path, epochs: int | None = None, steps: int | None = None,
           on_event: OnEvent | None = None) -> TrainResult:
    """Continue the run at `path` (or the newest run of a job directory) from its checkpoint; `epochs` /
    `steps` extend `train.epochs` / `train.max_steps` (written back to its config.yaml)."""
    run = find_run(path)
    overrides = [f"train.epochs={epochs}"] * (epochs is not None) + [f"train.max_steps={steps}"] * (steps is not None)
    payload = ckpt.read_checkpoint(run.checkpoint)
    # a run started before model.flow_unit / model.downscale existed keeps training the function it began
    saved = payload.get("model") if isinstance(payload.get("model"), dict) else {}
    legacy = [f"model.{k}={v}" for k, v in LEGACY_MODEL_OPTIONS.items() if saved and k not in saved]
    cfg = load_config(run.config, legacy + overrides)
    world = setup(cfg.train.device)
    try:
        saved = payload["progress"].get("world_size", 1)
        if saved != world.size:
            raise ConfigError(f"{run.path}: the run trained with {saved} process(es), this resume has {world.size}; "
                              f"resume under the same torchrun --nproc_per_node/--nnodes")
        index = check_data(cfg)
        trainer = _trainer(cfg, index, run, world, on_event, payload)
        if overrides and world.main:
            run.config.write_text(cfg.to_yaml(), encoding="utf-8")
        return _fit(trainer)
    finally:
        teardown(world)


def _trainer(cfg: Config, index: DataIndex, run: RunDir, world: World, on_event: OnEvent | None,
             payload: dict | None = None, initial: dict[str, torch.Tensor] | None = None) -> Trainer:
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model)
    if initial is not None:
        model.load_state_dict(initial)
    model = model.to(world.device).train()
    t = cfg.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
    if payload is not None:
        ckpt.restore(payload, run.checkpoint, model, cfg.model, optimizer)
    meta = data_signature(open_store(cfg.data.stores[0]))
    # the density the model files record; only a real index knows its scenes (test doubles carry none)
    recorded = {"train_resolution": train_resolution(index, cfg.data.crop)} if isinstance(index, DataIndex) else {}
    trainer = Trainer(cfg, index, model, optimizer, run, world, on_event, meta, recorded)
    if payload is not None:
        trainer.restore(payload)
    return trainer


def _fit(trainer: Trainer) -> TrainResult:
    try:
        progress = trainer.fit()
    finally:
        trainer.close()
    return TrainResult(trainer.run.path, progress, trainer.total, trainer.world.size, trainer.world.main)


def with_out_dir(cfg: Config, out: str | Path | None) -> Config:
    """`cfg` with `train.out_dir` replaced by `out` (the CLI's --out) when given."""
    if out is None:
        return cfg
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, out_dir=str(out)))
