"""Seconds per predicted frame of `lmv test`'s core (`evaluate_scene`) against the network alone (docs/performance.md).

    python -m benchmarks.bench_eval [--sizes 320x180,1280x720] [--frames 12] [--model bundled] [--keep DIR]
                                    [--threads N]

Per size, a synth `orbit` scene (seed 0) is written and packed once (into --keep DIR, or a temporary
folder), then, on the same frames (N = 1: R R R P R P …), medians per predicted frame of:
  network         `Rollout.predict` of the model alone (what `lmv test` cannot avoid)
  lmv test        `evaluate_scene` with the model, `warp` and `repeat`: from the previous frame's end to
                  the predicted frame's end (store read, every prediction, all metrics of all methods)
  lmv test -R     the same with `regions=True` (`lmv test --regions`)
  run / P         the whole `evaluate_scene` wall time divided by the predicted frames (rendered frames'
                  reads and history encodings included)
and, on the same predicted frames, the metrics alone of all three methods: `score_methods` (one
vectorised pass, separable-Gaussian SSIM) with and without region masks, against the previous path
(`pytorch_msssim.ssim` and PSNR per method and layer, ACES per call) — the baseline measured in this run.
Ratios are against the network (first block) and against the previous metrics (second block).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lmv_cli.core.color import aces
from lmv_cli.core.evaluate import evaluate_scene, read_frame
from lmv_cli.core.inputs import Targets
from lmv_cli.core.metrics import LAYERS, score_methods
from lmv_cli.core.model.files import load_model, resolve_model
from lmv_cli.core.regions import noise_threshold, region_labels, region_masks
from lmv_cli.core.rollout import Rollout, rp_schedule
from lmv_cli.core.store import open_store, pack
from lmv_cli.core.synth import write_capture


def make_store(root: Path, size: tuple[int, int], frames: int) -> Path:
    """`lmv synth --scene orbit` at `size` (W, H), packed; reused when already there."""
    out = root / f"orbit_{size[0]}x{size[1]}_{frames}.zarr"
    if not out.exists():
        export = root / f"orbit_{size[0]}x{size[1]}_{frames}"
        write_capture(export, ["orbit"], frames=frames, size=size, seed=0, workers=1)
        pack(export, out, workers=1)
    return out


def time_network(scene, model, n: int = 1) -> list[float]:
    """Seconds of each `Rollout.predict` (the network alone) over the scene in the R/P pattern."""
    rollout, times = Rollout(model), []
    with torch.no_grad():
        for t, predicted in enumerate(rp_schedule(scene.frames, n)):
            frame = read_frame(scene, t)
            if not predicted:
                rollout.history.advance_rendered(frame)
                continue
            start = time.perf_counter()
            out = rollout.predict(frame)
            times.append(time.perf_counter() - start)
            rollout.history.advance_predicted(frame, out)
    return times


def time_evaluate(scene, model, regions: bool) -> tuple[list[float], float]:
    """Per predicted frame: seconds from the previous frame's `on_frame` to its own (read, predictions,
    metrics); and the whole run's seconds per predicted frame."""
    stamps: list[tuple[bool, float]] = []
    start = time.perf_counter()
    records = evaluate_scene(scene, 1, {"model": model}, regions=regions,
                             on_frame=lambda r, o, t: stamps.append((r.predicted, time.perf_counter())))
    total = time.perf_counter() - start
    per_frame = [stamps[i][1] - stamps[i - 1][1] for i in range(1, len(stamps)) if stamps[i][0]]
    return per_frame, total / sum(r.predicted for r in records)


def legacy_metrics(outputs, targets: Targets) -> None:
    """The previous scoring: per method and layer, PSNR and `pytorch_msssim.ssim`, ACES inside each call."""
    from pytorch_msssim import ssim

    for out in outputs.values():
        for field, target_field in LAYERS.values():
            pred, target = getattr(out, field), getattr(targets, target_field)
            float(10 * torch.log10(1 / ((aces(pred) - aces(target)) ** 2).mean()))
            float(ssim(aces(pred), aces(target), data_range=1.0, size_average=False)[0])


def time_metrics(scene, model) -> dict[str, list[float]]:
    """Seconds of the metrics alone on each predicted frame: previous path, vectorised, vectorised with
    regions (labels from the buffers + masks + per-region sums)."""
    times: dict[str, list[float]] = {"previous": [], "vectorised": [], "vectorised + regions": []}
    recent: list = []
    cache: dict = {}

    def on_frame(record, outputs, targets):
        frame = read_frame(scene, record.frame)
        recent.insert(0, frame)
        del recent[4:]
        if not record.predicted:
            return
        if "threshold" not in cache:
            cache["threshold"] = noise_threshold(recent[1], recent[2])
        methods = list(outputs.values())
        for name, fn in (("previous", lambda: legacy_metrics(outputs, targets)),
                         ("vectorised", lambda: score_methods(methods, targets).values["psnr"].tolist()),
                         ("vectorised + regions", lambda: score_methods(methods, targets, region_masks(
                             region_labels(recent, record.source, targets.scene_color, cache["threshold"])[0]
                         )).region_sq_error.tolist())):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    evaluate_scene(scene, 1, {"model": model}, on_frame=on_frame)
    return times


def bench_size(root: Path, size: tuple[int, int], frames: int, model) -> None:
    scene = next(iter(open_store(make_store(root, size, frames))))
    net = time_network(scene, model)
    plain, plain_run = time_evaluate(scene, model, regions=False)
    with_regions, regions_run = time_evaluate(scene, model, regions=True)
    metrics = time_metrics(scene, model)
    base = statistics.median(net)
    print(f"\n{size[0]}x{size[1]}, synth orbit, {len(net)} predicted frames (N = 1), model + warp + repeat; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<22}{'s / P (median)':>16}{'× network':>11}{'run / P':>10}{'× network':>11}")
    print(f"{'network':<22}{base:>16.3f}{1.0:>11.2f}")
    for name, times, run in (("lmv test", plain, plain_run), ("lmv test --regions", with_regions, regions_run)):
        median = statistics.median(times)
        print(f"{name:<22}{median:>16.3f}{median / base:>11.2f}{run:>10.3f}{run / base:>11.2f}")
    previous = statistics.median(metrics["previous"])
    print(f"{'metrics alone':<22}{'s / P (median)':>16}{'× previous':>11}{'× network':>11}")
    for name, times in metrics.items():
        median = statistics.median(times)
        print(f"{name:<22}{median:>16.3f}{median / previous:>11.3f}{median / base:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="320x180,1280x720")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--keep", default=None, help="Folder for the synth stores (kept and reused).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is "
                        "steadier on a CPU shared with other jobs.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg, _ = load_model(resolve_model(args.model))
    model.eval()
    print(f"model {args.model} ({cfg.preset}); torch {torch.__version__}, {torch.get_num_threads()} threads "
          "(the CPU may be shared: compare only within this run)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for size in filter(None, args.sizes.split(",")):
            bench_size(root, tuple(int(v) for v in size.split("x")), args.frames, model)


if __name__ == "__main__":
    main()
