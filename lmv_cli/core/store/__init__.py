"""The lmv store (docs/store.md): `pack` writes a Zarr v3 store from a UE4 export, `open_store` reads it.

Layout and format version: `layout`; the packing parent's bookkeeping: `bookkeeping`; one frame's
work in a worker: `frame`; the pack driver: `writer`; the data-loader API: `reader`. Integrity:
checksummed chunk reads (`chunks`), metadata checks (`metadata`), whole-store verification
(`verify`, `report`) and the writer lock (`lock`).
"""

import importlib

from lmv_cli.core.store.reader import Scene, Store, open_store

__all__ = ["PackResult", "Scene", "Store", "open_store", "pack", "verify_store"]
_LAZY = {"pack": "writer", "PackResult": "writer", "verify_store": "verify"}
"""Writing and verifying read EXRs (OpenEXR); they load on first use so that reading a store never does."""


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"lmv_cli.core.store.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'lmv_cli.core.store' has no attribute {name!r}")
