"""Slow store tests (`make test-slow`): a 1280x720 synth export packed with worker processes, read back
exactly, verified, damaged and repaired — the integrity path at the size users pack."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from helpers_export import assert_same_store, assert_store_matches_export
from lmv_cli.cli.app import app
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout, open_store, pack
from lmv_cli.core.store.verify import verify_store

runner = CliRunner()


@pytest.mark.slow
def test_720p_pack_read_verify_and_repair(synth_factory, tmp_path):
    export = synth_factory(scene="orbit", frames=3, size=(1280, 720))
    store = tmp_path / "s720.zarr"
    result = runner.invoke(app, ["pack", str(export.parent), str(store), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert_store_matches_export(store, {"orbit": export})
    assert verify_store(store).ok()

    pristine = tmp_path / "pristine.zarr"
    shutil.copytree(store, pristine)
    (store / "orbit" / layout.chunk_key("scene_color", 1)).unlink()
    chunk = store / "orbit" / layout.chunk_key("world_normal", 2)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 3] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"scene orbit, buffer scene_color, frame 1: chunk file missing"):
        open_store(store)["orbit"].frame(1)
    check = runner.invoke(app, ["capture-check", str(store)])
    assert check.exit_code == 1 and "2 damaged frame(s)" in check.stdout, check.output
    repaired = runner.invoke(app, ["pack", str(export.parent), str(store), "--resume", "--workers", "2"])
    assert repaired.exit_code == 0 and "repaired 2 damaged frame(s)" in repaired.stdout, repaired.output
    assert_same_store(pristine, store)


@pytest.mark.slow
def test_resume_of_a_long_interrupted_pack_equals_a_fresh_one(tmp_path):
    """Many frames, several workers: the store of --resume after a simulated interruption (half the
    frames forgotten, their chunks deleted) equals the store of one uninterrupted pack."""
    import numpy as np
    import zarr

    from helpers_export import write_export

    export = write_export(tmp_path / "long", frames=48, height=90, width=160, seed=11)
    fresh, store = tmp_path / "fresh.zarr", tmp_path / "resumed.zarr"
    pack(export, fresh, workers=2)
    shutil.copytree(fresh, store)
    root = zarr.open_group(str(store), mode="r+")
    root.attrs["complete"] = False
    done = root["long"][layout.FRAMES_DONE]
    done[:] = (np.arange(48) % 2).astype(np.uint8)
    for t in range(0, 48, 2):
        (store / "long" / layout.chunk_key("depth", t)).unlink()
    result = pack(export, store, workers=2, resume=True)
    assert result.frames_packed == 24 and result.repaired == 0
    assert_same_store(fresh, store)
