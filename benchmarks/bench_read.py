"""What checksums cost when reading a 1280x720 frame from a store (issue 9, acceptance 3).

    python -m benchmarks.bench_read [--source ../shared/data/blender] [--work /tmp/lmv-bench-read]
                                    [--frames 8] [--repeats 15]

The export is made once under --work exactly as `bench_pack` makes it (Blender frames upsampled to
720p, or `lmv synth` where ../shared is missing) and packed once. Then, in this run, every frame's 15
buffers (one whole 720p frame, as the data loader reads it) are read from the page cache, `--repeats`
rounds over all frames, the variants interleaved within each round so that machine load hits them
alike:

- verified: `chunks.read_chunk` of each buffer (read file, crc32c, Blosc decompress) — the reader's path;
- unverified: the same with the checksum skipped (`verify=False`) — the baseline;
- reader: `Scene.frame(t)`, the public API (verified; adds metadata checks once per scene);
- zarr: zarr's own `array[t]` of each buffer (its crc32c codec included), for reference;
- crc32c: the checksums alone, over the frame's chunk bytes already in memory.

Figures: median ms per frame of each, and the checksum cost two ways: crc32c / verified (direct; what
the acceptance judges, as it is stable under load), and (verified − unverified) / verified (the
difference of two medians; on a loaded machine it is within noise and can come out negative).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_pack import make_export
from lmv_cli.core.store import layout, open_store
from lmv_cli.core.store.chunks import checksum_pair, read_chunk


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    export = make_export(args.source, args.work / "export", args.frames, (1280, 720))
    store = args.work / "store.zarr"
    if not (store / "zarr.json").exists():
        subprocess.run([sys.executable, "-m", "lmv_cli", "pack", str(export), str(store), "--overwrite"], check=True)
    scene = open_store(store)[open_store(store).scenes[0]]
    times = measure(scene, args.repeats)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    cost = med["crc32c"] / med["verified"]
    difference = (med["verified"] - med["unverified"]) / med["verified"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nread benchmark, one 1280x720 frame (15 buffers), {scene.frames} frames x {args.repeats} rounds, "
          f"{os.cpu_count()} cores, load average {load}")
    for name, ms in med.items():
        print(f"{name:>10}: {ms:7.2f} ms/frame (median), {ms / med['unverified']:.3f}x unverified")
    print(f"checksum cost: {100 * cost:.1f} % of the verified read time (crc32c / verified; acceptance: < 5 %); "
          f"difference of medians: {100 * difference:.1f} %")
    return 0 if cost < 0.05 else 1


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data/blender"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/lmv-bench-read"))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    return parser.parse_args(argv)


def measure(scene, repeats: int) -> dict[str, list[float]]:
    """Seconds per frame of each variant (see the module docstring), interleaved."""
    import zarr

    group = zarr.open_group(str(scene.store), mode="r")[scene.name]
    arrays = {spec.name: group[spec.name] for spec in layout.BUFFERS}
    chunks = [[(scene.path / layout.chunk_key(spec.name, t), (spec.channels, scene.height, scene.width), spec.dtype)
               for spec in layout.BUFFERS] for t in range(scene.frames)]
    loaded = [[p.read_bytes() for p, _, _ in frame] for frame in chunks]
    variants = {
        "verified": lambda t: [read_chunk(p, s, d) for p, s, d in chunks[t]],
        "unverified": lambda t: [read_chunk(p, s, d, verify=False) for p, s, d in chunks[t]],
        "reader": lambda t: scene.frame(t),
        "zarr": lambda t: [a[t] for a in arrays.values()],
        "crc32c": lambda t: [checksum_pair(data) for data in loaded[t]],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for t in range(scene.frames):  # warm the page cache and every code path once
        for read in variants.values():
            read(t)
    for r in range(repeats):
        for t in range(scene.frames):
            order = list(variants.items())
            for name, read in order[r % 2 :] + order[: r % 2]:  # alternate who goes first
                start = time.perf_counter()
                read(t)
                times[name].append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    raise SystemExit(main())
