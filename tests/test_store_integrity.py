"""Fault injection on real packed stores (issue 9, acceptance 1): a synth scene and the committed
Cycles-rendered fixture. For every fault: readers raise `StoreError` naming the place; `lmv
capture-check STORE` lists every injected fault at once (exit 1, no traceback); `pack --resume` (or
`--overwrite` for damaged root metadata) gives back, array by array, the store of a fresh pack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from helpers_export import assert_same_store, set_root_attr
from lmv_cli.cli.app import app
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout, open_store, pack
from lmv_cli.core.store.verify import verify_store

FIXTURE = Path(__file__).parent / "fixtures" / "corridor_crop"
runner = CliRunner()


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# fault -> (buffer, frame, injection, capture-check code, reader message)
CHUNK_FAULTS = {
    "deleted chunk": ("scene_color", 0, lambda p: p.unlink(), "chunk-missing", "chunk file missing"),
    "truncated chunk": ("depth", 1, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                        "chunk-checksum", "chunk checksum mismatch"),
    "flipped byte": ("motion_vector", 2, _flip, "chunk-checksum", "chunk checksum mismatch"),
    "garbage chunk": ("brdf_color", 0, lambda p: p.write_bytes(b"garbage"), "chunk-truncated",
                      r"chunk truncated: 7 bytes"),
}
MISSING_FRAME = 3  # "complete" bookkeeping with this frame not marked packed


def delete_scene_json(store: Path, scene: str) -> None:
    (store / scene / "zarr.json").unlink()


def corrupt_root_json(store: Path, scene: str) -> None:
    (store / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gro')


def wrong_version(store: Path, scene: str) -> None:
    set_root_attr(store, format_version=1)


def frame_not_marked_packed(store: Path, scene: str) -> None:
    done = zarr.open_array(str(store / scene / layout.FRAMES_DONE), mode="r+")
    done[MISSING_FRAME] = 0


# fault -> (injection, capture-check code, repair flag, reader call, reader message)
METADATA_FAULTS = {
    "deleted scene zarr.json": (delete_scene_json, "metadata", "--resume", lambda s, n: open_store(s).scene(n),
                                r"/zarr\.json: zarr\.json missing"),
    "corrupt root zarr.json": (corrupt_root_json, "metadata", "--overwrite", lambda s, n: open_store(s),
                               "damaged lmv store: the root zarr.json is missing or unreadable"),
    "wrong format version": (wrong_version, "version", "--overwrite", lambda s, n: open_store(s),
                             r"store format version 1, this lmv reads 2; re-pack"),
    "complete with a missing frame": (frame_not_marked_packed, "bookkeeping", "--resume",
                                      lambda s, n: open_store(s).scene(n),
                                      rf"marked complete but frame\(s\) {MISSING_FRAME} are not marked packed"),
}


@pytest.fixture(scope="module", params=["synth", "corridor"])
def source(request, synth_factory, tmp_path_factory) -> tuple[Path, Path]:
    """(export scene folder, its fresh pack) for a synth scene and the real-frame fixture."""
    export = synth_factory(frames=4, size=(48, 32)) if request.param == "synth" else FIXTURE
    fresh = tmp_path_factory.mktemp(f"fresh_{request.param}") / "fresh.zarr"
    pack(export, fresh, workers=1)
    return export, fresh


def damaged_copy(fresh: Path, tmp_path: Path) -> Path:
    out = tmp_path / "damaged.zarr"
    shutil.copytree(fresh, out)
    return out


def inject_chunk(store: Path, scene: str, fault: str) -> Path:
    buffer, frame, inject, _, _ = CHUNK_FAULTS[fault]
    path = store / scene / layout.chunk_key(buffer, frame)
    inject(path)
    return path


def test_zarr_alone_would_return_fill_values(source, tmp_path):
    """Why lmv reads chunks itself: zarr answers a missing chunk with zeros, without an error."""
    export, fresh = source
    store = damaged_copy(fresh, tmp_path)
    (store / export.name / layout.chunk_key("scene_color", 0)).unlink()
    assert not np.any(zarr.open_array(str(store / export.name / "scene_color"), mode="r")[0])
    with pytest.raises(StoreError, match="chunk file missing"):
        open_store(store)[export.name].read("scene_color", 0)


@pytest.mark.parametrize("fault", CHUNK_FAULTS)
def test_reader_names_a_damaged_chunk(source, fault, tmp_path):
    export, fresh = source
    store, scene = damaged_copy(fresh, tmp_path), export.name
    path = inject_chunk(store, scene, fault)
    buffer, frame, _, _, message = CHUNK_FAULTS[fault]
    where = (rf"{path}, frame {frame}: damaged store {store}: scene {scene}, buffer {buffer}, frame {frame}: "
             rf"{message}")
    opened = open_store(store)[scene]
    for read in (lambda: opened.read(buffer, frame), lambda: opened.frame(frame, [buffer], crop=(0, 0, 4, 4)),
                 lambda: opened.window(max(frame - 1, 0), 2, [buffer])):
        with pytest.raises(StoreError, match=where):
            read()
    other = (frame + 1) % opened.frames
    assert opened.read(buffer, other).shape[0] == layout.BUFFERS_BY_NAME[buffer].channels  # the rest reads


@pytest.mark.parametrize("fault", METADATA_FAULTS)
def test_reader_names_damaged_metadata(source, fault, tmp_path):
    export, fresh = source
    store = damaged_copy(fresh, tmp_path)
    inject, _, _, read, message = METADATA_FAULTS[fault]
    inject(store, export.name)
    with pytest.raises(StoreError, match=message):
        read(store, export.name)


def _codes(report: dict) -> set[tuple]:
    """(code, buffer, frame) of every problem of a store-check JSON report."""
    found = {(p["code"], p["buffer"], p["frame"]) for p in report["problems"]}
    for scene in report["scenes"]:
        found |= {(p["code"], p["buffer"], p["frame"]) for p in scene["problems"]}
    return found


@pytest.mark.parametrize("root_fault", ["wrong format version", "corrupt root zarr.json"])
def test_capture_check_lists_every_fault_at_once_and_overwrite_restores(source, root_fault, tmp_path):
    """All faults in one store (the two root faults exclude each other: one run each), listed in one
    capture-check run; then --overwrite re-packs it to equal a fresh pack."""
    export, fresh = source
    store, scene = damaged_copy(fresh, tmp_path), export.name
    for fault in CHUNK_FAULTS:
        inject_chunk(store, scene, fault)
    faults = ["deleted scene zarr.json", root_fault]
    if root_fault == "wrong format version":  # "complete" lives in the root zarr.json, readable here
        faults.append("complete with a missing frame")
    for fault in faults:
        METADATA_FAULTS[fault][0](store, scene)

    result = runner.invoke(app, ["capture-check", str(store), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    found = _codes(json.loads(result.stdout))
    for buffer, frame, _, code, _ in CHUNK_FAULTS.values():
        assert (code, buffer, frame) in found, (code, buffer, frame, found)
    assert ("metadata", None, None) in found  # the scene zarr.json (and the root one when corrupt)
    assert (METADATA_FAULTS[root_fault][1], None, None) in found
    if "complete with a missing frame" in faults:
        assert ("bookkeeping", None, MISSING_FRAME) in found
    text = runner.invoke(app, ["capture-check", str(store)])
    assert text.exit_code == 1 and "Traceback" not in text.output
    assert "FAILED" in text.stdout and str(store / scene / layout.chunk_key("depth", 1)) in text.stdout

    refused = runner.invoke(app, ["pack", str(export), str(store), "--resume"])
    assert refused.exit_code == 1 and "pass --overwrite" in refused.stderr
    repaired = runner.invoke(app, ["pack", str(export), str(store), "--overwrite", "-j", "1"])
    assert repaired.exit_code == 0, repaired.output
    assert_same_store(fresh, store)
    assert verify_store(store).ok()


def test_resume_repairs_every_fault_at_once(source, tmp_path):
    """Chunk faults, a deleted scene zarr.json and a frame missing from "complete" bookkeeping in one
    store: one `pack --resume` repairs them all, says how many frames, and equals a fresh pack."""
    export, fresh = source
    store, scene = damaged_copy(fresh, tmp_path), export.name
    for fault in CHUNK_FAULTS:
        inject_chunk(store, scene, fault)
    delete_scene_json(store, scene)
    frame_not_marked_packed(store, scene)
    result = runner.invoke(app, ["pack", str(export), str(store), "--resume", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "repaired 4 damaged frame(s) found by verifying the store" in result.stdout  # frames 0, 1, 2, 3
    assert "(4 this run" in result.stdout
    assert_same_store(fresh, store)
    assert runner.invoke(app, ["capture-check", str(store)]).exit_code == 0


@pytest.mark.parametrize("fault", [*CHUNK_FAULTS, *METADATA_FAULTS])
def test_each_fault_is_repaired_to_a_fresh_pack(source, fault, tmp_path):
    """One fault at a time: verification names it, --resume (--overwrite for the root) repairs it."""
    export, fresh = source
    store, scene = damaged_copy(fresh, tmp_path), export.name
    if fault in CHUNK_FAULTS:
        inject_chunk(store, scene, fault)
        flag, code = "--resume", CHUNK_FAULTS[fault][3]
    else:
        inject, code, flag, _, _ = METADATA_FAULTS[fault]
        inject(store, scene)
    report = verify_store(store)
    assert not report.ok() and code in {p.code for p in report.errors}
    result = pack(export, store, workers=1, resume=flag == "--resume", overwrite=flag == "--overwrite")
    if flag == "--resume" and fault != "deleted scene zarr.json":
        assert result.repaired == 1
    assert_same_store(fresh, store)
    assert verify_store(store).ok()


def test_a_fresh_store_verifies_clean_and_its_metadata_is_what_the_reader_expects(source):
    export, fresh = source
    report = verify_store(fresh)
    assert report.ok() and report.complete and report.format_version == 2, report.all_problems
    assert report.scenes[0].frames_done == report.scenes[0].frames
    assert (fresh / layout.LOCK_FILE).exists()
    for name in layout.BOOKKEEPING:  # every chunk of every array is on disk, zeros included
        frames = report.scenes[0].frames
        ndim = len(layout.array_shapes(frames, 1, 1)[name][0])
        keys = [layout.chunk_key(name, 0, ndim)] if name == layout.FRAMES_DONE else \
            [layout.chunk_key(name, t, ndim) for t in range(frames)]
        assert all((fresh / export.name / key).is_file() for key in keys), name


def test_values_disagreeing_with_the_recorded_statistics_are_found(source, tmp_path):
    """A chunk rewritten with valid checksum but other values (a bug, or a foreign write) is caught by
    the decoding verification against the per-frame statistics."""
    export, fresh = source
    store, scene = damaged_copy(fresh, tmp_path), export.name
    path = store / scene / layout.chunk_key("depth", 1)
    values = open_store(store)[scene].read("depth", 1)
    path.write_bytes(layout.encode_chunk(values * np.float32(2)))
    report = verify_store(store)
    assert [(p.code, p.buffer, p.frame) for p in report.errors] == [("attributes", "depth", 1)]
    assert verify_store(store, decode=False).ok()  # checksums alone cannot see it
