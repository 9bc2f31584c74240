"""Peak memory of full-HD inference: keep glibc from hoarding freed frame-sized blocks.

glibc's malloc serves blocks above `M_MMAP_THRESHOLD` with their own mmap and returns them to the OS on
free, but raises that threshold (up to 32 MiB) every time such a block is freed. After the first frame
every 1920x1080 tensor (8–25 MB) then comes from the heap, whose freed holes fragment and are never
given back: `lmv extrapolate` at 1080p grew to 3.6 GiB peak RSS. Pinning the threshold keeps large
tensors mmap'd: 2.3 GiB peak at 1 MiB, 2.4 GiB at 4 MiB (kept: smaller blocks stay on the heap) on the
same 13-frame synth scene (VmHWM; benchmarks/bench_e2e.py measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
"""mallopt parameter number (glibc malloc.h)."""
MMAP_THRESHOLD_BYTES = 4 << 20
"""Blocks of at least 4 MiB (a 1920x1080 float32 plane is 7.9 MiB) are mmap'd and unmapped on free;
setting it also stops glibc from raising it."""


def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold for this process (see the module docstring); True when it was set,
    False where there is no glibc (macOS, Windows, musl), where nothing needs to change."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
