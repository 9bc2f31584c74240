"""Where `lmv pack` may write and what it writes (`lmv_cli.core.store.bookkeeping`): every output-path
rule of `inspect_output` with the facts of its message,
the store it names and its result (the lock held by another writer, a folder holding only the lock
file, the not-a-store refusal per mode, missing root metadata and other format versions under
--resume and --overwrite, the log line of a resume with nothing to resume); the exact root
description of `store_description`; the scene groups and arrays `_ensure_scene` creates (metadata
as written on disk) and leaves alone; `SceneBook` (written-through frames_done, every chunk written
even when all zeros, missing frames, forgetting frames) and `mark_complete`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from lmv_cli import __version__
from lmv_cli.core import brdf_lut, derived
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import bookkeeping, layout, metadata
from lmv_cli.core.store.frame import FrameResult

FRAMES, HEIGHT, WIDTH = 3, 2, 5


# --- inspect_output: a path that does not exist ------------------------------------------------------

def test_a_store_whose_parent_is_missing_is_creatable(tmp_path):
    # First in the file: the parent "a" does not exist, the walk climbs one folder to tmp_path.
    assert bookkeeping.inspect_output(tmp_path / "a" / "store", resume=False, overwrite=False) is False


def test_resume_of_a_missing_store_logs_and_packs_from_the_start(tmp_path, caplog):
    out = tmp_path / "store"
    with caplog.at_level(logging.INFO, logger="lmv_cli.core.store.bookkeeping"):
        assert bookkeeping.inspect_output(out, resume=True, overwrite=False) is False
    (record,) = [r for r in caplog.records if r.name == "lmv_cli.core.store.bookkeeping"]
    assert record.levelno == logging.INFO
    assert str(out) in record.getMessage() and "nothing to resume" in record.getMessage()
    assert not out.exists()


def test_a_missing_store_without_resume_logs_nothing(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="lmv_cli.core.store.bookkeeping"):
        assert bookkeeping.inspect_output(tmp_path / "store", resume=False, overwrite=True) is False
    assert [r for r in caplog.records if r.name == "lmv_cli.core.store.bookkeeping"] == []


# --- inspect_output: a file, an empty folder, a folder holding only the lock file ----------------------

@pytest.mark.parametrize("resume, overwrite", [(False, False), (True, False), (False, True)])
def test_a_file_is_refused_naming_it(tmp_path, resume, overwrite):
    out = tmp_path / "store"
    out.write_text("a file")
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=resume, overwrite=overwrite)
    assert "not a folder" in caught.value.message
    assert caught.value.path == out


def test_an_empty_folder_is_packed_into_without_flags(tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    assert bookkeeping.inspect_output(out, resume=False, overwrite=False) is False


def test_a_folder_holding_only_an_unheld_lock_file_is_packed_into_without_flags(tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    (out / layout.LOCK_FILE).write_text("77\n")
    assert bookkeeping.inspect_output(out, resume=False, overwrite=False) is False


def test_an_existing_folder_needs_resume_or_overwrite(tmp_path):
    out = _root(tmp_path)
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=False, overwrite=False)
    assert "`resume`" in caught.value.message and "`overwrite`" in caught.value.message
    assert (caught.value.path, caught.value.option, caught.value.value) == (out, "overwrite", False)


# --- inspect_output: the writer lock --------------------------------------------------------------------

def _hold_lock(out: Path, pid: str) -> int:
    """Hold the store's lock the way another `lmv pack` does (an exclusive flock on its own open file)."""
    fd = os.open(out / layout.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{pid}\n".encode())
    return fd


@pytest.mark.parametrize("resume, overwrite", [(True, False), (False, True), (False, False)])
def test_a_store_another_pack_writes_is_refused_naming_its_pid(tmp_path, resume, overwrite):
    out = _root(tmp_path)
    fd = _hold_lock(out, "4242")
    try:
        with pytest.raises(StoreError) as caught:
            bookkeeping.inspect_output(out, resume=resume, overwrite=overwrite)
    finally:
        os.close(fd)
    assert "PID 4242" in caught.value.message and caught.value.option == "pack.resume"
    assert caught.value.path == out


def test_a_locked_empty_folder_is_refused_too(tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    fd = _hold_lock(out, "99")
    try:
        with pytest.raises(StoreError) as caught:
            bookkeeping.inspect_output(out, resume=False, overwrite=False)
    finally:
        os.close(fd)
    assert "(PID 99)" in caught.value.message


def test_the_lock_this_process_holds_is_not_a_busy_store(tmp_path):
    out = _root(tmp_path)
    fd = _hold_lock(out, str(os.getpid()))
    try:
        assert bookkeeping.inspect_output(out, resume=True, overwrite=False, locked=True) is True
        assert bookkeeping.inspect_output(out, resume=False, overwrite=True, locked=True) is True
    finally:
        os.close(fd)


def test_an_unheld_lock_file_of_a_crashed_pack_is_no_obstacle(tmp_path):
    out = _root(tmp_path)
    (out / layout.LOCK_FILE).write_text("12345\n")
    assert bookkeeping.inspect_output(out, resume=True, overwrite=False) is True


# --- inspect_output: stores to resume or replace ----------------------------------------------------------

def _root(tmp_path: Path, attrs: dict | None = None, name: str = "store") -> Path:
    """A folder whose root zarr.json is a group with these attributes (an lmv store of this version
    by default)."""
    out = tmp_path / name
    metadata.write_group(out, {"format": layout.FORMAT, "format_version": layout.FORMAT_VERSION}
                         if attrs is None else attrs)
    return out


@pytest.mark.parametrize("resume, overwrite", [(True, False), (False, True), (True, True)])
def test_a_store_of_this_version_is_resumed_or_replaced(tmp_path, resume, overwrite):
    out = _root(tmp_path)
    assert bookkeeping.inspect_output(out, resume=resume, overwrite=overwrite) is True


@pytest.mark.parametrize("resume, what", [(True, "resume"), (False, "delete")])
def test_a_folder_that_is_not_a_store_is_refused_per_mode(tmp_path, resume, what):
    out = tmp_path / "store"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=resume, overwrite=not resume)
    assert "not an lmv store" in caught.value.message and f"refusing to {what}" in caught.value.message
    assert caught.value.path == out
    assert (out / "notes.txt").read_text() == "mine"


def test_a_store_of_another_format_is_not_a_store(tmp_path):
    out = _root(tmp_path, {"format": "other", "format_version": layout.FORMAT_VERSION})
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=False, overwrite=True)
    assert "not an lmv store" in caught.value.message and "delete" in caught.value.message
    assert caught.value.path == out


