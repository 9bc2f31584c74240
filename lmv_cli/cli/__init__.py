"""The command-line layer: one small file per command; typer and rich live only here.

Before anything imports torch: frame-sized CPU tensors (8–25 MB at 1920x1080) are given transparent
huge pages (PyTorch's `THP_MEM_ALLOC_ENABLE`, read once at its first allocation), so each fresh one
costs a dozen page faults instead of thousands — at 1080p `lmv extrapolate` spent a third of its CPU
time in the kernel faulting pages in (docs/performance.md). A value the user set is kept.
"""

import os

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
