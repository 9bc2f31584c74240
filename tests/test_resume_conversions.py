"""`pack --resume` must refuse a store that was packed with other conversions (docs/store.md#attributes): the stored
`conversions` attribute is compared with what this lmv would write. Each conversion constant is changed
in turn in an interrupted store, through the store's own root attributes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers_export import write_export
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import open_store, pack


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("conv")
    export = write_export(root / "export" / "alpha", frames=2, height=8, width=12).parent
    store = root / "s.zarr"
    pack(export, store, workers=1)
    return export, store


def interrupted_copy(store: Path, to: Path, change=None) -> Path:
    """A copy marked incomplete, its `conversions` root attribute changed by `change(conversions)`."""
    shutil.copytree(store, to)
    meta = json.loads((to / "zarr.json").read_text())
    meta["attributes"]["complete"] = False
    if change is not None:
        change(meta["attributes"]["conversions"])
    (to / "zarr.json").write_text(json.dumps(meta))
    return to


def test_unchanged_conversions_resume(packed, tmp_path: Path) -> None:
    export, store = packed
    out = interrupted_copy(store, tmp_path / "r.zarr")
    pack(export, out, resume=True)
    assert open_store(out).scenes == ("alpha",)


@pytest.mark.parametrize(
    "key,value",
    [
        ("brdf_floor", 0.02),
        ("sky_depth_rel_eps", 1e-3),
        ("depth_norm_cm", 1.0),
        ("module", "somewhere.else"),
    ],
)
def test_other_conversions_are_refused(packed, tmp_path: Path, key: str, value) -> None:
    export, store = packed
    out = interrupted_copy(store, tmp_path / "r.zarr", lambda c: c.__setitem__(key, value))
    with pytest.raises(StoreError, match=r"r\.zarr: cannot resume: the store was packed differently "
                                         r"\(conversions: store has .*\); pass `overwrite`"):
        pack(export, out, resume=True)


def test_another_brdf_lut_is_refused(packed, tmp_path: Path) -> None:
    export, store = packed
    out = interrupted_copy(store, tmp_path / "r.zarr", lambda c: c["brdf_lut"].__setitem__("sha256", "0" * 64))
    with pytest.raises(StoreError, match=r"cannot resume: the store was packed differently \(conversions"):
        pack(export, out, resume=True)
