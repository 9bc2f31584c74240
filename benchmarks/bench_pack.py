"""Pack speed and memory at 1280x720 against bare EXR decoding of the same files (docs/performance.md#capture-check-and-pack).

    python -m benchmarks.bench_pack [--source ../shared/data/blender] [--work /tmp/lmv-bench-pack]
                                    [--frames 50 200] [--workers 2]

The export is made once under --work: Blender-rendered 320x180 frames (docs/capture.md#data-for-development) upsampled bilinearly
to 1280x720 (where ../shared/data/blender is missing, as in a user's clone, `lmv synth` renders the
`orbit` scene at that size instead, a few minutes once) and written like the source (colour and material files half, VelocityDepth and SkyDepth
float32, RGBA, ZIP). Longer exports reuse the first files through symlinks (same bytes, same decode
cost, no extra disk). Every figure is measured in this run:

- decode, 1 process and --workers processes: every frame's ten files decoded with `exr.read_channels`
  (the channels pack reads), one task per frame, nothing converted or written;
- pack: `lmv pack --workers N` as a subprocess; frames/s from pack's own timer (capture-check, store
  creation and worker start included, interpreter start excluded), and peak RSS sampled from /proc
  for the pack process and, separately, the largest worker (Linux only).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lmv_cli.core import brdf_lut, derived, exr

SCENES = ("courtyard", "corridor", "crossing", "glasshouse")
FLOAT32_FOLDERS = ("VelocityDepth", "SkyDepth")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    base = make_export(args.source, args.work / "export", args.frames[0], args.size)
    rows = []
    for n in args.frames:
        export = base if n == args.frames[0] else link_export(base, args.work / f"export_{n}", n)
        decode_1 = decode_fps(export, n, 1)
        decode_n = decode_fps(export, n, args.workers)
        pack_fps, parent_mb, worker_mb = pack_run(export, args.work / f"store_{n}.zarr", args.workers)
        rows.append((n, decode_1, decode_n, pack_fps, pack_fps / decode_n, parent_mb, worker_mb))
    stages = stage_times(base, args.work / f"store_{args.frames[0]}.zarr", args.size)
    w, h = args.size
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\npack benchmark, {w}x{h}, {args.workers} workers, {os.cpu_count()} cores, load average {load}")
    print(f"{'frames':>6} {'decode 1p f/s':>13} {f'decode {args.workers}p f/s':>13} {'pack f/s':>9} "
          f"{'pack/decode 1p':>14} {f'pack/decode {args.workers}p':>14} {'peak RSS parent MB':>18} "
          f"{'peak RSS worker MB':>18}")
    for n, d1, dn, p, ratio, pm, wm in rows:
        print(f"{n:>6} {d1:>13.2f} {dn:>13.2f} {p:>9.2f} {p / d1:>14.2f} {ratio:>14.2f} {pm:>18.0f} {wm:>18.0f}")
    print("CPU ms per frame, one process (median of 5): " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    return 0


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/blender")
    p.add_argument("--work", type=Path, default=Path("/tmp/lmv-bench-pack"))
    p.add_argument("--frames", type=int, nargs="+", default=[50, 200])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(1280, 720))
    return p.parse_args(argv)


def make_export(source: Path, out: Path, frames: int, size: tuple[int, int]) -> Path:
    """Write (once) a `frames`-frame export of `size` upsampled from the source scenes' frames."""
    done = out / f".complete_{frames}_{size[0]}x{size[1]}"
    if done.exists():
        return out
    if not source.is_dir():
        from lmv_cli.core.synth import write_capture

        print(f"{source} not found: rendering the synth scene 'orbit' instead", file=sys.stderr)
        (scene,) = write_capture(out.parent / "synth", ["orbit"], frames=frames, size=size)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.is_symlink() or out.exists():
            out.unlink()
        out.symlink_to(scene, target_is_directory=True)
        done = scene / done.name
        done.touch()
        return out
    pairs = [(scene, k) for scene in SCENES for k in range(32)][:frames]
    for t, (scene, k) in enumerate(pairs):
        for folder in derived.SOURCE_CHANNELS:
            src = source / scene / folder / f"frame_{k}.EXR"
            planes = exr.read_channels(src, "RGBA")
            dtype = np.float32 if folder in FLOAT32_FOLDERS else np.float16
            image = np.stack([_upsample(p.astype(np.float32), size) for p in planes.values()]).astype(dtype)
            (out / folder).mkdir(parents=True, exist_ok=True)
            exr.write_rgba(out / folder / f"frame_{t}.EXR", image)
        print(f"\rwriting export: {t + 1}/{frames}", end="", file=sys.stderr)
    print(file=sys.stderr)
    done.touch()
    return out


