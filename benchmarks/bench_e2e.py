"""Seconds per predicted frame of the whole commands against the network alone, in one run (docs/performance.md).

    python -m benchmarks.bench_e2e [--sizes 320x180,1280x720,1920x1080] [--frames 5,13] [--reps 1]
                                   [--model bundled] [--workdir DIR]

Per size, a synth scene (`lmv synth --scene orbit --seed 7`, the largest frame count) is packed twice:
all frames, and its first frames only (the smaller count). Then, for N = 1 (the default pattern):
  network       the model alone as `lmv test` / `lmv extrapolate` load it (same backend and precision),
                in this process: median seconds of one prediction + history update over the predicted
                frames of the scene (the first one untimed), frames already in memory
  lmv test      `lmv test MODEL --data S --no-flip --json` in a child process
  extrapolate   `lmv extrapolate S --model MODEL --out DIR`, default outputs (EXR, PNG, contact sheet,
                video, metrics), in a child process; its peak RSS from /proc VmHWM, polled
For the two commands, per predicted frame = (wall(large) − wall(small)) / (predicted(large) −
predicted(small)): start-up, imports and model loading cancel out. `frames/s` is every frame walked
(rendered and predicted) over the same difference, as a player would count them. Each wall time is the
median of `--reps` runs. The CPU is shared: the load average is printed before and after, compare only
ratios within one run. Stores are kept in --workdir (default: a temporary folder) and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_infer import vm_hwm_kib

SCENE = "orbit"
SEED = 7


def make_stores(root: Path, size: tuple[int, int], counts: list[int]) -> dict[int, Path]:
    """Frame count → packed store of the synth scene at `size` (made once, kept in `root`)."""
    from lmv_cli.core.store import pack
    from lmv_cli.core.synth import write_capture

    w, h = size
    folder = root / f"{w}x{h}"
    export = folder / "export"
    if not (export / SCENE / "camera.json").is_file():
        write_capture(export, [SCENE], frames=max(counts), size=size, seed=SEED, workers=0)
    stores = {}
    for count in counts:
        store = folder / f"f{count}.zarr"
        if not (store / "zarr.json").is_file():
            pack(_first_frames(export, folder / f"export{count}", count), store, workers=1)
        stores[count] = store
    return stores


def _first_frames(export: Path, out: Path, count: int) -> Path:
    """A copy of `export` holding frames 0 … count−1 only (hard links, no data copied)."""
    shutil.rmtree(out, ignore_errors=True)
    for buffer in (export / SCENE).iterdir():
        if buffer.is_dir():
            (out / SCENE / buffer.name).mkdir(parents=True)
            for k in range(count):
                os.link(buffer / f"frame_{k}.EXR", out / SCENE / buffer.name / f"frame_{k}.EXR")
        else:
            shutil.copy(buffer, out / SCENE / buffer.name)
    return out


def predicted_frames(count: int) -> int:
    from lmv_cli.core.rollout import rp_schedule

    return sum(rp_schedule(count, 1))


def network_seconds(store: Path, model: str) -> float:
    """Median seconds of one prediction + history update (N = 1), the model loaded as the commands do."""
    import torch

    from lmv_cli.core.evaluate import read_frame
    from lmv_cli.core.devices import pick_device
    from lmv_cli.core.infer.models import load_models
    from lmv_cli.core.rollout import Rollout, rp_schedule
    from lmv_cli.core.store import open_store

    opened = open_store(store)
    scene = opened.scene(SCENE)
    (loaded,) = load_models([model], opened, pick_device(None), "auto", "auto")
    frames = [read_frame(scene, t) for t in range(scene.frames)]
    rollout, times = Rollout(loaded.model), []
    with torch.no_grad():
        for frame, predicted in zip(frames, rp_schedule(len(frames), 1)):
            if not predicted:
                rollout.history.advance_rendered(frame)
                continue
            start = time.perf_counter()
            rollout.history.advance_predicted(frame, rollout.predict(frame))
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:] or times)


def timed_child(command: list[str]) -> tuple[float, int]:
    """Wall seconds of a child process and its peak RSS (KiB, VmHWM polled every 0.1 s); raises on failure."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = 0
        while child.poll() is None:
            peak = max(peak, vm_hwm_kib(child.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - start
        if child.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}): {err.read().strip()[-500:]}")
    return wall, peak