def _lock_file_store(tmp_path: Path) -> Path:
    """A store recognised by its (unheld) lock file whose root zarr.json is gone."""
    out = tmp_path / "store"
    (out / "s").mkdir(parents=True)
    (out / layout.LOCK_FILE).write_text("12345\n")
    return out


def test_resume_needs_root_metadata(tmp_path):
    out = _lock_file_store(tmp_path)
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=True, overwrite=False)
    assert "root zarr.json" in caught.value.message and "`overwrite`" in caught.value.message
    assert (caught.value.path, caught.value.option, caught.value.value) == (out, "overwrite", False)


def test_overwrite_replaces_a_store_without_root_metadata(tmp_path):
    assert bookkeeping.inspect_output(_lock_file_store(tmp_path), resume=False, overwrite=True) is True


def test_resume_refuses_another_format_version_naming_both(tmp_path):
    out = _root(tmp_path, {"format": layout.FORMAT, "format_version": 1})
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=True, overwrite=False)
    assert re.search(r"format version 1\b.*\b2\b.*`overwrite`", caught.value.message)
    assert caught.value.path == out


def test_resume_refuses_a_store_without_a_format_version(tmp_path):
    out = _root(tmp_path, {"format": layout.FORMAT})
    with pytest.raises(StoreError) as caught:
        bookkeeping.inspect_output(out, resume=True, overwrite=False)
    assert re.search(r"format version None\b.*\b2\b.*`overwrite`", caught.value.message)


