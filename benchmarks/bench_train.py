"""Training throughput on this machine: samples/s and the share of step time waiting for data (docs/performance.md#training-throughput).

    python -m benchmarks.bench_train [--store S.zarr ...] [--crop 128] [--batch 2] [--steps 40]
                                     [--workers 1] [--threads 1] [--preset fsnet] [--seq 8]

Runs the real `lmv train` loop (`core.train.run.train`, no validation) into a temporary run directory
with one log line per optimizer step, then reports over the steps after `--warmup`: the median
samples/s (predicted frames of the batch per second), the median and the overall share of step time the
loop waited for the data loader (goal < 5 %), and the median seconds per step. Without --store it packs
two small `lmv synth` scenes (160x96, 24 frames) into the temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from lmv_cli.core.config import load_config


def synth_store(root: Path) -> Path:
    from lmv_cli.core.store import pack
    from lmv_cli.core.synth import write_capture

    write_capture(root / "export", ["orbit", "occlusion"], frames=24, size=(160, 96), seed=0, workers=1)
    return pack(root / "export", root / "synth.zarr", workers=1).store


def run(args: argparse.Namespace, root: Path) -> list[dict]:
    from lmv_cli.core.train.run import train

    stores = args.store or [str(synth_store(root))]
    overrides = [
        f"data.stores=[{','.join(stores)}]", "data.val_scenes=[]", f"data.crop=[{args.crop},{args.crop}]",
        f"data.sequence_length={args.seq}", f"data.workers={args.workers}", f"train.batch_size={args.batch}",
        f"train.max_steps={args.steps}", "train.epochs=1000", "train.log_every=1", f"train.threads={args.threads}",
        f"train.checkpoint_every={10 * args.steps}", f"model.preset={args.preset}", f"train.out_dir={root / 'runs'}",
        "train.job_name=bench", "train.device=cpu",
    ]
    result = train(load_config(None, overrides))
    lines = (result.run / "log" / "train.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="append", help="Store(s) to train on (default: a packed synth store).")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=8, help="Predicted frames per sequence.")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=4, help="Steps left out of the statistics.")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="fsnet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        steps = run(args, Path(tmp))[args.warmup :]
    seconds = [args.batch / r["samples_per_s"] for r in steps]
    waits = [r["data_wait"] for r in steps]
    overall = sum(w * s for w, s in zip(waits, seconds)) / sum(seconds)
    print(f"preset {args.preset}, crop {args.crop}x{args.crop}, batch {args.batch}, workers {args.workers}, "
          f"threads {args.threads}: {len(steps)} steps measured")
    print(f"samples/s   median {statistics.median(r['samples_per_s'] for r in steps):.2f}")
    print(f"s/step      median {statistics.median(seconds):.3f}")
    print(f"data wait   median {100 * statistics.median(waits):.2f} %, overall {100 * overall:.2f} % (goal < 5 %)")


if __name__ == "__main__":
    main()
