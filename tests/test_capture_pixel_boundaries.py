"""capture-check's per-frame pixel checks (`lmv_cli.core.capture.pixels`) at their boundaries: real one-frame EXR files with hand-picked pixels on and around every rule's boundary
(float32, as `read_stack` decodes them), each expected count worked out by hand in the comments."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from lmv_cli.core.capture.motion import CONVENTIONS, DOCUMENTED
from lmv_cli.core.capture.pixels import PixelResult, PixelTask, check_pixels, conventions_for
from lmv_cli.core.exr import write_exr, write_rgba

F = np.float32
NAN, INF = float("nan"), float("inf")


def row(*values: float) -> np.ndarray:
    """One (1, len) float32 image row."""
    return np.array([values], dtype=F)


def check(tmp_path: Path, **buffers: np.ndarray) -> PixelResult:
    """Write each (C, 1, W) buffer as frame 0 of its folder (UE layout) and check that frame."""
    files = {}
    for folder, image in buffers.items():
        (tmp_path / folder).mkdir()
        files[folder] = tmp_path / folder / "frame_0.EXR"
        write_rgba(files[folder], image)
    return check_pixels(PixelTask(frame=0, files=files, prev_color=None, conventions=[DOCUMENTED]))


def grey(*values: float) -> np.ndarray:
    """A (3, 1, W) colour image with R = G = B = values."""
    return np.repeat(row(*values)[None], 3, axis=0)


def test_unreadable_buffer_is_reported_and_later_buffers_are_still_measured(tmp_path):
    (tmp_path / "SceneColor").mkdir()
    broken = tmp_path / "SceneColor" / "frame_0.EXR"
    write_exr(broken, {"A": row(1.0, 1.0)})  # a valid EXR without R, G, B
    normal = tmp_path / "WorldNormal" / "frame_0.EXR"
    normal.parent.mkdir()
    write_rgba(normal, np.stack([row(1.0, 0.0), row(0.0, 1.0), row(0.0, 0.0)]))
    task = PixelTask(frame=0, files={"SceneColor": broken, "WorldNormal": normal}, prev_color=None,
                     conventions=[DOCUMENTED])
    result = check_pixels(task)
    assert set(result.errors) == {"SceneColor"}
    assert re.search(r"R, G, B.*found: A", result.errors["SceneColor"])  # what is missing, what is there
    assert set(result.buffers) == {"WorldNormal"}  # the folder after the broken one is still checked
    assert result.buffers["WorldNormal"].out_of_range == 0


def test_translucency_composite_with_exactly_the_three_buffers(tmp_path):
    """SceneColor must be >= SceneColorNoST·STAlpha − 1e-3·(1 + |SceneColor|), per channel.
    Pixels (SC, NoST, A): (0.5, 1, 0.5) holds exactly; (0, 0.001, 1) sits exactly on the float32
    tolerance (not a violation); (0, 0.0015, 1) is 0.0005 beyond it (3 channels violate); (2, 1, 1)
    holds. Only these three folders are present: the composite needs no others."""
    result = check(
        tmp_path,
        SceneColor=grey(0.5, 0.0, 0.0, 2.0),
        SceneColorNoST=grey(1.0, 0.001, 0.0015, 1.0),
        STAlpha=row(0.5, 1.0, 1.0, 1.0)[None],
    )
    assert result.composite_violations == 3


def test_colour_below_minus_0_001_is_impossible_and_at_it_only_noise(tmp_path):
    """Per pixel the lowest channel decides: -0.0011 is impossible (error); exactly -0.001 and
    -0.0005 are slightly negative (warning); 0.2 is fine."""
    image = np.stack([row(-0.001, -0.0011, 0.3, 0.2), row(0.3, 0.3, -0.0005, 0.2), row(0.3, 0.3, 0.3, 0.2)])
    stats = check(tmp_path, SceneColor=image).buffers["SceneColor"]
    assert (stats.impossible, stats.out_of_range) == (1, 2)


def test_alpha_rule_counts_values_beyond_the_tolerance_on_either_side(tmp_path):
    """Tolerance 1e-3 each side of [0, 1]: -0.01 and 1.5 violate; -0.001, 0, 1 and 1.001 (exactly on
    the float32 tolerance) do not."""
    stats = check(tmp_path, STAlpha=row(-0.01, -0.001, 0.0, 1.0, 1.001, 1.5)[None]).buffers["STAlpha"]
    assert (stats.rule, stats.out_of_range) == ("alpha outside [0, 1]", 2)


def test_normal_rule_treats_non_finite_components_as_zero(tmp_path):
    """(1, 0, 0) is unit; (1, 0, NaN) is counted as NaN and, its NaN read as 0, as unit too;
    (0.5, 0, 0) has length 0.5 and violates."""
    image = np.stack([row(1.0, 1.0, 0.5), row(0.0, 0.0, 0.0), row(0.0, NAN, 0.0)])
    stats = check(tmp_path, WorldNormal=image).buffers["WorldNormal"]
    assert (stats.rule, stats.out_of_range, stats.nan) == ("|normal| != 1", 1, 1)


def test_ranges_are_min_max_of_finite_values_per_channel_and_nan_without_any(tmp_path):
    image = np.stack([row(0.25, NAN, 0.75, INF), row(NAN, NAN, INF, -INF), row(-INF, 2.0, 0.5, 1.0)])
    ranges = check(tmp_path, SceneColorNoST=image).buffers["SceneColorNoST"].ranges
    assert len(ranges) == 3
    assert ranges[0] == [0.25, 0.75]
    assert len(ranges[1]) == 2 and all(math.isnan(v) for v in ranges[1])
    assert ranges[2] == [0.5, 2.0]


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_velocity_counts_as_zero_motion(tmp_path, bad):
    """NaN/Inf are reported on their own; they must not make an all-zero velocity look written."""
    velocity = np.stack([row(0.0, bad, 0.0), row(0.0, 0.0, 0.0), row(100.0, 100.0, 100.0)])
    assert check(tmp_path, VelocityDepth=velocity).zero_velocity is True


def test_small_finite_velocity_is_not_zero_motion(tmp_path):
    velocity = np.stack([row(0.0, 0.0, 0.0), row(0.0, -1e-6, 0.0), row(100.0, 100.0, 100.0)])
    assert check(tmp_path, VelocityDepth=velocity).zero_velocity is False


def test_conventions_all_on_sampled_pairs_documented_elsewhere():
    sampled = {1, 4}
    assert conventions_for(4, sampled) == list(CONVENTIONS)
    assert conventions_for(2, sampled) == [DOCUMENTED]
    assert conventions_for(0, set()) == [DOCUMENTED]