def test_overwrite_replaces_a_store_of_another_format_version(tmp_path):
    out = _root(tmp_path, {"format": layout.FORMAT, "format_version": 1})
    assert bookkeeping.inspect_output(out, resume=False, overwrite=True) is True


# --- store_description ----------------------------------------------------------------------------------

def _plan(tmp_path: Path, name: str, frames: int = FRAMES, height: int = HEIGHT, width: int = WIDTH):
    source = tmp_path / "export" / name
    source.mkdir(parents=True, exist_ok=True)
    return bookkeeping.ScenePlan(name, source, frames, height, width, {})


def test_store_description_is_exactly_the_root_attributes(tmp_path):
    plans = [_plan(tmp_path, "b", 4, 6, 8), _plan(tmp_path, "a", 1, 2, 3)]
    export = tmp_path / "export" / ".." / "export"  # resolved in the description
    desc = bookkeeping.store_description(export, plans, ["w1", "w2"])
    lut = brdf_lut.load_lut()
    assert desc == {
        "format": "lmv-store",
        "format_version": 2,
        "lmv_version": __version__,
        "source": str(tmp_path.resolve() / "export"),
        "scenes": ["b", "a"],
        "layout": {
            "scenes": [
                {"name": "b", "source": str(tmp_path.resolve() / "export" / "b"), "frames": 4, "height": 6,
                 "width": 8},
                {"name": "a", "source": str(tmp_path.resolve() / "export" / "a"), "frames": 1, "height": 2,
                 "width": 3},
            ],
            **layout.layout_description(),
        },
        "conversions": {
            "module": "lmv_cli.core.derived",
            "sky_depth_rel_eps": 1e-4,
            "specular_f0_scale": 0.08,
            "brdf_floor": derived.BRDF_FLOOR,
            "float16_max": 65504.0,
            "depth_norm_cm": 65536.0,
            "brdf_lut": {"size": 256, "samples": 16384, "sha256": hashlib.sha256(lut.tobytes()).hexdigest()},
        },
        "capture_check": {"mode": "quick", "errors": 0, "warnings": ["w1", "w2"]},
    }
    assert len(desc["conversions"]["brdf_lut"]["sha256"]) == 64


def test_store_description_keeps_relative_plan_paths_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x" / "s").mkdir(parents=True)
    plan = bookkeeping.ScenePlan("s", Path("x/s"), 1, 1, 1, {})
    desc = bookkeeping.store_description(Path("x"), [plan], [])
    assert desc["source"] == str(tmp_path.resolve() / "x")
    assert desc["layout"]["scenes"][0]["source"] == str(tmp_path.resolve() / "x" / "s")
    assert desc["capture_check"] == {"mode": "quick", "errors": 0, "warnings": []}


# --- _ensure_scene (through create_store and directly) ---------------------------------------------------

def _store(tmp_path: Path, plans) -> tuple[Path, dict, object]:
    desc = bookkeeping.store_description(tmp_path / "export", plans, [])
    out = tmp_path / "store"
    root = bookkeeping.create_store(out, desc)
    return out, desc, root


def _array_meta(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text(encoding="utf-8"))


def test_create_store_writes_every_scene_group_as_planned_and_not_complete(tmp_path):
    plans = [_plan(tmp_path, "s"), _plan(tmp_path, "t", 2, 3, 4)]
    out, desc, _ = _store(tmp_path, plans)
    for scene in desc["layout"]["scenes"]:
        assert metadata.group_attrs(out / scene["name"]) == {**scene, "complete": False}
        assert sorted(p.name for p in (out / scene["name"]).iterdir()) == sorted(
            ["zarr.json", *layout.BUFFER_NAMES, *layout.BOOKKEEPING])