def _upsample(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h, w) plane to (H, W) = size[::-1] (pixel-centre aligned)."""
    h, w = plane.shape
    width, height = size
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.minimum(ys.astype(int), h - 2), np.minimum(xs.astype(int), w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    rows = plane[y0] * (1 - fy) + plane[y0 + 1] * fy
    return rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx


def link_export(base: Path, out: Path, frames: int) -> Path:
    """An export of `frames` frames whose frame t is a symlink to the base export's frame t mod n."""
    n = len(list((base / "SceneColor").glob("frame_*.EXR")))
    for folder in derived.SOURCE_CHANNELS:
        (out / folder).mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            link = out / folder / f"frame_{t}.EXR"
            if not link.is_symlink():
                link.symlink_to(base / folder / f"frame_{t % n}.EXR")
    return out


def _decode_frame(files: list[tuple[Path, tuple[str, ...]]]) -> int:
    return sum(sum(p.size for p in exr.read_channels(path, names).values()) for path, names in files)


def decode_fps(export: Path, frames: int, processes: int) -> float:
    """Frames/s of decoding every frame's files (pool start included, as in pack)."""
    tasks = [[(export / f / f"frame_{t}.EXR", c) for f, c in derived.SOURCE_CHANNELS.items()] for t in range(frames)]
    start = time.perf_counter()
    if processes == 1:
        for task in tasks:
            _decode_frame(task)
    else:
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            list(pool.map(_decode_frame, tasks))
    return frames / (time.perf_counter() - start)


def stage_times(export: Path, store: Path, size: tuple[int, int], frames: int = 5) -> dict[str, float]:
    """Median CPU time of each packing stage of one frame, in this process: bare decode, decode into
    the raw stacks (+NaN/Inf check), conversions, store dtypes + statistics, and chunk writes
    (rewriting the first frames of `store`, packed from `export` before, with the same values)."""
    from lmv_cli.core.store import frame, layout

    width, height = size
    dtypes = {b.name: np.dtype(b.dtype) for b in layout.BUFFERS}
    lut = brdf_lut.load_lut()
    times: dict[str, list[float]] = {}
    for t in range(frames):
        files = {f: export / f / f"frame_{t}.EXR" for f in derived.SOURCE_CHANNELS}
        clock = [time.process_time()]
        _decode_frame([(path, derived.SOURCE_CHANNELS[f]) for f, path in files.items()])
        clock.append(time.process_time())
        raw, _ = frame.read_raw_frame(files, t, height, width)
        clock.append(time.process_time())
        values = derived.convert_frame(raw, lut)
        clock.append(time.process_time())
        stored = derived.storage_frame(raw, values, dtypes)
        [frame.buffer_stats(values[n], stored[n].dtype) for n in dtypes]
        clock.append(time.process_time())
        frame.write_frame(frame.FrameTask(store, export.name, t, files, height, width), stored)
        clock.append(time.process_time())
        for name, a, b in zip(("bare decode", "read", "convert", "cast+stats", "write"), clock, clock[1:]):
            times.setdefault(name, []).append(1000 * (b - a))
    return {name: float(np.median(v)) for name, v in times.items()}


def pack_run(export: Path, store: Path, workers: int) -> tuple[float, float, float]:
    """Run `lmv pack` into a fresh path in a subprocess (a store left by an earlier run is removed first,
    outside the timing); return (frames/s, parent peak MB, worker peak MB)."""
    shutil.rmtree(store, ignore_errors=True)
    cmd = [sys.executable, "-m", "lmv_cli", "pack", str(export), str(store), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    sampler = threading.Thread(target=_sample_tree, args=(proc, peaks), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"lmv pack failed ({proc.returncode}): {err.strip()}")
    fps = float(re.search(r"([\d.]+) frames/s", out).group(1))
    parent = peaks.pop(proc.pid, 0) / 1024
    return fps, parent, max(peaks.values(), default=0) / 1024


def _sample_tree(proc: subprocess.Popen, peaks: dict[int, int]) -> None:
    """Every 20 ms, record the peak resident size (VmHWM, kB) of `proc` and all its descendants."""
    while proc.poll() is None:
        for pid in _descendants(proc.pid):
            hwm = _status_kb(pid, "VmHWM")
            if hwm:
                peaks[pid] = max(peaks.get(pid, 0), hwm)
        time.sleep(0.02)


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
