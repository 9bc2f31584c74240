"""`lmv pack` on the command line: output, one-line errors with exit 1, usage errors with exit 2, and
the kill -9 → --resume round trip as real processes (acceptance 2 and 5)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from helpers_export import assert_same_store, set_root_attr, write_export
from lmv_cli.cli.app import app
from lmv_cli.core.errors import StoreError
from lmv_cli.core.store import layout, open_store, pack

runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return write_export(tmp_path_factory.mktemp("cli") / "scene", frames=2, height=12, width=16)


def invoke(*args: str):
    return runner.invoke(app, ["pack", *map(str, args)])


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_pack_prints_what_it_wrote(export, tmp_path):
    result = invoke(export, tmp_path / "s.zarr", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "packed 1 scene(s), 2 frames (2 this run" in result.output
    assert f"-> {tmp_path / 's.zarr'}" in result.output
    assert open_store(tmp_path / "s.zarr").scene("scene").frames == 2


def test_nan_and_inf_are_replaced_and_reported(tmp_path):
    def poison(k, arrays):
        arrays["SkyColor"][1, 0, k] = np.nan
        arrays["VelocityDepth"][0, 3, 3] = -np.inf

    write_export(tmp_path / "nan", frames=2, edit=poison)
    result = invoke(tmp_path / "nan", tmp_path / "s.zarr")
    assert result.exit_code == 0, result.output
    assert "warning NaN/Inf values replaced by 0: SkyColor 2, VelocityDepth 2" in result.output
    scene = open_store(tmp_path / "s.zarr").scene("nan")
    assert scene.read("sky_color", 1)[1, 0, 1] == 0 and scene.read("motion_vector", 0)[0, 3, 3] == 0


def test_existing_store_is_an_error_and_resume_of_a_complete_store_does_nothing(export, tmp_path):
    assert invoke(export, tmp_path / "s.zarr", "-j", "1").exit_code == 0
    line = one_line_error(invoke(export, tmp_path / "s.zarr"))
    assert line.startswith(f"error: {tmp_path / 's.zarr'}: ") and "--resume" in line and "--overwrite" in line
    result = invoke(export, tmp_path / "s.zarr", "--resume", "-j", "1")
    assert result.exit_code == 0 and "(0 this run" in result.output


def test_output_path_that_is_a_file(export, tmp_path):
    (tmp_path / "out.zarr").write_text("x")
    assert "exists and is not a folder" in one_line_error(invoke(export, tmp_path / "out.zarr"))


def test_resume_and_overwrite_together_is_a_usage_error(export, tmp_path):
    result = invoke(export, tmp_path / "s.zarr", "--resume", "--overwrite")
    assert result.exit_code == 2 and "Invalid value for --resume/--overwrite: choose one, not both" in result.output


def test_missing_buffer(export, tmp_path):
    broken = shutil.copytree(export, tmp_path / "scene")
    shutil.rmtree(broken / "SkyDepth")
    line = one_line_error(invoke(broken, tmp_path / "s.zarr"))
    assert "export is broken, not packed: 1 problem(s)" in line and "missing buffer folder SkyDepth/" in line
    assert not (tmp_path / "s.zarr").exists()


def test_truncated_file(export, tmp_path):
    broken = shutil.copytree(export, tmp_path / "scene")
    path = broken / "VelocityDepth" / "frame_1.EXR"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    line = one_line_error(invoke(broken, tmp_path / "s.zarr"))
    assert "VelocityDepth/frame_1.EXR: truncated" in line


def test_store_of_another_format_version(export, tmp_path):
    assert invoke(export, tmp_path / "s.zarr", "-j", "1").exit_code == 0
    set_root_attr(tmp_path / "s.zarr", format_version=1)
    line = one_line_error(invoke(export, tmp_path / "s.zarr", "--resume"))
    assert "cannot resume: store format version 1, this lmv writes 2" in line and "pass --overwrite" in line
    assert invoke(export, tmp_path / "s.zarr", "--overwrite", "-j", "1").exit_code == 0
    assert open_store(tmp_path / "s.zarr").attrs["format_version"] == 2


def frames_done(store: Path, scene: str) -> int:
    try:
        return int(np.asarray(zarr.open_array(str(store / scene / layout.FRAMES_DONE), mode="r")[:]).sum())
    except (FileNotFoundError, KeyError, ValueError):  # not created yet
        return 0


def lmv_pack(*args) -> list[str]:
    return [sys.executable, "-m", "lmv_cli", "pack", *map(str, args)]


def group_alive(pgid: int) -> bool:
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 0


def test_sigkill_then_resume_gives_the_uninterrupted_store(tmp_path):
    """Acceptance 2: `kill -9` the pack process mid-way; its workers must exit on their own, the store
    must be refused; --resume must give, array by array, the store of an uninterrupted pack."""
    frames = 24
    export = write_export(tmp_path / "long", frames=frames, height=32, width=48, seed=7)
    reference, store = tmp_path / "reference.zarr", tmp_path / "killed.zarr"
    pack(export, reference, workers=1)

    proc = subprocess.Popen(lmv_pack(export, store, "--workers", "2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while frames_done(store, "long") < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # the main process only, as `kill -9 PID` does
    proc.wait()
    done = frames_done(store, "long")
    assert 0 < done < frames, f"the kill did not land mid-way ({done}/{frames} frames done)"
    deadline = time.monotonic() + 20
    while group_alive(proc.pid) and time.monotonic() < deadline:  # workers notice and exit
        time.sleep(0.05)
    leftovers = subprocess.run(["pgrep", "-a", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    if leftovers:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not leftovers, f"processes outlived the killed pack: {leftovers}"

    with pytest.raises(StoreError, match=rf"incomplete: {done}/{frames} frames of scene long packed; .*"
                                         r"`pack.resume`"):
        open_store(store)
    resumed = invoke(export, store, "--workers", "1", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"({frames - done} this run" in resumed.stdout
    assert_same_store(reference, store)
    assert open_store(store).scene("long").attrs["frames_done"] == frames


def test_a_worker_killed_mid_pack_is_a_clear_error(tmp_path):
    """A worker dying (OOM killer, kill -9 of one process) stops the pack with a one-line error and a
    visibly incomplete store, not a traceback."""
    export = write_export(tmp_path / "long", frames=24, height=32, width=48, seed=3)
    store = tmp_path / "s.zarr"
    proc = subprocess.Popen(lmv_pack(export, store, "--workers", "2"), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while frames_done(store, "long") < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in table.splitlines()]
    servers = {pid for pid, ppid, pgid in rows if pgid == proc.pid and ppid == proc.pid}
    workers = [pid for pid, ppid, pgid in rows if pgid == proc.pid and ppid in servers]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    # (Python's resource tracker may add a warning about the dead worker's semaphores after it)
    line = err.strip().splitlines()[0]
    assert line.startswith("error: a packing worker died") and "--workers" in line
    assert f"{store} is left incomplete" in line and "--resume" in line
    assert "Traceback" not in err
    with pytest.raises(StoreError, match="incomplete"):
        open_store(store)


def test_a_second_pack_is_refused_while_the_first_holds_the_lock(tmp_path):
    """Acceptance 2 (lock): two `lmv pack` processes on one store (the first a real `lmv pack`, the
    second this one). While the first holds the lock (frozen mid-pack with SIGSTOP), a second pack exits
    1 naming its PID, readers and capture-check
    say "being packed"; after `kill -9` of the first, --resume proceeds without any clean-up."""
    from lmv_cli.core.store.verify import verify_store

    export = write_export(tmp_path / "long", frames=12, height=32, width=48, seed=5)
    reference, store = tmp_path / "reference.zarr", tmp_path / "s.zarr"
    pack(export, reference, workers=1)
    first = subprocess.Popen(lmv_pack(export, store, "--workers", "1"), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while frames_done(store, "long") < 1 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(first.pid, signal.SIGSTOP)
        assert 0 < frames_done(store, "long") < 12, "the first pack did not stop mid-way"
        for flags in ((), ("--resume",), ("--overwrite",)):  # from this process: the lock is across processes
            second = invoke(export, store, "-j", "1", *flags)
            line = second.stderr.strip()
            assert second.exit_code == 1 and line.startswith(f"error: {store}: "), (flags, second.stderr)
            assert f"being packed by another `lmv pack` (PID {first.pid})" in line and "--resume" in line
        with pytest.raises(StoreError, match=rf"store is being packed \(PID {first.pid}\); open it once"):
            open_store(store)
        assert "being-packed" in {p.code for p in verify_store(store).errors}
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    with pytest.raises(StoreError, match="incomplete: .* finish it with `pack.resume`"):
        open_store(store)  # the OS dropped the lock with the process
    resumed = invoke(export, store, "--workers", "1", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert_same_store(reference, store)