@pytest.mark.parametrize("frames, height, width", [(FRAMES, HEIGHT, WIDTH), (2, 3, 4)])
def test_every_buffer_array_is_created_as_the_format_prescribes(tmp_path, frames, height, width):
    out, _, _ = _store(tmp_path, [_plan(tmp_path, "s", frames, height, width)])
    for spec in layout.BUFFERS:
        meta = _array_meta(out / "s" / spec.name)
        shape = [frames, spec.channels, height, width]
        assert meta["shape"] == shape
        assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, spec.channels, height, width]
        assert meta["data_type"] == spec.dtype
        assert meta["fill_value"] == 0 and not isinstance(meta["fill_value"], bool)
        assert meta["codecs"] == metadata.expected_codecs(spec.dtype)
        assert meta["dimension_names"] == ["frame", "channel", "y", "x"]
        assert meta["attributes"] == spec.describe()
        metadata.check_array(out / "s" / spec.name, tuple(shape), (1, spec.channels, height, width), spec.dtype)


def test_every_bookkeeping_array_is_created_as_the_format_prescribes(tmp_path):
    out, _, _ = _store(tmp_path, [_plan(tmp_path, "s")])
    b, f = len(layout.BUFFERS), len(layout.SOURCE_FOLDERS)
    expected = {
        "frames_done": ([FRAMES], [FRAMES], "uint8"),
        "frame_stats": ([FRAMES, b, 3], [1, b, 3], "float64"),
        "nonfinite": ([FRAMES, f], [1, f], "int64"),
    }
    for key, (shape, chunks, dtype) in expected.items():
        meta = _array_meta(out / "s" / key)
        assert meta["shape"] == shape
        assert meta["chunk_grid"]["configuration"]["chunk_shape"] == chunks
        assert meta["data_type"] == dtype
        assert meta["fill_value"] == 0 and not isinstance(meta["fill_value"], bool)
        assert meta["codecs"] == metadata.expected_codecs(dtype)
        assert meta.get("dimension_names") is None
        assert meta["attributes"] == {}


def test_created_arrays_read_as_zeros(tmp_path):
    _, _, root = _store(tmp_path, [_plan(tmp_path, "s")])
    for name in (*layout.BUFFER_NAMES, *layout.BOOKKEEPING):
        values = np.asarray(root["s"][name][:])
        assert not values.any(), name


def test_ensure_scene_creates_only_what_is_missing_and_keeps_the_rest(tmp_path):
    out, desc, root = _store(tmp_path, [_plan(tmp_path, "s")])
    scene = desc["layout"]["scenes"][0]
    root["s"].attrs.update({"complete": True})
    root["s"]["depth"][1] = np.full((1, HEIGHT, WIDTH), 7.0, dtype=np.float32)
    root["s"]["frames_done"][:] = np.array([1, 0, 1], dtype=np.uint8)
    shutil.rmtree(out / "s" / "nov")
    shutil.rmtree(out / "s" / "nonfinite")
    root = zarr.open_group(str(out), mode="r+")
    bookkeeping._ensure_scene(root, scene)
    assert metadata.group_attrs(out / "s")["complete"] is True
    assert np.asarray(root["s"]["depth"][1]).tolist() == np.full((1, HEIGHT, WIDTH), 7.0).tolist()
    assert np.asarray(root["s"]["frames_done"][:]).tolist() == [1, 0, 1]
    assert _array_meta(out / "s" / "nov")["shape"] == [FRAMES, 1, HEIGHT, WIDTH]
    assert _array_meta(out / "s" / "nonfinite")["shape"] == [FRAMES, len(layout.SOURCE_FOLDERS)]
    assert not np.asarray(root["s"]["nov"][:]).any()


