"""Issue 22, outputs of `lmv extrapolate`: runs never mix in one folder (a non-empty OUT is refused
unless --overwrite, which replaces only lmv's own files), a failed run leaves OUT as it was, an error of
the background writer thread fails the run, and the video is labelled and lasts long enough to watch."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.errors import LmvError
from lmv_cli.core.infer import video as vid
from lmv_cli.core.background import BackgroundTasks
from lmv_cli.core.infer.images import preview
from lmv_cli.core.infer.outdir import MANIFEST
from lmv_cli.core.rollout import rp_schedule
from lmv_cli.core.store import layout, open_store

runner = CliRunner()
SCENE = "occlusion"


def run(store, out, *args):
    return runner.invoke(app, ["extrapolate", str(store), "--scene", SCENE, "--out", str(out), "--device", "cpu",
                               *map(str, args)])


def stems(folder) -> list[int]:
    return sorted(int(p.stem[6:]) for p in folder.iterdir())


def predicted(frames: int, n: int) -> list[int]:
    return [t for t, p in enumerate(rp_schedule(frames, n)) if p]


def test_a_non_empty_output_folder_is_refused(eval_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run(eval_store, out, "--model", tiny_model, "--no-video")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert str(out) in result.stderr and "not empty" in result.stderr and "--overwrite" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert not list(tmp_path.glob("out.partial-*"))


def test_overwrite_replaces_the_earlier_run_and_keeps_foreign_files(eval_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    first = run(eval_store, out, "--model", tiny_model, "--frames", 2, "--no-video")
    assert first.exit_code == 0, first.output
    assert stems(out / SCENE / "exr") == predicted(12, 2)
    (out / "notes.txt").write_text("mine")
    (out / SCENE / "exr" / "my_grade.exr").write_bytes(b"not lmv's")
    again = run(eval_store, out, "--model", tiny_model, "--frames", 1, "--no-video")
    assert again.exit_code == 1 and "--overwrite" in again.stderr  # refused, nothing changed
    assert stems(out / SCENE / "png") == predicted(12, 2)

    second = run(eval_store, out, "--model", tiny_model, "--frames", 1, "--no-video", "--overwrite")
    assert second.exit_code == 0, second.output
    exrs = sorted(p.name for p in (out / SCENE / "exr").iterdir())
    assert exrs == sorted([f"frame_{t:05d}.exr" for t in predicted(12, 1)] + ["my_grade.exr"])
    assert stems(out / SCENE / "png") == predicted(12, 1)  # none of the N = 2 run's 18 frames left
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / SCENE / "exr" / "my_grade.exr").read_bytes() == b"not lmv's"
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert "notes.txt" not in listed and f"{SCENE}/exr/my_grade.exr" not in listed
    assert f"{SCENE}/png/frame_{predicted(12, 1)[0]:05d}.png" in listed
    assert not list(tmp_path.glob("out.partial-*"))


@pytest.fixture
def damaged_store(eval_store, tmp_path):
    """A copy of `eval_store` whose motion vector chunk of frame 9 is gone: reading it fails mid-run,
    after frames 3..8 were predicted and written."""
    store = tmp_path / "damaged.zarr"
    shutil.copytree(eval_store, store)
    (store / SCENE / layout.chunk_key("motion_vector", 9)).unlink()
    return store


def test_a_failed_run_leaves_no_output(damaged_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    result = run(damaged_store, out, "--model", tiny_model)
    assert result.exit_code == 1, result.output
    assert "frame 9" in result.stderr and "Traceback" not in result.output
    assert not out.exists()
    assert not list(tmp_path.glob("out.partial-*"))


def test_a_failed_overwrite_keeps_the_earlier_run(eval_store, damaged_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    assert run(eval_store, out, "--model", tiny_model, "--no-video").exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = run(damaged_store, out, "--model", tiny_model, "--frames", 3, "--no-video", "--overwrite")
    assert result.exit_code == 1, result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_writer_thread_error_fails_the_run(eval_store, tiny_model, tmp_path, monkeypatch):
    """A full disk while writing a PNG (injected: the PNG writer raises ENOSPC) fails the run with one
    line naming the file, and OUT is not created."""
    def disk_full(path, image):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("lmv_cli.core.infer.writer.write_png", disk_full)
    out = tmp_path / "out"
    result = run(eval_store, out, "--model", tiny_model, "--no-video")
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr and ".png" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob("out.partial-*"))


def test_background_writer_raises_the_first_task_error_in_the_caller():
    done = []
    writer = BackgroundTasks(depth=1)
    writer.submit(lambda: done.append(1))
    writer.submit(lambda: (_ for _ in ()).throw(OSError(errno.EACCES, "Permission denied", "/x/frame_3.png")))
    writer.submit(lambda: done.append(3))  # skipped: the writer failed before it
    with pytest.raises(LmvError, match=r"/x/frame_3.png: cannot write output: Permission denied"):
        writer.close()
    assert done == [1]
    with pytest.raises(LmvError, match="frame_3.png"):
        writer.submit(lambda: done.append(4))  # a later submit raises instead of queueing


def test_background_tasks_wait_returns_once_every_submitted_task_ran():
    import threading

    gate, done = threading.Event(), []
    tasks = BackgroundTasks(depth=2)
    tasks.submit(lambda: (gate.wait(5), done.append(1)))
    tasks.submit(lambda: done.append(2))
    threading.Timer(0.05, gate.set).start()
    tasks.wait()  # blocks until both ran, though the first was held back
    assert done == [1, 2]
    tasks.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tasks.wait()  # and raises what a task raised
    tasks.close(raise_error=False)


def test_background_writer_keeps_a_bug_as_it_is():
    writer = BackgroundTasks()
    writer.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.close()


def decode(path):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        return stream.codec_context.name, frames[0].format.name, frames


@pytest.mark.skipif(not vid.video_available(), reason="the 'video' extra (PyAV) is not installed")
@pytest.mark.parametrize("fps", [None, 4])
def test_video_is_labelled_and_lasts_seconds(eval_store, tiny_model, tmp_path, fps):
    out = tmp_path / "out"
    result = run(eval_store, out, "--model", tiny_model, *(["--video-fps", fps] if fps else []))
    assert result.exit_code == 0, result.output
    codec, pix_fmt, frames = decode(out / SCENE / "video.mp4")
    if "libx264" in __import__("av").codecs_available:
        assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert len(frames) == 12
    seconds = float((frames[-1].pts + frames[-1].duration) * frames[-1].time_base)
    if fps:
        assert seconds == pytest.approx(12 / fps, abs=0.01)
    else:
        assert seconds >= 12 * 2.0 / 24  # the default rate plays a 24-frame scene for at least 2 s

    scene = open_store(eval_store).scene(SCENE)
    down, up, band = vid.layout(scene.height, scene.width)
    h, w = scene.height // down * up, scene.width // down * up
    images = [f.to_ndarray(format="rgb24").astype(int) for f in frames]
    assert images[0].shape[:2] == (band + h + h % 2, 3 * w + 2 * vid.GAP)
    for k in range(3):  # every column is named: bright text pixels on the dark band
        label = images[0][:band, k * (w + vid.GAP):(k + 1) * w + k * vid.GAP]
        assert (label.min(axis=-1) > 180).sum() > 20 and np.median(label) < 60
    tag = (slice(0, band), slice(w // 2, w))
    r, p = 0, predicted(12, 1)[0]  # frame tags differ: "frame 0  R" vs "frame 3  P1"
    assert np.abs(images[r][tag] - images[p][tag]).mean() > 5
    truth = preview(torch.from_numpy(scene.read("scene_color", p))).repeat(up, axis=0).repeat(up, axis=1).astype(int)
    shown = images[p][band:band + h, w + vid.GAP:2 * w + vid.GAP]  # the middle column is the truth
    assert np.abs(shown - truth).mean() < 12  # codec error only


def test_contact_sheet_tiles_of_large_frames_are_averaged_down_to_an_overview():
    from lmv_cli.core.infer.images import region_overlay
    from lmv_cli.core.infer.writer import SHEET_TILE_WIDTH, sheet_tiles
    from lmv_cli.core.regions import REGION_COLORS, REGIONS

    generator = torch.Generator().manual_seed(0)
    color, truth, warp = (torch.rand(3, 90, 1930, generator=generator) for _ in range(3))
    labels = np.zeros((90, 1930), dtype=np.int64)
    labels[:, :965] = 2  # left half one region, right half another
    tiles = sheet_tiles(color, truth, warp, labels)
    assert len(tiles) == 5 and {t.shape for t in tiles} == {(22, 482, 3)}  # 1930 px → 4× smaller, ≤ 640
    assert all(t.shape[1] <= SHEET_TILE_WIDTH for t in tiles)
    # the truth tile is the preview of the 4×4 block means of the linear colour
    block_mean = truth[:, :88, :1928].reshape(3, 22, 4, 482, 4).mean(dim=(2, 4))
    np.testing.assert_array_equal(tiles[1], preview(block_mean))
    expected = np.zeros((22, 482), dtype=np.int64)
    expected[:, :241] = 2  # the region of each block's centre pixel (column 4j + 2 < 965)
    np.testing.assert_array_equal(tiles[4], region_overlay(tiles[1], expected, [REGION_COLORS[r] for r in REGIONS]))
    small = sheet_tiles(color[:, :, :600], truth[:, :, :600], warp[:, :, :600], None)
    assert len(small) == 4 and small[0].shape == (90, 600, 3)  # small frames keep their pixels
