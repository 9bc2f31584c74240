"""The lmv store (SPEC §3): `pack` writes a Zarr v3 store from a UE4 export, `open_store` reads it.

Layout and format version: `layout`; the packing parent's bookkeeping: `bookkeeping`; one frame's
work in a worker: `frame`; the pack driver: `writer`; the data-loader API: `reader`. Integrity:
checksummed chunk reads (`chunks`), metadata checks (`metadata`), whole-store verification
(`verify`, `report`) and the writer lock (`lock`).
"""

from lmv_cli.core.store.reader import Scene, Store, open_store
from lmv_cli.core.store.verify import verify_store
from lmv_cli.core.store.writer import PackResult, pack

__all__ = ["PackResult", "Scene", "Store", "open_store", "pack", "verify_store"]