def test_ensure_scene_creates_a_missing_scene_group_in_an_existing_root(tmp_path):
    out, desc, root = _store(tmp_path, [_plan(tmp_path, "s")])
    scene = {"name": "u", "source": "/x/u", "frames": 2, "height": 1, "width": 2}
    bookkeeping._ensure_scene(root, scene)
    assert metadata.group_attrs(out / "u") == {**scene, "complete": False}
    assert _array_meta(out / "u" / "scene_color")["shape"] == [2, 3, 1, 2]
    assert _array_meta(out / "u" / "frame_stats")["shape"] == [2, len(layout.BUFFERS), 3]


# --- SceneBook ------------------------------------------------------------------------------------------

def _book_store(tmp_path: Path, done=None):
    plan = _plan(tmp_path, "s")
    out, _, root = _store(tmp_path, [plan])
    if done is not None:
        root["s"]["frames_done"][:] = np.array(done, dtype=np.uint8)
    return out, plan, root


def test_open_reads_the_scene_of_the_plan(tmp_path):
    out, plan, root = _book_store(tmp_path, [1, 0, 1])
    book = bookkeeping.SceneBook.open(root, plan)
    assert book.plan is plan
    assert book.missing() == [1]
    assert book.done_count() == 2


@pytest.mark.parametrize("done, missing", [([0, 0, 0], [0, 1, 2]), ([1, 1, 1], []), ([0, 1, 0], [0, 2])])
def test_missing_lists_the_frames_not_done_as_ints(tmp_path, done, missing):
    _, plan, root = _book_store(tmp_path, done)
    book = bookkeeping.SceneBook.open(root, plan)
    assert book.missing() == missing
    assert all(type(t) is int for t in book.missing())
    assert book.done_count() == sum(done)
    assert type(book.done_count()) is int


def test_forget_marks_frames_not_done_on_disk_and_the_scene_incomplete(tmp_path):
    out, plan, root = _book_store(tmp_path, [1, 1, 1])
    root["s"].attrs.update({"complete": True})
    book = bookkeeping.SceneBook.open(root, plan)
    book.forget({2, 0})
    assert book.missing() == [0, 2]
    assert book.done_count() == 1
    assert metadata.group_attrs(out / "s")["complete"] is False
    again = zarr.open_group(str(out), mode="r")
    assert np.asarray(again["s"]["frames_done"][:]).tolist() == [0, 1, 0]


def test_forget_of_no_frames_changes_nothing(tmp_path):
    out, plan, root = _book_store(tmp_path, [1, 1, 1])
    root["s"].attrs.update({"complete": True})
    book = bookkeeping.SceneBook.open(root, plan)
    book.forget(set())
    assert book.missing() == []
    assert metadata.group_attrs(out / "s")["complete"] is True


def test_forgetting_every_frame_still_writes_the_all_zero_chunk(tmp_path):
    out, plan, root = _book_store(tmp_path, [1, 1, 1])
    book = bookkeeping.SceneBook.open(root, plan)
    book.forget({0, 1, 2})
    assert (out / "s" / layout.chunk_key("frames_done", 0, ndim=1)).is_file()
    assert np.asarray(zarr.open_group(str(out), mode="r")["s"]["frames_done"][:]).tolist() == [0, 0, 0]


def _result(frame: int, nonfinite=None) -> FrameResult:
    f = len(layout.SOURCE_FOLDERS)
    return FrameResult("s", frame, np.zeros((len(layout.BUFFERS), 3)),
                       np.zeros(f, dtype=np.int64) if nonfinite is None else np.asarray(nonfinite, dtype=np.int64))


