"""The Unreal Engine capture side (`ue4/`), generated from and checked against the buffer schema.

`capture_specs()` says how each buffer is captured (material graphs, sky-only, anti-aliasing);
`write_ue4_files(ue4_dir)` regenerates the derived files under `ue4/`; `check_ue4_consistency(ue4_dir)`
lists every disagreement between those files and the schema. Run `python -m lmv_cli.core.ue4 --write ue4/`
after changing `lmv_cli/core/schema.py` or `spec.py`, and `--check ue4/` to verify.
"""

from lmv_cli.core.ue4.check import check_ue4_consistency, generated_files, write_ue4_files
from lmv_cli.core.ue4.generate import REGENERATE
from lmv_cli.core.ue4.spec import CaptureSpec, MaterialGraph, Node, capture_specs

__all__ = [
    "REGENERATE",
    "CaptureSpec",
    "MaterialGraph",
    "Node",
    "capture_specs",
    "check_ue4_consistency",
    "generated_files",
    "write_ue4_files",
]
