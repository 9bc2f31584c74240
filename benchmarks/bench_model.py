"""FSNet forward time and peak memory per predicted frame on this machine's CPU (docs/performance.md#the-network-alone).

    python -m benchmarks.bench_model [--size 1280x720] [--preset fsnet] [--runs 5]

Baseline (ratio 1.00): float32, NCHW, all three history frames encoded. Variants, measured in the
same run: channels_last, bf16 autocast + channels_last, each with the steady-state reuse of two cached
history encodings (what `FSNet.step` does frame after frame). Prints the median of `--runs` timed
forwards after one warm-up, and the process's peak RSS after each variant (ru_maxrss only grows, so
each row shows the peak so far). Inputs are random: speed does not depend on the values.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import time

import torch

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.streaming import StreamState


def random_inputs(h: int, w: int, generator: torch.Generator) -> NetInputs:
    def r(c: int, scale: float = 1.0) -> torch.Tensor:
        return torch.rand(1, c, h, w, generator=generator) * scale

    history = tuple(
        HistoryFrame(light=r(3), sky=r(3), st_color=r(3), st_alpha=r(1), color_no_st=r(3), brdf_color=r(3) + 0.01)
        for _ in range(HISTORY_SLOTS)
    )
    mvs = tuple((r(2) - 0.5) * 0.02 for _ in range(HISTORY_SLOTS))
    return NetInputs(gbuffer=r(6), brdf_color=r(3) + 0.01, sky_mask=(r(1) > 0.8).float(), merged_mv=mvs,
                     history=history)


def to_channels_last(x: NetInputs) -> NetInputs:
    def cl(t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last)

    history = tuple(HistoryFrame(*(cl(getattr(f, k)) for k in HistoryFrame.__dataclass_fields__)) for f in x.history)
    return NetInputs(cl(x.gbuffer), cl(x.brdf_color), cl(x.sky_mask), tuple(cl(m) for m in x.merged_mv), history)


def time_variant(net: FSNet, inputs: NetInputs, *, cached: bool, bf16: bool, runs: int) -> float:
    """Median seconds of one prediction; with `cached`, slots 1 and 2 reuse encodings of earlier steps."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        state = StreamState()
        if cached:
            _, warm = net.step(inputs, state)
            _, warm = net.step(inputs, warm)
            # keep the encodings of the two older slots, drop slot 0 (it is the newest rendered frame)
            state = StreamState(warm.streams, (None, *warm.encodings[1:]))
        net.step(inputs, state)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            net.step(inputs, state)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="fsnet")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    torch.manual_seed(0)
    net = FSNet.from_preset(args.preset).eval()
    inputs = random_inputs(h, w, torch.Generator().manual_seed(0))
    print(f"FSNet preset {args.preset}, {w}x{h}, batch 1, {torch.get_num_threads()} threads, median of {args.runs}")
    print(f"{'variant':<44} {'ms':>8} {'ratio':>7} {'peak RSS MiB':>13}")
    baseline = None
    variants = [
        ("fp32 NCHW, 3 encoders (baseline)", False, False, False),
        ("fp32 NCHW, 2 encodings cached", False, True, False),
        ("fp32 channels_last, 2 cached", True, True, False),
        ("bf16 autocast + channels_last, 2 cached", True, True, True),
    ]
    for name, channels_last, cached, bf16 in variants:
        model = net.to(memory_format=torch.channels_last) if channels_last else net
        x = to_channels_last(inputs) if channels_last else inputs
        seconds = time_variant(model, x, cached=cached, bf16=bf16, runs=args.runs)
        baseline = baseline or seconds
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:<44} {seconds * 1e3:8.0f} {baseline / seconds:6.2f}x {rss:13.0f}")


if __name__ == "__main__":
    main()
