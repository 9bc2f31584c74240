"""Replacing and resuming a store (`lmv_cli.core.store.bookkeeping`): the creatable-path walk and the store it names, `clear_store` (root `zarr.json` first, stray
files and symlinks, no root `zarr.json`), the `created` and `complete` root attributes, the resume
refusal message and its value shortening, and the repairs `open_for_resume` makes from a check."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from lmv_cli import __version__
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import bookkeeping, layout, metadata
from lmv_cli.core.store.report import SceneCheck, StoreReport

FRAMES, HEIGHT, WIDTH = 2, 2, 3


def _plan(tmp_path: Path, name: str) -> bookkeeping.ScenePlan:
    source = tmp_path / "export" / name
    source.mkdir(parents=True, exist_ok=True)
    return bookkeeping.ScenePlan(name, source, FRAMES, HEIGHT, WIDTH, {})


def _store(tmp_path: Path, names=("s",)) -> tuple[Path, dict]:
    """A freshly created store of tiny scenes (2 frames of 2x3), source recorded as "/a/export"."""
    plans = [_plan(tmp_path, n) for n in names]
    desc = {**bookkeeping.store_description(tmp_path / "export", plans, []), "source": "/a/export"}
    out = tmp_path / "store"
    bookkeeping.create_store(out, desc)
    return out, desc


def _scene_desc(desc: dict, name: str) -> dict:
    (scene,) = [s for s in desc["layout"]["scenes"] if s["name"] == name]
    return scene


# --- _check_creatable (through inspect_output) -------------------------------------------------------

@pytest.mark.parametrize("resume", [False, True])
def test_a_store_under_missing_folders_is_creatable(tmp_path, resume):
    out = tmp_path / "a" / "b" / "store"  # neither a nor b exists: the walk climbs to tmp_path
    assert bookkeeping.inspect_output(out, resume=resume, overwrite=False) is False
    assert not (tmp_path / "a").exists()


def test_a_file_ancestor_is_refused_naming_the_file_and_the_store(tmp_path):
    (tmp_path / "f").write_text("not a folder")
    out = tmp_path / "f" / "x" / "store"
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=False, overwrite=False)
    assert str(tmp_path / "f") in caught.value.message and "is a file" in caught.value.message
    assert caught.value.path == out


# --- clear_store ----------------------------------------------------------------------------------------

class _Killed(BaseException):
    """Stands for a kill arriving while a store is being deleted."""


class _KilledBeforeListing(type(Path())):
    """A store path whose listing is interrupted: what clear_store deleted before it lists the folder."""

    def iterdir(self):
        raise _Killed


def test_clear_store_deletes_the_root_zarr_json_before_anything_else(tmp_path):
    out, _ = _store(tmp_path)
    (out / layout.LOCK_FILE).write_text("123")
    with pytest.raises(_Killed):
        bookkeeping.clear_store(_KilledBeforeListing(out))
    assert not (out / "zarr.json").exists()
    assert layout.read_root_attrs(out) is None  # no reader takes the half-deleted folder for a store
    assert (out / "s" / layout.FRAMES_DONE / "zarr.json").exists()  # nothing else was touched yet
    assert layout.recognisable(out)  # so --overwrite still replaces it


def test_clear_store_without_a_root_zarr_json(tmp_path):
    # An earlier, interrupted clear_store left the scene folders and the lock file only.
    out, _ = _store(tmp_path)
    (out / layout.LOCK_FILE).write_text("123")
    (out / "zarr.json").unlink()
    bookkeeping.clear_store(out)
    assert [p.name for p in out.iterdir()] == [layout.LOCK_FILE]


def test_clear_store_unlinks_stray_files_and_symlinks_keeping_their_targets(tmp_path):
    out, _ = _store(tmp_path)
    (out / layout.LOCK_FILE).write_text("123")
    (out / "notes.txt").write_text("stray file")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not part of the store")
    (out / "linked").symlink_to(elsewhere, target_is_directory=True)
    (out / "dangling").symlink_to(tmp_path / "nowhere")
    bookkeeping.clear_store(out)
    assert [p.name for p in out.iterdir()] == [layout.LOCK_FILE]
    assert (out / layout.LOCK_FILE).read_text() == "123"
    assert (elsewhere / "keep.txt").read_text() == "not part of the store"


# --- create_store ----------------------------------------------------------------------------------------

def test_create_store_records_creation_in_utc_seconds_and_not_complete(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    out, desc = _store(tmp_path)
    after = datetime.now(timezone.utc)
    attrs = layout.read_root_attrs(out)
    assert attrs["complete"] is False
    created = datetime.fromisoformat(attrs["created"])
    assert created.utcoffset() == timedelta(0)
    assert attrs["created"].endswith("+00:00")
    assert created.microsecond == 0
    assert before <= created <= after
    assert {k: v for k, v in attrs.items() if k not in ("created", "complete")} == desc


def test_resume_refusal_names_each_difference_with_both_values(tmp_path):
    out, desc = _store(tmp_path)
    now = {**desc, "lmv_version": "9.9", "source": "/b/export"}
    with pytest.raises(StoreError) as caught:
        bookkeeping.open_for_resume(out, now, StoreReport(out))
    message = caught.value.message
    assert re.search(rf"lmv_version.*{re.escape(repr(__version__))}.*'9\.9'", message)  # the key, then and now
    assert re.search(r"source.*'/a/export'.*'/b/export'", message)
    assert "..." not in message  # short values whole, not marked as shortened
    assert "`overwrite`" in message
    assert (caught.value.path, caught.value.option, caught.value.value) == (out, "overwrite", False)


def test_resume_refusal_shortens_long_values(tmp_path):
    out, desc = _store(tmp_path)
    now = {**desc, "scenes": ["s" * 100]}
    with pytest.raises(StoreError) as caught:
        bookkeeping.open_for_resume(out, now, StoreReport(out))
    assert re.search(r"scenes.*\['s'\].*\['s{20,}\.\.\.", caught.value.message)  # the new value shortened
    assert "s" * 100 not in caught.value.message and len(caught.value.message) < 250


# --- mark_incomplete and the repairs of open_for_resume ----------------------------------------------

def test_mark_incomplete_clears_the_complete_flag(tmp_path):
    out, desc = _store(tmp_path)
    root = bookkeeping.open_for_resume(out, desc, StoreReport(out))
    bookkeeping.mark_complete(root)
    assert layout.read_root_attrs(out)["complete"] is True
    bookkeeping.mark_incomplete(root)
    assert layout.read_root_attrs(out)["complete"] is False


def test_resume_with_errors_marks_a_complete_store_incomplete(tmp_path):
    out, desc = _store(tmp_path)
    bookkeeping.mark_complete(bookkeeping.open_for_resume(out, desc, StoreReport(out)))
    check = StoreReport(out)
    check.add("metadata", "something damaged")
    bookkeeping.open_for_resume(out, desc, check)
    assert layout.read_root_attrs(out)["complete"] is False


def test_resume_rewrites_a_damaged_scene_group_as_planned_and_not_complete(tmp_path):
    out, desc = _store(tmp_path, names=("s", "t"))
    finished = {**_scene_desc(desc, "t"), "complete": True, "frames_done": FRAMES, "stats": {"depth": {"min": 1}}}
    metadata.write_group(out / "t", finished)
    metadata.write_group(out / "s", {**_scene_desc(desc, "s"), "frames": 99, "complete": True})
    check = StoreReport(out, scenes=[
        SceneCheck("s", out / "s", rebuild_group=True),
        SceneCheck("t", out / "t"),  # intact: left as it is
        SceneCheck("old", out / "old", rebuild_group=True),  # not in this pack's plan: ignored
    ])
    bookkeeping.open_for_resume(out, desc, check)
    assert metadata.group_attrs(out / "s") == {**_scene_desc(desc, "s"), "complete": False}
    assert metadata.group_attrs(out / "t") == finished
    assert not (out / "old").exists()


def test_resume_recreates_an_array_with_damaged_metadata_empty(tmp_path):
    out, desc = _store(tmp_path)
    depth = out / "s" / "depth"
    meta = json.loads((depth / "zarr.json").read_text())
    meta["shape"] = [FRAMES + 3, 1, HEIGHT, WIDTH]  # valid for zarr, wrong for this scene
    (depth / "zarr.json").write_text(json.dumps(meta))
    (depth / "c" / "4" / "0" / "0").mkdir(parents=True)
    (depth / "c" / "4" / "0" / "0" / "0").write_bytes(b"old chunk")
    check = StoreReport(out, scenes=[SceneCheck("s", out / "s", rebuild_arrays={"depth"})])
    root = bookkeeping.open_for_resume(out, desc, check)
    shape, chunks, dtype = layout.array_shapes(FRAMES, HEIGHT, WIDTH)["depth"]
    metadata.check_array(depth, shape, chunks, dtype)  # raises MetadataDamage if not re-created
    assert not (depth / "c").exists()
    np.testing.assert_array_equal(root["s"]["depth"][:], np.zeros(shape, np.float32))


def test_resume_recreates_an_array_whose_folder_is_gone(tmp_path):
    out, desc = _store(tmp_path)
    shutil.rmtree(out / "s" / "st_alpha")
    check = StoreReport(out, scenes=[SceneCheck("s", out / "s", rebuild_arrays={"st_alpha"})])
    bookkeeping.open_for_resume(out, desc, check)
    shape, chunks, dtype = layout.array_shapes(FRAMES, HEIGHT, WIDTH)["st_alpha"]
    metadata.check_array(out / "s" / "st_alpha", shape, chunks, dtype)
