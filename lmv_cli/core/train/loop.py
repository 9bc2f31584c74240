"""The training loop: sequences of windows through the one `Rollout`, AdamW + cosine, validation,
checkpoints and logs (docs/training.md#what-one-step-is).

A batch is B windows of `3 + sequence_length` frames. Per window the first three frames enter the
history rendered; each later frame is one optimizer step: draw which history slots the network sees
as predicted (`schedule.draw_pattern`), predict, loss, backward, clip, step, then the frame enters the
history with both halves (rendered, and the prediction with its streamed features).

Checkpoints are written between sequences every `train.checkpoint_every` steps (not at epoch ends: a
small data set makes short epochs, and one checkpoint per epoch filled run folders), at the start, at
the end and on Ctrl-C; a checkpoint written between sequences resumes bit-exactly on CPU, one written
by Ctrl-C in the middle of a sequence resumes at the next batch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

from lmv_cli.core.config import HISTORY_SLOTS, Config
from lmv_cli.core.data import (
    DataIndex,
    WindowDataset,
    batches_per_epoch,
    collate,
    epoch_batches,
    epoch_order,
    frame_at,
    load_batch,
)
from lmv_cli.core.errors import LmvError
from lmv_cli.core.inputs import assemble_targets
from lmv_cli.core.losses import total_loss
from lmv_cli.core.metrics import psnr
from lmv_cli.core.model.files import BEST, LAST, save_model
from lmv_cli.core.progress import CheckpointEvent, EndEvent, OnEvent, StartEvent, StepEvent, TrainEvent, ValEvent
from lmv_cli.core.regions import unexplained
from lmv_cli.core.rollout import Rollout
from lmv_cli.core.train import checkpoint as ckpt
from lmv_cli.core.train.distributed import World, barrier, broadcast, gather, mean, wrap
from lmv_cli.core.train.interrupt import deferred_interrupt
from lmv_cli.core.train.logs import RunLog, preview_image
from lmv_cli.core.train.rundir import RunDir
from lmv_cli.core.train.schedule import cosine_lr, draw_pattern, sequence_probs, sequence_rng
from lmv_cli.core.train.state import Progress, RunningSums
from lmv_cli.core.train.validate import MODEL, selection_psnr, validate

"""Receives every record the run logs (kind "start", "train", "val", "checkpoint", "end") on rank 0."""


class TrainingDiverged(LmvError):
    """The loss became NaN or Inf; the run stopped and its last checkpoint is the last good state."""


class Trainer:
    """One run on one rank (module docstring). `model` is the bare network; DDP wraps it here."""

    def __init__(self, cfg: Config, index: DataIndex, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 run: RunDir, world: World, on_event: OnEvent | None = None, data_meta: dict | None = None,
                 model_meta: dict | None = None):
        self.cfg, self.index, self.model, self.optimizer = cfg, index, model, optimizer
        self.run, self.world, self.on_event = run, world, on_event
        self.data_meta = data_meta or {}
        self.model_meta = model_meta or {}  # written into every model file's meta ("train_resolution")
        self.net = wrap(model, world)
        self.rollout = Rollout(self.net, reuse_encodings=False, convention=cfg.model.warp)
        self.dataset = WindowDataset(index, cfg.data.crop, cfg.data.mirror, cfg.train.seed)
        self.batches = batches_per_epoch(len(index.windows), cfg.train.batch_size, world.size)
        if self.batches < 1:
            raise LmvError(f"{len(index.windows)} training window(s) make no full batch of train.batch_size "
                           f"{cfg.train.batch_size} per process ({world.size} process(es)): use a smaller batch, "
                           "more data, or a smaller data.window_stride")
        self.total = self._total_steps()
        self.progress = Progress()
        self.order: torch.Tensor | None = None
        self.last_checkpoint = 0
        self.log = RunLog(run.log, run.writer) if world.main else None
        self.sums = RunningSums()
        self._stop: Callable[[], bool] = lambda: False

    def _total_steps(self) -> int:
        per_epoch = self.batches * self.cfg.data.sequence_length
        total = self.cfg.train.epochs * per_epoch
        return min(total, self.cfg.train.max_steps) if self.cfg.train.max_steps else total

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint payload (weights, optimizer and RNG states already restored)."""
        p = payload["progress"]
        self.progress = Progress(p["step"], p["epoch"], p["batch"], p.get("best_psnr"), p.get("best_step"),
                                 p.get("validated_step"))
        self.order = payload["order"]
        self.last_checkpoint = self.progress.step

    # ---- the loop ----------------------------------------------------------------------------------

    def fit(self) -> Progress:
        """Train until `total` steps; returns the final progress. Ctrl-C saves a checkpoint and re-raises.
        A run that is already at `total` (resumed without more epochs or steps) does nothing."""
        if self.progress.step >= self.total:
            self._emit(self._end(already_finished=True))
            return self.progress
        self._emit(StartEvent(step=self.progress.step, total_steps=self.total, batches_per_epoch=self.batches,
                              windows=len(self.index.windows), world_size=self.world.size, run=str(self.run.path),
                              time=time.time()))
        if self.progress.step == 0:
            self._checkpoint(reason="start")  # a usable checkpoint even if the first steps diverge
        with deferred_interrupt() as stop:
            self._stop = stop
            try:
                while self.progress.step < self.total:
                    if self._epoch():
                        break
            except KeyboardInterrupt:
                self._checkpoint(reason="interrupted")
                raise
        self._finish()
        return self.progress

    def _epoch(self) -> bool:
        """Train the rest of the current epoch; True when the planned steps are done inside it."""
        p = self.progress
        if self.order is None:
            self.order = epoch_order(len(self.index.windows), self.cfg.train.seed, p.epoch)
        batches = epoch_batches(self.order, p.epoch, self.cfg.train.batch_size, self.world.rank, self.world.size,
                                start=p.batch)
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate,
                                             num_workers=self.cfg.data.workers,
                                             pin_memory=self.world.device.type == "cuda")
        waited = time.perf_counter()
        for keys, batch in zip(batches, loader, strict=True):
            self.sums.wait += time.perf_counter() - waited
            self.sums.windows += [i for _, i in keys]
            p.batch += 1  # counted first: an interrupted sequence is not repeated
            self._sequence(load_batch(batch, self.world.device))
            if p.step >= self.total:
                return True
            if p.step - self.last_checkpoint >= self.cfg.train.checkpoint_every:
                self._checkpoint()
            waited = time.perf_counter()
        p.epoch, p.batch, self.order = p.epoch + 1, 0, None
        if p.epoch % self.cfg.train.val_every == 0:
            self._validate()
        return False

    def _sequence(self, batch: dict[str, torch.Tensor]) -> None:
        """One batch of windows: three rendered frames, then one optimizer step per frame."""
        history = self.rollout.history
        history.reset()
        for t in range(HISTORY_SLOTS):
            history.advance_rendered(frame_at(batch, t))
        rng = sequence_rng(self.cfg.train.seed, self.world.rank, self.progress.step)
        probs = sequence_probs(rng, self.cfg.data.history_probs, self.cfg.data.random_pattern_prob)
        for t in range(HISTORY_SLOTS, self.index.length):
            frame = frame_at(batch, t)
            pattern = draw_pattern(rng, probs, history.available)
            focus = None
            if self.cfg.loss.change:
                with torch.no_grad():
                    focus = unexplained(frame, frame_at(batch, t - 1), frame_at(batch, t - 2))
            outputs = self._step(frame, pattern, focus)
            history.advance_rendered(frame, prediction=outputs)
            if self.progress.step >= self.total:
                return

    def _step(self, frame: dict[str, torch.Tensor], pattern: tuple[bool, ...], focus: torch.Tensor | None = None):
        """One optimizer step on one frame of every window of the batch."""
        t = self.cfg.train
        lr = cosine_lr(self.progress.step, self.total, t.lr, t.lr_min)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        targets = assemble_targets(frame)
        with torch.autocast(self.world.device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16"):
            outputs = self.rollout.predict(frame, pattern)
            loss, terms = total_loss(outputs, targets, self.cfg.loss, focus)
        self._check_finite(loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        self.progress.step += 1
        self._account(loss, terms, outputs, targets, lr)
        if self._stop():
            raise KeyboardInterrupt
        return outputs

    def _check_finite(self, loss: torch.Tensor) -> None:
        finite = float(torch.isfinite(loss.detach()).item())
        if mean(finite, self.world) == 1.0:
            return
        where = self.run.checkpoint if self.run.checkpoint.is_file() else None
        last = f"the last good checkpoint is {where} (step {self.last_checkpoint})" if where else "no checkpoint yet"
        raise TrainingDiverged(f"training loss is {float(loss.detach())} at step {self.progress.step + 1} "
                               f"(epoch {self.progress.epoch}); stopped: {last}. Lower train.lr or check the "
                               "stores for extreme values")

    # ---- bookkeeping -------------------------------------------------------------------------------

    def _account(self, loss, terms, outputs, targets, lr: float) -> None:
        w = self.sums
        w.steps += 1
        w.loss += float(loss.detach())
        w.psnr += float(psnr(outputs.color.detach().float(), targets.scene_color).mean())
        for name, value in terms.items():
            w.terms[name] = w.terms.get(name, 0.0) + float(value.detach())
        if self.progress.step % self.cfg.train.log_every == 0 or self.progress.step == self.total:
            self._log_sums(lr)

    def _log_sums(self, lr: float) -> None:
        w, p = self.sums, self.progress
        seconds = time.perf_counter() - w.start
        samples = w.steps * self.cfg.train.batch_size * self.world.size
        event = StepEvent(
            step=p.step, epoch=p.epoch, total_steps=self.total,
            loss=mean(w.loss / w.steps, self.world), psnr=mean(w.psnr / w.steps, self.world),
            terms={k: v / w.steps for k, v in w.terms.items()}, lr=lr,
            samples_per_s=samples / seconds, data_wait=w.wait / seconds, world_size=self.world.size,
            windows_by_rank=gather(w.windows, self.world), time=time.time(),
        )
        self.sums = RunningSums()
        self._emit(event)

    def _validate(self) -> None:
        """Rank 0 scores the held-out scenes; `best.pt` when the model's PSNR improved; others wait."""
        p = self.progress
        p.validated_step = p.step
        if self.world.main and self.index.val_scenes:
            started = time.perf_counter()
            result = validate(self.model, self.index.val_scenes, self.world.device, self.cfg.data.val_frames,
                              preview=self._preview)
            score = selection_psnr(result)
            best = p.best_psnr is None or score > p.best_psnr
            if best:
                p.best_psnr, p.best_step = score, p.step
                self._save_model(BEST, {"val": result})
            self._emit(ValEvent(step=p.step, epoch=p.epoch, scores=result, selection_psnr=score, best=best,
                                seconds=time.perf_counter() - started, world_size=self.world.size, time=time.time()))
        p.best_psnr, p.best_step = _broadcast_pair(p.best_psnr, p.best_step, self.world)
        barrier(self.world)

    def _preview(self, tag: str, n: int, outputs, targets) -> None:
        if self.log is not None and MODEL in outputs:
            image = preview_image(outputs[MODEL].color, targets.scene_color, outputs["warp"].color)
            self.log.image(f"preview/{tag}_n{n}", image, self.progress.step)

    def _checkpoint(self, reason: str = "") -> None:
        """Rank 0 writes `checkpoint/checkpoint.pt` (+ a copy in `history_checkpoints/`) and `model/last.pt`."""
        p = self.progress
        self.last_checkpoint = p.step
        if self.world.main:
            order = self.order if self.order is not None else epoch_order(len(self.index.windows),
                                                                          self.cfg.train.seed, p.epoch)
            progress = {**p.__dict__, "world_size": self.world.size}
            ckpt.save_checkpoint(self.run.checkpoint, self.model, self.cfg.model, self.optimizer, progress,
                                 self.total, order)
            ckpt.keep_history(self.run.checkpoint, self.run.history, p.step, self.cfg.train.keep_checkpoints)
            self._save_model(LAST, {})
            self._emit(CheckpointEvent(step=p.step, epoch=p.epoch, batch=p.batch, path=str(self.run.checkpoint),
                                       reason=reason, world_size=self.world.size, time=time.time()))
        barrier(self.world)

    def _save_model(self, name: str, extra: dict) -> None:
        meta = {"step": self.progress.step, "epoch": self.progress.epoch, "run": str(self.run.path),
                "data": self.data_meta, **self.model_meta, **extra}
        save_model(self.run.model / name, self.model, self.cfg.model, meta)

    def _finish(self) -> None:
        if self.progress.validated_step != self.progress.step:
            self._validate()
        self._checkpoint(reason="end")
        self._emit(self._end())

    def _end(self, already_finished: bool = False) -> EndEvent:
        p = self.progress
        return EndEvent(step=p.step, epoch=p.epoch, best_psnr=p.best_psnr, best_step=p.best_step,
                        already_finished=already_finished, world_size=self.world.size, time=time.time())

    def _emit(self, event: TrainEvent) -> None:
        """Rank 0 logs `event` (its record) and hands it to `on_event`."""
        if not self.world.main:
            return
        if self.log is not None:
            self.log.write(event.record())
        if self.on_event is not None:
            self.on_event(event)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def _broadcast_pair(a, b, world: World):
    return broadcast((a, b), world)
