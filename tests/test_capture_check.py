"""`lmv capture-check` on copies of a real Cycles scene (tests/fixtures/corridor_crop), each copy
broken in one way: every problem must be reported with exit 1 and the right file named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core import exr
from lmv_cli.core.capture import check_export
from lmv_cli.core.capture.folders import format_ranges
from lmv_cli.core.errors import CaptureError

FIXTURE = Path(__file__).parent / "fixtures" / "corridor_crop"
runner = CliRunner()


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    copy = tmp_path / "corridor_crop"
    shutil.copytree(FIXTURE, copy)
    return copy


def run(*args: str):
    return runner.invoke(app, ["capture-check", *args])


def rewrite(path: Path, edit, **kwargs) -> None:
    """Decode an EXR, let `edit` change its channel dict, write it back."""
    chans = {k: np.array(v) for k, v in exr.read_channels(path).items()}
    exr.write_exr(path, edit(chans) or chans, **kwargs)


def codes(report) -> set[str]:
    return {p.code for p in report.all_problems}


def test_clean_real_scene_passes_and_warp_beats_repeat(scene: Path) -> None:
    result = run(str(scene))
    assert result.exit_code == 0, result.output
    report = check_export(scene)
    (s,) = report.scenes
    assert (s.frames, s.width, s.height) == (4, 96, 64)
    assert s.motion.best == "ndc-y-up"
    assert s.motion.warp_psnr > s.motion.repeat_psnr + 5
    assert report.all_problems == []


def test_folder_of_scenes(scene: Path) -> None:
    shutil.copytree(scene, scene.parent / "second")
    report = check_export(scene.parent)
    assert [s.name for s in report.scenes] == ["corridor_crop", "second"]
    assert report.ok()


def test_deleted_frame(scene: Path) -> None:
    (scene / "BaseColor" / "frame_2.EXR").unlink()
    result = run(str(scene))
    assert result.exit_code == 1
    assert "BaseColor/frame_2.EXR: missing 1 frame(s): 2 (has 3, expected 4)" in result.output


def test_zero_padded_name_mixed_with_plain(scene: Path) -> None:
    (scene / "NoVSpecular" / "frame_3.EXR").rename(scene / "NoVSpecular" / "frame_003.EXR")
    result = run(str(scene))
    assert result.exit_code == 1
    assert "NoVSpecular/frame_003.EXR: zero-padded frame number (UE writes frame_3.EXR" in result.output


def test_missing_buffer_folder(scene: Path) -> None:
    shutil.rmtree(scene / "WorldNormal")
    result = run(str(scene))
    assert result.exit_code == 1
    assert "missing buffer folder WorldNormal/" in result.output


def test_truncated_file(scene: Path) -> None:
    path = scene / "SceneColor" / "frame_1.EXR"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for args in ([], ["--quick"]):
        result = run(str(scene), *args)
        assert result.exit_code == 1
        assert "SceneColor/frame_1.EXR: truncated" in result.output


def test_text_file_named_exr(scene: Path) -> None:
    (scene / "STAlpha" / "frame_0.EXR").write_text("not an image\n")
    result = run(str(scene))
    assert result.exit_code == 1
    assert "STAlpha/frame_0.EXR: not an EXR file" in result.output


def test_one_frame_with_another_resolution(scene: Path) -> None:
    rewrite(scene / "SkyColor" / "frame_2.EXR", lambda c: {k: v[::2, ::2].copy() for k, v in c.items()})
    result = run(str(scene))
    assert result.exit_code == 1
    assert "SkyColor/frame_2.EXR: resolution 48x32, expected 96x64" in result.output


def test_nan_and_inf_pixels(scene: Path) -> None:
    def poison(c):
        c["R"][3, 4] = np.nan
        c["G"][5, 6] = np.inf
        c["B"][7, 8] = -np.inf

    rewrite(scene / "SceneColorNoST" / "frame_2.EXR", poison)
    report = check_export(scene)
    found = {p.code: p for p in report.errors}
    assert {"nan", "inf"} <= found.keys()
    assert found["nan"].path.name == "frame_2.EXR" and found["nan"].frame == 2
    assert "1 NaN values in 1 frame(s), first in frame 2" in found["nan"].message
    assert "2 Inf values" in found["inf"].message
    assert run(str(scene)).exit_code == 1


def test_velocity_with_y_flipped_names_the_convention(scene: Path) -> None:
    for k in range(4):
        rewrite(scene / "VelocityDepth" / f"frame_{k}.EXR", lambda c: c.update(G=-c["G"]))
    result = run(str(scene))
    assert result.exit_code == 1
    assert "velocity does not follow the documented convention" in result.output
    assert "best fit: ndc-y-down" in result.output
    assert check_export(scene).scenes[0].motion.best == "ndc-y-down"


def test_all_zero_velocity(scene: Path) -> None:
    def zero(c):
        c["R"][:] = 0
        c["G"][:] = 0

    for k in range(4):
        rewrite(scene / "VelocityDepth" / f"frame_{k}.EXR", zero)
    result = run(str(scene))
    assert result.exit_code == 1
    assert "velocity is zero in every frame: the velocity buffer was not written" in result.output


def test_exr_without_rgb_lists_channels_found(scene: Path) -> None:
    rewrite(scene / "BaseColor" / "frame_1.EXR", lambda c: {"X": c["R"], "Y": c["G"], "Z": c["B"]})
    result = run(str(scene))
    assert result.exit_code == 1
    assert "BaseColor/frame_1.EXR: missing channel(s) R, G, B (needs R, G, B); channels found: X, Y, Z" in result.output


def test_dwaa_world_normal_is_a_warning(scene: Path) -> None:
    for k in range(4):
        rewrite(scene / "WorldNormal" / f"frame_{k}.EXR", lambda c: None, compression="DWAA")
    result = run(str(scene))
    assert result.exit_code == 0, result.output
    assert "lossy DWAA compression damages normal data" in result.output
    assert run(str(scene), "--strict").exit_code == 1


def test_unnumbered_and_extra_files(scene: Path) -> None:
    shutil.copy(scene / "BaseColor" / "frame_0.EXR", scene / "BaseColor" / "frame_final.EXR")
    (scene / "BaseColor" / "notes.txt").write_text("x")
    report = check_export(scene, quick=True)
    assert {"unnumbered-frame", "extra-file"} <= codes(report)
    assert not report.ok()


def test_every_problem_is_reported_not_the_first(scene: Path) -> None:
    (scene / "BaseColor" / "frame_2.EXR").unlink()
    shutil.rmtree(scene / "SkyDepth")
    (scene / "STAlpha" / "frame_0.EXR").write_text("x")
    assert {"missing-frame", "missing-buffer", "unreadable"} <= codes(check_export(scene))


def test_json_schema(scene: Path) -> None:
    (scene / "BaseColor" / "frame_2.EXR").unlink()
    result = run(str(scene), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["schema"] == "lmv.capture-check/1" and doc["ok"] is False
    assert doc["summary"] == {"scenes": 1, "frames": 4, "errors": 1, "warnings": 0}
    (s,) = doc["scenes"]
    assert s["motion"]["best"] == "ndc-y-up" and s["motion"]["gain_db"] > 5
    (problem,) = s["problems"]
    assert problem["code"] == "missing-frame" and problem["buffer"] == "BaseColor" and problem["frame"] == 2
    assert set(s["ranges"]["VelocityDepth"]) == {"R", "G", "B"}


def test_quick_reads_headers_only(scene: Path) -> None:
    rewrite(scene / "SceneColorNoST" / "frame_2.EXR", lambda c: c["R"].__setitem__((0, 0), np.nan))
    report = check_export(scene, quick=True)
    assert report.ok() and report.scenes[0].motion is None and report.scenes[0].ranges == {}


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no scene found"):
        check_export(tmp_path)
    with pytest.raises(CaptureError, match="no such folder"):
        check_export(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CaptureError, match="not a folder"):
        check_export(tmp_path / "file")
    result = run(str(tmp_path))
    assert result.exit_code == 1 and "no scene found" in result.stderr


def test_format_ranges() -> None:
    assert format_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"


def test_clearly_negative_colour_is_an_error_and_slightly_negative_a_warning(scene: Path) -> None:
    """A block of -5 is physically impossible (error naming file and frame); values within 1e-3 of
    zero are filtering noise (warning)."""
    def block(c):
        c["G"][10:14, 20:24] = -5.0

    def noise(c):
        c["B"][0, 0] = -5e-4

    rewrite(scene / "SceneColor" / "frame_1.EXR", block)
    rewrite(scene / "SkyColor" / "frame_3.EXR", noise)
    report = check_export(scene)
    errors = {p.code: p for p in report.errors}
    assert errors["negative-colour"].path == scene / "SceneColor" / "frame_1.EXR"
    assert errors["negative-colour"].frame == 1 and errors["negative-colour"].buffer == "SceneColor"
    assert "16 pixels with colour below -0.001 (physically impossible) in 1 frame(s), first in frame 1" \
        in errors["negative-colour"].message
    warnings = [p for p in report.warnings if p.code == "range" and p.buffer == "SkyColor"]
    assert len(warnings) == 1 and warnings[0].frame == 3 and "slightly negative colour" in warnings[0].message
    assert not [p for p in report.errors if p.buffer == "SkyColor"]
    assert run(str(scene)).exit_code == 1
