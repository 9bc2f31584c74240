"""Milliseconds per predicted frame for every inference path, side by side in one run (docs/performance.md#inference-per-predicted-frame).

    python -m benchmarks.bench_infer [--sizes 1280x720,1920x1080] [--preset fsnet[,fsnet_lite]] [--reps 3]
                                     [--model bundled] [--store S.zarr] [--paths ...]

Per size, the median over `--reps` predicted frames of an R P R P… rollout (N = 1, `lmv extrapolate`'s
default) after one untimed prediction, for each path:
  eager fp32     baseline (ratio 1.00: the first row): the bare network, fp32 NCHW, all three history frames encoded
  torch fp32     `Rollout` with cached history encodings (two of three slots encoded per frame at N = 1)
  torch fp32 CL  the same, channels_last
  torch bf16 CL  bf16 autocast + channels_last (native only with AMX/AVX512-BF16; emulated elsewhere)
  onnxruntime    the exported step (`lmv export-onnx`), fp32, all three slots encoded
  openvino       the same graph compiled by OpenVINO for this CPU, fp32 (bf16 where native)
  default        `prepare(net)`: what `auto` picks on this machine
  warp           the rendered-MV warp baseline (no network)
plus FLOPs per frame (torch.utils.flop_counter; convolutions count 2 per MAC) and the achieved GFLOP/s
against this CPU's fp32 FMA peak = cores × GHz × FLOP/cycle (printed with its inputs). With `--store`,
the accuracy of every path: mean PSNR over the predicted frames of every scene (N = 1) and its
difference to fp32. Inputs for speed are random (speed does not depend on values); the network's
weights are its initialisation (speed does not depend on them either), or with `--model` (a model file,
run directory or `bundled`) that model's, timed beside the presets and used for accuracy and end to end.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch

from lmv_cli.core import baselines
from lmv_cli.core.infer.backends import GraphPredictor, TorchPredictor, exported_graph, prepare
from lmv_cli.core.infer.select import Choice, backend_available, cpu_flags, native_bf16
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.rollout import Rollout
from lmv_cli.core.store import layout

PATHS = ("eager fp32", "torch fp32", "torch fp32 CL", "torch bf16 CL", "onnxruntime", "openvino", "default", "warp")
FLOPS_PER_CYCLE = {"avx512f": 64, "avx2": 32}
"""fp32 FLOP per cycle per core with two FMA pipes: 2 pipes × lanes (16 for AVX512, 8 for AVX2) × 2."""


def random_frame(h: int, w: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """One frame of every store buffer, random but plausible (colours ≥ 0, MVs of a few pixels)."""
    frame = {b.name: torch.rand(1, b.channels, h, w, generator=g) for b in layout.BUFFERS}
    frame["motion_vector"] = (frame["motion_vector"] - 0.5) * 0.01
    frame["skybox_mask"] = (frame["skybox_mask"] > 0.8).float()
    frame["depth"] = frame["depth"] * 5000
    frame["brdf_color"] = frame["brdf_color"] + 0.01
    return frame


class Timed:
    """One path's rollout in R P R P… (three rendered frames first); `predict_once()` times the next
    predicted frame (prediction + history update) and renders the frame after it."""

    def __init__(self, model, frames: list[dict], eager: bool = False):
        self.rollout = Rollout(model, reuse_encodings=not eager)
        self.frames = frames
        self.i = 0
        with torch.inference_mode():
            for k in range(3):
                self.rollout.history.advance_rendered(frames[k % 2])

    def predict_once(self) -> float:
        frame, history = self.frames[self.i % 2], self.rollout.history
        with torch.inference_mode():
            start = time.perf_counter()
            history.advance_predicted(frame, self.rollout.predict(frame))
            seconds = time.perf_counter() - start
            history.advance_rendered(self.frames[(self.i + 1) % 2])
        self.i += 1
        return seconds


def time_warp(frames: list[dict], reps: int) -> list[float]:
    """Seconds of the rendered-MV warp baseline (frame t−1 reprojected to t), `reps` times."""
    times = []
    with torch.inference_mode():
        for i in range(reps):
            start = time.perf_counter()
            baselines.warp([frames[i % 2], frames[(i + 1) % 2]])
            times.append(time.perf_counter() - start)
    return times


def flops_per_frame(net: FSNet, frames: list[dict], cached: bool) -> float:
    """FLOPs of one prediction (cached: steady state at N = 1, two slots encoded)."""
    from torch.utils.flop_counter import FlopCounterMode

    rollout = Rollout(net, reuse_encodings=cached)
    with torch.inference_mode():
        for k in range(3):
            rollout.history.advance_rendered(frames[k % 2])
        out = rollout.predict(frames[1])
        rollout.history.advance_predicted(frames[1], out)
        rollout.history.advance_rendered(frames[0])
        with FlopCounterMode(display=False) as counter:
            rollout.predict(frames[1])
    return float(counter.get_total_flops())


def cpu_peak() -> tuple[float, str]:
    """fp32 FMA peak GFLOP/s of the cores torch uses, and how it was computed."""
    flags = cpu_flags()
    per_cycle = next((v for k, v in FLOPS_PER_CYCLE.items() if k in flags), 16)
    mhz = 0.0
    try:
        mhz = max(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
    except (OSError, ValueError):
        pass
    cores = torch.get_num_threads()
    peak = cores * mhz / 1000 * per_cycle
    return peak, f"{cores} cores × {mhz / 1000:.2f} GHz (cpuinfo) × {per_cycle} FLOP/cycle"


def predictors(net: FSNet, paths: list[str]) -> dict[str, Callable[[], object]]:
    """Factories for each path (built lazily: the ONNX ones export and compile on first use)."""
    cpu = torch.device("cpu")

    def torch_path(precision: str, cl: bool):
        return lambda: TorchPredictor(copy.deepcopy(net), Choice(cpu, precision, "torch", cl, "bench"))

    def graph_path(backend: str):
        precision = "bf16" if backend == "openvino" and native_bf16() else "fp32"
        return lambda: GraphPredictor(net, Choice(cpu, precision, backend, False, "bench"), exported_graph(net))

    table = {
        "eager fp32": lambda: net, "torch fp32": torch_path("fp32", False), "torch fp32 CL": torch_path("fp32", True),
        "torch bf16 CL": torch_path("bf16", True), "onnxruntime": graph_path("onnxruntime"),
        "openvino": graph_path("openvino"), "default": lambda: prepare(copy.deepcopy(net)),
    }
    return {p: table[p] for p in paths if p in table and _available(p)}


def _available(path: str) -> bool:
    return path not in ("onnxruntime", "openvino") or backend_available(path)


def bench_size(nets: dict[str, FSNet], size: tuple[int, int], paths: list[str], reps: int) -> None:
    """One table: every path of every network built and warmed up (one untimed prediction each), then
    `reps` rounds timing one prediction of every path in turn, so load changes hit all paths alike.
    With several presets (`--preset fsnet,fsnet_small`) rows are named "<preset> <path>"."""
    w, h = size
    g = torch.Generator().manual_seed(0)
    frames = [random_frame(h, w, g), random_frame(h, w, g)]
    peak, how = cpu_peak()
    print(f"\n{w}x{h}: fp32 peak {peak:.0f} GFLOP/s = {how}", flush=True)
    runners, models, flops = {}, {}, {}
    for preset, net in nets.items():
        cached, full = flops_per_frame(net, frames, True), flops_per_frame(net, frames, False)
        print(f"  {preset}: {cached / 1e9:.0f} GFLOP per frame with cached encodings, {full / 1e9:.0f} with all "
              "three encoded", flush=True)
        for path, make in predictors(net, paths).items():
            name = f"{preset} {path}" if len(nets) > 1 else path
            models[name] = make()
            flops[name] = cached if isinstance(models[name], TorchPredictor) else full
            runners[name] = Timed(models[name], frames, eager=path == "eager fp32")
            runners[name].predict_once()
    times: dict[str, list[float]] = {name: [] for name in runners}
    if "warp" in paths:
        time_warp(frames, 1)
        times["warp"], flops["warp"] = [], 0.0
    for _ in range(reps):
        for name, runner in runners.items():
            times[name].append(runner.predict_once())
        if "warp" in times:
            times["warp"] += time_warp(frames, 1)
    print(f"{'path':<28}{'median ms':>11}{'runs (ms)':>30}{'x first':>9}{'GFLOP/s':>9}{'% peak':>8}")
    base = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        _row(name, values, base, flops[name], peak)
    for name, model in models.items():
        if name.endswith("default"):
            print(f"  {name} = {model.choice.describe()}")


def _row(name: str, times: list[float], base: float, flops: float, peak: float) -> None:
    med = statistics.median(times)
    runs = " ".join(f"{t * 1000:.0f}" for t in times)
    ratio = base / med
    rate = flops / med / 1e9
    print(f"{name:<28}{med * 1000:>11.1f}{runs:>30}{ratio:>9.2f}{rate:>9.1f}{rate / peak * 100 if peak else 0:>7.1f}%",
          flush=True)


def accuracy(net: FSNet, store_path: str, paths: list[str], frames: int | None) -> None:
    """Mean PSNR over the predicted frames (N = 1) of every scene (its first `frames` frames, or all),
    per path, and the difference to torch fp32."""
    from lmv_cli.core.evaluate import evaluate_scene, summarize, OVERALL
    from lmv_cli.core.store.reader import open_store

    models = {name: make() for name, make in predictors(net, paths).items() if name != "eager fp32"}
    records = []
    for scene in open_store(store_path):
        records += evaluate_scene(scene, 1, models, end=min(scene.frames, frames or scene.frames))
    summary = summarize(records)[OVERALL].methods
    ref = summary["torch fp32"]["psnr"]
    print(f"\naccuracy on {store_path} (N = 1, {sum(r.predicted for r in records)} predicted frames): mean PSNR dB")
    for name, values in summary.items():
        print(f"{name:<16}{values['psnr']:>9.3f}   Δ vs torch fp32 {values['psnr'] - ref:+.4f}")


def end_to_end(net: FSNet, preset: str, store_path: str, args: list[str], model: str | None = None) -> None:
    """`lmv extrapolate STORE` in a child process (`model`, or this network saved to a temporary model
    file): wall time, frames/s including start-up, store reads and EXR/PNG writes, and the child's peak
    RSS: its VmHWM (/proc), polled until it exits. (`getrusage(RUSAGE_CHILDREN)` would report this
    benchmark's own size: a child forked from a large process starts with the parent's high-water mark.)"""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from lmv_cli.core.config import ModelConfig
    from lmv_cli.core.model.files import save_model
    from lmv_cli.core.store.reader import open_store

    frames = sum(scene.frames for scene in open_store(store_path))
    with tempfile.TemporaryDirectory() as tmp:
        model = model or save_model(Path(tmp) / "model.pt", net, ModelConfig(preset=preset, init="random"))
        command = [str(Path(sys.executable).parent / "lmv"), "extrapolate", store_path, "--model", str(model),
                   "--out", str(Path(tmp) / "out"), "--no-video", *args]
        start = time.perf_counter()
        with open(Path(tmp) / "stdout", "w+") as out, open(Path(tmp) / "stderr", "w+") as err:
            child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
            peak = 0
            while child.poll() is None:
                peak = max(peak, vm_hwm_kib(child.pid))
                time.sleep(0.2)
            wall = time.perf_counter() - start
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        print(f"\nlmv extrapolate failed ({child.returncode}): {stderr.strip()[-500:]}")
        return
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    print(f"\nlmv extrapolate {store_path} {' '.join(args)}: {frames} frames in {wall:.1f} s = "
          f"{frames / wall:.2f} frames/s end to end (start-up, reads, EXR/PNG writes, metrics); "
          f"peak RSS {peak / 1024 / 1024:.2f} GiB\n  {last}")


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size (KiB) of a running process, 0 where /proc is not available."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--preset", default="fsnet", help="Preset, or a comma list timed side by side.")
    parser.add_argument("--init", default="random", choices=("random", "warp"))
    parser.add_argument("--model", default=None, help="A model file, run directory or 'bundled', timed after the "
                        "presets and used for --store and --extrapolate.")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--store", default=None, help="Also measure accuracy on this store.")
    parser.add_argument("--frames", type=int, default=None, help="Accuracy: first FRAMES frames of each scene.")
    parser.add_argument("--extrapolate", default=None, help="Also time `lmv extrapolate` on this store.")
    parser.add_argument("--extrapolate-args", default="", help="Extra arguments for `lmv extrapolate`.")
    args = parser.parse_args()
    torch.manual_seed(0)
    nets = {preset: FSNet.from_preset(preset).eval() for preset in args.preset.split(",") if preset}
    if args.init == "warp":
        for net in nets.values():
            net.init_as_warp_()
    if args.model:
        from lmv_cli.core.model.files import load_model, resolve_model

        args.model = str(resolve_model(args.model))
        model, cfg, _ = load_model(args.model)
        nets[f"{cfg.preset} (model)"] = model  # timed after the presets: the first row stays the baseline
    # accuracy and end-to-end use the model, else the first preset
    preset, net = (cfg.preset, model) if args.model else next(iter(nets.items()))
    paths = args.paths.split(",")
    counts = ", ".join(f"{p} {sum(x.numel() for x in n.parameters()):,} params" for p, n in nets.items())
    print(f"{counts}; torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {native_bf16()}, "
          f"load average {os.getloadavg()[0]:.1f} (the CPU is shared: compare only within this run)")
    for size in args.sizes.split(","):
        if size:
            bench_size(nets, tuple(int(v) for v in size.split("x")), paths, args.reps)
    if args.store:
        accuracy(net, args.store, paths, args.frames)
    if args.extrapolate:
        end_to_end(net, preset, args.extrapolate, args.extrapolate_args.split(), args.model)


if __name__ == "__main__":
    main()
