"""capture-check's pixel rules, each on a copy of the real Cycles fixture (tests/fixtures/corridor_crop)
changed in one known way, with the expected count, severity and first frame worked out by hand.

Each test pins one rule so that a one-character change to it (`<=` → `<`, a count → `.any()`, a lost
tolerance, a severity) makes it fail: depth ≤ 0, NaN counts, the translucency composite, partial zero
velocity, velocity without gain, and negative colour.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmv_cli.core import exr
from lmv_cli.core.capture import check_export
from lmv_cli.core.capture.report import Severity

FIXTURE = Path(__file__).parent / "fixtures" / "corridor_crop"
FRAMES = 4


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    copy = tmp_path / "corridor_crop"
    shutil.copytree(FIXTURE, copy)
    return copy


def edit(path: Path, change) -> None:
    """Decode an EXR, let `change` modify its channel dict in place, write it back (same pixel types)."""
    channels = {k: np.array(v) for k, v in exr.read_channels(path).items()}
    change(channels)
    exr.write_exr(path, channels)


def problems(scene: Path, code: str):
    return [p for p in check_export(scene, workers=1).all_problems if p.code == code]


def test_the_unchanged_fixture_reports_nothing(scene: Path) -> None:
    """The baseline every other test changes one thing of."""
    assert check_export(scene, workers=1).all_problems == []


# ------------------------------------------------------------------------------------------ depth <= 0


@pytest.mark.parametrize("folder,channel", [("VelocityDepth", "B"), ("SkyDepth", "R")])
def test_depth_of_exactly_zero_is_an_error(scene: Path, folder: str, channel: str) -> None:
    """Depth 0 is as broken as negative depth: 2 zero pixels in frame 1, 1 negative one in frame 3."""
    def zero(c):
        c[channel][0, 0] = 0.0
        c[channel][5, 7] = 0.0

    def negative(c):
        c[channel][2, 2] = -1.0

    edit(scene / folder / "frame_1.EXR", zero)
    edit(scene / folder / "frame_3.EXR", negative)
    (found,) = problems(scene, "range")
    assert found.severity is Severity.ERROR
    assert found.buffer == folder and found.frame == 1 and found.path.name == "frame_1.EXR"
    assert re.search(r"\b3 pixels.*depth <= 0.*\b2 frame.*first in frame 1\b", found.message)


def test_small_positive_depth_is_fine(scene: Path) -> None:
    edit(scene / "VelocityDepth" / "frame_2.EXR", lambda c: c["B"].__setitem__((1, 1), 1e-6))
    assert problems(scene, "range") == []


# ------------------------------------------------------------------------------------------ NaN counts


def test_nan_values_are_counted_not_just_detected(scene: Path) -> None:
    """3 NaNs (two in one channel, one in another) in frame 1 and 2 in frame 2 → 5 in 2 frames."""
    def three(c):
        c["R"][1, 1] = c["R"][1, 2] = c["G"][9, 9] = np.nan

    def two(c):
        c["B"][4, 4] = c["B"][4, 5] = np.nan

    edit(scene / "BaseColor" / "frame_1.EXR", three)
    edit(scene / "BaseColor" / "frame_2.EXR", two)
    (found,) = problems(scene, "nan")
    assert found.severity is Severity.ERROR and found.frame == 1
    assert re.search(r"\b5 NaN.*\b2 frame.*first in frame 1\b", found.message)


def test_inf_values_are_counted_with_their_sign(scene: Path) -> None:
    def infs(c):
        c["R"][0, 0], c["G"][0, 1], c["B"][3, 3] = np.inf, -np.inf, np.inf

    edit(scene / "SceneColorNoST" / "frame_3.EXR", infs)
    (found,) = problems(scene, "inf")
    assert re.search(r"\b3 Inf.*\b1 frame.*first in frame 3\b", found.message)


# ------------------------------------------------------------------------------------------ composite


def _opaque_pixels(scene: Path, k: int, n: int) -> list[tuple[int, int]]:
    """n pixels of frame k where SceneColorNoST·STAlpha is clearly positive in R."""
    no_st = exr.read_channels(scene / "SceneColorNoST" / f"frame_{k}.EXR")["R"].astype(np.float64)
    alpha = exr.read_channels(scene / "STAlpha" / f"frame_{k}.EXR")["R"].astype(np.float64)
    ys, xs = np.nonzero(no_st * alpha > 0.1)
    return list(zip(ys[:n].tolist(), xs[:n].tolist()))


def test_composite_violation_is_a_counted_warning(scene: Path) -> None:
    """SceneColor = 0 where NoST·alpha > 0.1 breaks `SceneColor ≥ NoST·alpha` in 3 pixels of frame 2."""
    pixels = _opaque_pixels(scene, 2, 3)

    def darken(c):
        for y, x in pixels:
            c["R"][y, x] = 0.0

    edit(scene / "SceneColor" / "frame_2.EXR", darken)
    (found,) = problems(scene, "composite")
    assert found.severity is Severity.WARNING
    assert found.buffer == "SceneColor" and found.frame == 2 and found.path.name == "frame_2.EXR"
    assert found.message.startswith("SceneColor < SceneColorNoST·STAlpha in 3 pixels of 1 frame(s) (first in frame 2)")
    assert check_export(scene, workers=1).ok() and not check_export(scene, workers=1).ok(strict=True)


def test_composite_tolerates_float_rounding(scene: Path) -> None:
    """A deficit of 1e-4 relative (half-float rounding) is within the 1e-3·(1 + |SceneColor|) tolerance."""
    no_st = exr.read_channels(scene / "SceneColorNoST" / "frame_1.EXR")
    alpha = exr.read_channels(scene / "STAlpha" / "frame_1.EXR")["R"].astype(np.float32)

    def exact(c):
        c["R"] = (no_st["R"].astype(np.float32) * alpha * (1 - 1e-4)).astype(np.float32)

    edit(scene / "SceneColor" / "frame_1.EXR", exact)
    assert problems(scene, "composite") == []


# ------------------------------------------------------------------------------------------ velocity


def _zero_velocity(c) -> None:
    c["R"][:] = 0
    c["G"][:] = 0


def test_zero_velocity_in_some_frames_is_a_warning_naming_the_first(scene: Path) -> None:
    for k in (2, 3):
        edit(scene / "VelocityDepth" / f"frame_{k}.EXR", _zero_velocity)
    (found,) = problems(scene, "zero-velocity")
    assert found.severity is Severity.WARNING
    assert found.frame == 2 and found.path.name == "frame_2.EXR"
    assert re.search(r"velocity is zero.*\b2 frame.*first in frame 2\b", found.message)


@pytest.mark.parametrize("channel", ["R", "G"])
def test_velocity_zero_in_one_channel_only_is_not_zero(scene: Path, channel: str) -> None:
    """Only x and y both zero is 'zero velocity': a purely vertical or horizontal motion is not."""
    for k in range(FRAMES):
        edit(scene / "VelocityDepth" / f"frame_{k}.EXR", lambda c: c[channel].__setitem__(slice(None), 0))
    assert problems(scene, "zero-velocity") == []


def test_zero_velocity_in_every_frame_is_an_error(scene: Path) -> None:
    for k in range(FRAMES):
        edit(scene / "VelocityDepth" / f"frame_{k}.EXR", _zero_velocity)
    (found,) = problems(scene, "zero-velocity")
    assert found.severity is Severity.ERROR and found.frame is None
    assert found.message.startswith("velocity is zero in every frame: the velocity buffer was not written")


def test_velocity_that_does_not_beat_repeating_is_an_error(scene: Path) -> None:
    """A static shot (every frame's colour = frame 0's) with the real, nonzero velocities: repeating the
    previous frame is exact, warping with the velocity is worse, and no convention fits better."""
    for k in range(1, FRAMES):
        shutil.copy(scene / "SceneColorNoST" / "frame_0.EXR", scene / "SceneColorNoST" / f"frame_{k}.EXR")
    report = check_export(scene, workers=1)
    assert report.scenes[0].motion.best == "ndc-y-up"
    assert report.scenes[0].motion.repeat_psnr == float("inf")
    (found,) = [p for p in report.all_problems if p.code == "velocity-no-gain"]
    assert found.severity is Severity.ERROR and found.buffer == "VelocityDepth"
    assert found.message.startswith("warping with the velocity does not beat repeating the previous frame: warp ")
    assert "vs repeat inf dB (median of 3 pairs)" in found.message
    assert [p.code for p in report.all_problems if p.code.startswith("velocity")] == ["velocity-no-gain"]


def test_velocity_that_beats_repeating_gives_no_velocity_problem(scene: Path) -> None:
    assert problems(scene, "velocity-no-gain") == [] and problems(scene, "velocity-convention") == []


# ------------------------------------------------------------------------------------------ negative colour
# Below −1e-3 in any channel is physically impossible (error "negative-colour"); between −1e-3 and 0 it
# is filtering or compression noise (warning "range"). Counts are pixels, not channels. Values are
# chosen exactly representable around the threshold in half precision (the fixture's colour type).


def test_clearly_negative_colour_is_an_error_counted_per_pixel(scene: Path) -> None:
    """Frame 1: one pixel negative in two channels (one pixel), one at −0.00101; frame 2: one more."""
    def two(c):
        c["R"][0, 0] = -0.5
        c["G"][0, 0] = -0.25
        c["B"][3, 4] = -0.00101

    edit(scene / "SkyColor" / "frame_1.EXR", two)
    edit(scene / "SkyColor" / "frame_2.EXR", lambda c: c["G"].__setitem__((7, 7), -1.0))
    (found,) = problems(scene, "negative-colour")
    assert found.severity is Severity.ERROR
    assert found.buffer == "SkyColor" and found.frame == 1 and found.path.name == "frame_1.EXR"
    assert re.search(r"\b3 pixels.*below -0\.001.*\b2 frame.*first in frame 1\b", found.message)
    assert problems(scene, "range") == []  # an impossible pixel is not also a slightly negative one


def test_slightly_negative_colour_is_a_warning(scene: Path) -> None:
    """−0.00099 and −0.0005 (and a pixel with both in two channels): 3 pixels in frame 2 only."""
    def slight(c):
        c["R"][1, 1] = -0.00099
        c["G"][2, 2] = -0.0005
        c["R"][4, 4] = c["B"][4, 4] = -0.0005

    edit(scene / "SceneColorNoST" / "frame_2.EXR", slight)
    assert problems(scene, "negative-colour") == []
    (found,) = problems(scene, "range")
    assert found.severity is Severity.WARNING and found.buffer == "SceneColorNoST" and found.frame == 2
    assert re.search(r"\b3 pixels.*slightly negative.*\b1 frame.*first in frame 2\b", found.message)
    report = check_export(scene, workers=1)
    assert report.ok() and not report.ok(strict=True)


def test_zero_colour_is_fine(scene: Path) -> None:
    edit(scene / "SkyColor" / "frame_1.EXR", lambda c: c["R"].__setitem__((0, 0), 0.0))
    assert problems(scene, "range") == [] and problems(scene, "negative-colour") == []