def test_record_writes_all_zero_statistics_chunks_too(tmp_path):
    out, plan, root = _book_store(tmp_path)
    book = bookkeeping.SceneBook.open(root, plan)
    book.record(_result(1))
    assert (out / "s" / layout.chunk_key("frame_stats", 1, ndim=3)).is_file()
    assert (out / "s" / layout.chunk_key("nonfinite", 1, ndim=2)).is_file()
    assert (out / "s" / layout.chunk_key("frames_done", 0, ndim=1)).is_file()
    assert book.missing() == [0, 2]


def test_finish_records_the_nonfinite_total(tmp_path):
    out, plan, root = _book_store(tmp_path)
    book = bookkeeping.SceneBook.open(root, plan)
    f = len(layout.SOURCE_FOLDERS)
    for t in range(FRAMES):
        counts = [0] * f
        counts[0] = t + 1
        counts[f - 1] = 10
        book.record(_result(t, counts))
    nonfinite = book.finish()
    attrs = metadata.group_attrs(out / "s")
    assert attrs["nonfinite_total"] == 6 + 30
    assert attrs["frames_done"] == FRAMES
    assert attrs["complete"] is True
    assert nonfinite[layout.SOURCE_FOLDERS[0]] == 6 and nonfinite[layout.SOURCE_FOLDERS[-1]] == 30


def test_finish_writes_per_buffer_stats_the_nonfinite_counts_and_warns_naming_them(tmp_path, caplog):
    out, plan, root = _book_store(tmp_path)
    book = bookkeeping.SceneBook.open(root, plan)
    f, b = len(layout.SOURCE_FOLDERS), len(layout.BUFFERS)
    for t, (lo, hi, mean) in enumerate([(-1.0, 2.0, 0.5), (0.0, 4.0, 1.0), (-3.0, 1.0, 1.5)]):
        counts = [0] * f
        counts[-1] = t  # 0 + 1 + 2 = 3 in the last export folder, none elsewhere
        book.record(FrameResult("s", t, np.tile([lo, hi, mean], (b, 1)), np.asarray(counts, dtype=np.int64)))
    with caplog.at_level(logging.WARNING, logger="lmv_cli.core.store.bookkeeping"):
        book.finish()
    attrs = metadata.group_attrs(out / "s")
    first = layout.BUFFERS[0].name
    assert attrs["stats"][first] == {"min": -3.0, "max": 4.0, "mean": 1.0}
    assert set(attrs["stats"]) == {spec.name for spec in layout.BUFFERS}
    assert attrs["nonfinite"] == {folder: (3 if folder == layout.SOURCE_FOLDERS[-1] else 0)
                                  for folder in layout.SOURCE_FOLDERS}
    (warning,) = [r.getMessage() for r in caplog.records]
    assert re.search(rf"^s: .*NaN.*\b{layout.SOURCE_FOLDERS[-1]} 3$", warning)  # the scene, the folder, the count


def test_finish_of_two_folders_with_nonfinite_values_lists_both(tmp_path, caplog):
    out, plan, root = _book_store(tmp_path)
    book = bookkeeping.SceneBook.open(root, plan)
    f = len(layout.SOURCE_FOLDERS)
    for t in range(FRAMES):
        book.record(_result(t, [1] + [0] * (f - 2) + [2]))
    with caplog.at_level(logging.WARNING, logger="lmv_cli.core.store.bookkeeping"):
        book.finish()
    first, last = layout.SOURCE_FOLDERS[0], layout.SOURCE_FOLDERS[-1]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert re.search(rf"^s: .*NaN.*\b{first} 3\b.*\b{last} 6$", warning)


# --- mark_complete ---------------------------------------------------------------------------------------

def test_mark_complete_sets_the_root_complete_flag_on_disk(tmp_path):
    out, _, root = _store(tmp_path, [_plan(tmp_path, "s")])
    assert layout.read_root_attrs(out)["complete"] is False
    bookkeeping.mark_complete(root)
    attrs = layout.read_root_attrs(out)
    assert attrs["complete"] is True
    assert attrs["format"] == layout.FORMAT