def command_seconds(kind: str, store: Path, model: str, scratch: Path, reps: int) -> tuple[float, int]:
    """Median wall seconds of `reps` runs of `lmv test` or `lmv extrapolate` on `store`, and the peak RSS."""
    lmv = str(Path(sys.executable).parent / "lmv")
    walls, peak = [], 0
    for _ in range(reps):
        out = scratch / "out"
        shutil.rmtree(out, ignore_errors=True)
        if kind == "test":
            command = [lmv, "test", model, "--data", str(store), "--no-flip", "--json"]
        else:
            command = [lmv, "extrapolate", str(store), "--model", model, "--out", str(out)]
        wall, hwm = timed_child(command)
        walls.append(wall)
        peak = max(peak, hwm)
    return statistics.median(walls), peak


def bench_size(root: Path, size: tuple[int, int], counts: list[int], model: str, reps: int) -> dict:
    """One row: network, test and extrapolate seconds per predicted frame, frames/s and peak RSS."""
    small, large = counts
    stores = make_stores(root, size, counts)
    extra_predicted = predicted_frames(large) - predicted_frames(small)
    row = {"size": f"{size[0]}x{size[1]}", "network": network_seconds(stores[large], model)}
    for kind in ("test", "extrapolate"):
        with tempfile.TemporaryDirectory() as scratch:
            (t_small, rss_small), (t_large, rss_large) = (command_seconds(kind, stores[c], model, Path(scratch), reps)
                                                          for c in counts)
        row[kind] = (t_large - t_small) / extra_predicted
        row[f"{kind} fixed"] = t_small - predicted_frames(small) * row[kind]
        row[f"{kind} frames/s"] = (large - small) / max(t_large - t_small, 1e-9)
        row[f"{kind} rss"] = max(rss_small, rss_large) / 1024 / 1024
    return row


def print_table(rows: list[dict]) -> None:
    print(f"\n{'size':<11}{'network s':>10}{'test s':>9}{'x net':>7}{'extrap. s':>11}{'x net':>7}"
          f"{'extrap. frames/s':>18}{'peak RSS GiB':>14}{'fixed s (test, extrap.)':>26}")
    for r in rows:
        print(f"{r['size']:<11}{r['network']:>10.3f}{r['test']:>9.3f}{r['test'] / r['network']:>7.2f}"
              f"{r['extrapolate']:>11.3f}{r['extrapolate'] / r['network']:>7.2f}{r['extrapolate frames/s']:>18.2f}"
              f"{r['extrapolate rss']:>14.2f}{r['test fixed']:>13.1f}{r['extrapolate fixed']:>13.1f}", flush=True)
    print("s = seconds per predicted frame (N = 1; median of the network's frames, difference of two frame counts "
          "for the commands); x net = ratio to the network alone; frames/s = every frame walked (R and P)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="320x180,1280x720,1920x1080")
    parser.add_argument("--frames", default="5,13", help="The two frame counts (small,large).")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--workdir", default=None, help="Keep (and reuse) the synth exports and stores here.")
    args = parser.parse_args()
    counts = sorted(int(v) for v in args.frames.split(","))
    if len(counts) != 2 or predicted_frames(counts[1]) <= predicted_frames(counts[0]):
        parser.error("--frames: two counts whose N = 1 patterns predict different numbers of frames, e.g. 5,13")
    import torch

    print(f"model {args.model}; torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} (the CPU is shared: compare only within this run)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        rows = []
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            rows.append(bench_size(root, (w, h), counts, args.model, args.reps))
            print_table(rows[-1:])
        print_table(rows)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
