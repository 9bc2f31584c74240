"""Peak memory of full-HD inference: keep glibc from hoarding freed frame-sized blocks.

glibc's malloc serves blocks above `M_MMAP_THRESHOLD` with their own mmap and returns them to the OS on
free, but raises that threshold (up to 32 MiB) every time such a block is freed. After the first frame
every 1920x1080 tensor (8–25 MB) then comes from the heap, whose freed holes fragment and are never
given back: `lmv extrapolate` at 1080p grew to 3.7 GiB peak RSS. Pinning the threshold keeps the largest
tensors mmap'd. Measured on the same 13-frame 1920x1080 synth scene (VmHWM, wall time of the whole
command, one run each on an otherwise idle 2-core machine): not pinned 3.7 GiB / 24 s, 16 MiB 2.5 GiB
/ 31 s (kept), 4 MiB 2.3 GiB / 41 s: every mmap'd block is page-faulted afresh, so a lower threshold
trades time for memory. benchmarks/bench_e2e.py measures both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
"""mallopt parameter number (glibc malloc.h)."""
MMAP_THRESHOLD_BYTES = 16 << 20
"""Blocks of at least 16 MiB (a 1920x1080 RGB float32 image is 24 MiB, one plane 7.9 MiB) are mmap'd and
unmapped on free; setting it also stops glibc from raising it."""


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
