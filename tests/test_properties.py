"""Laws that hold for every input, checked with hypothesis on small random cases: the warp of a zero
flow is the identity, an integer flow is a shift, flipping y twice changes nothing, pack then read gives
the converted EXR values, and the merged-MV chain is step-by-step reprojection."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from helpers_export import write_export
from lmv_cli.core import conventions, exr
from lmv_cli.core.inputs import merged_motion_vectors
from lmv_cli.core.model.warp import backward_warp
from lmv_cli.core.store import open_store, pack

# Derandomized: the same examples on every run (CI stays reproducible); no example database on disk.
# Under mutmut a failing example is not shrunk: the failure alone kills the mutant, and shrinking a pack
# case costs minutes (read as a timeout). mutmut's fork server imports this module before it sets
# MUTANT_UNDER_TEST, so the imported `mutmut` package is the sign.
UNDER_MUTMUT = "mutmut" in sys.modules or bool(os.environ.get("MUTANT_UNDER_TEST"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([] if UNDER_MUTMUT else [Phase.shrink])
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None, phases=PHASES)
sizes = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 11))  # (C, H, W)


def image(seed: int, c: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3, 3, (c, h, w)).astype(np.float32)


def shifted(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out(y, x) = x(clamp(y − dy), clamp(x − dx)): an integer backward warp with border clamping."""
    _, h, w = x.shape
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return x[:, ys][:, :, xs]


def ndc(dx: float, dy: float, h: int, w: int) -> np.ndarray:
    mv = np.zeros((2, h, w), np.float32)
    mv[0], mv[1] = dx / (w / 2), dy / (h / 2)
    return mv


@FAST
@given(sizes, st.integers(0, 2**16))
def test_zero_flow_warp_is_the_identity(size, seed):
    c, h, w = size
    x = image(seed, c, h, w)
    zero = np.zeros((2, h, w), np.float32)
    np.testing.assert_allclose(conventions.backward_warp_np(x, zero), x, atol=1e-6)
    for mode in ("bilinear", "nearest"):
        out = backward_warp(torch.from_numpy(x)[None], torch.from_numpy(zero)[None], mode=mode)
        np.testing.assert_allclose(out[0].numpy(), x, atol=1e-5)


@FAST
@given(sizes, st.integers(0, 2**16), st.integers(-4, 4), st.integers(-4, 4))
def test_integer_flow_is_a_shift(size, seed, dx, dy):
    c, h, w = size
    x = image(seed, c, h, w)
    mv = ndc(dx, dy, h, w)
    np.testing.assert_allclose(conventions.backward_warp_np(x, mv), shifted(x, dx, dy), atol=1e-5)
    out = backward_warp(torch.from_numpy(x)[None], torch.from_numpy(mv)[None], padding="border")
    np.testing.assert_allclose(out[0].numpy(), shifted(x, dx, dy), atol=1e-4)


@FAST
@given(sizes, st.integers(0, 2**16), st.floats(0.1, 6.0))
def test_numpy_and_torch_warps_agree_on_any_flow(size, seed, scale):
    """Two independent implementations (numpy gather by hand, torch grid_sample) of the same bilinear,
    border-clamped backward warp agree on random per-pixel flows of up to `scale` pixels."""
    c, h, w = size
    x = image(seed, c, h, w)
    px = np.random.default_rng(seed + 1).uniform(-scale, scale, (2, h, w))
    mv = ndc(0, 0, h, w) + (px / np.array([w / 2, h / 2])[:, None, None]).astype(np.float32)
    out = backward_warp(torch.from_numpy(x)[None], torch.from_numpy(mv)[None], padding="border")
    np.testing.assert_allclose(conventions.backward_warp_np(x, mv), out[0].numpy(), atol=1e-4)


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_y_flip_twice_is_the_identity_and_pixels_round_trip(h, w, seed):
    v = np.random.default_rng(seed).uniform(-2, 2, (2, h, w)).astype(np.float32)
    once = conventions.velocity_to_motion_vector(v)
    np.testing.assert_array_equal(once[0], v[0])
    np.testing.assert_array_equal(once[1], -v[1])
    np.testing.assert_array_equal(conventions.velocity_to_motion_vector(once), v)
    px = conventions.motion_vector_to_pixels(once)
    np.testing.assert_allclose(px[0], v[0] * w / 2, rtol=1e-6)
    back = conventions.pixels_to_motion_vector(px)
    np.testing.assert_allclose(back, once, rtol=1e-6, atol=1e-7)
    assert once.dtype == back.dtype == np.float32  # the store's motion_vector dtype


# --------------------------------------------------------------------------------------------- pack

SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e6, -1e6, 65504.0, 70000.0, -0.0, 1e-8])
DIRECT = {  # store buffer -> (export folder, channels, stored as float16)
    "scene_color": ("SceneColor", "RGB", True), "scene_color_no_st": ("SceneColorNoST", "RGB", True),
    "st_alpha": ("STAlpha", "R", True), "sky_color": ("SkyColor", "RGB", True),
    "base_color": ("BaseColor", "RGB", True), "metallic": ("MetallicRoughnessStencil", "R", True),
    "roughness": ("MetallicRoughnessStencil", "G", True), "specular": ("NoVSpecular", "G", True),
    "nov": ("NoVSpecular", "R", True), "world_normal": ("WorldNormal", "RGB", True),
    "depth": ("VelocityDepth", "B", False),
}  # fmt: skip
POKE_FOLDERS = ("SceneColorNoST", "SkyColor", "WorldNormal", "NoVSpecular", "VelocityDepth")


def converted(folder: Path, t: int, name: str) -> np.ndarray:
    """The stored value of a direct buffer, by the documented rule: NaN/Inf → 0, float16 buffers clamped
    to ±65504, computed from the EXR as decoded (colours are half in the file)."""
    src, channels, half = DIRECT[name]
    planes = exr.read_channels(folder / src / f"frame_{t}.EXR", channels)
    x = np.stack([p.astype(np.float64) for p in planes.values()])
    x = np.where(np.isfinite(x), x, 0.0)
    return np.clip(x, -65504, 65504).astype(np.float16) if half else x.astype(np.float32)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e6 written to a half EXR: inf, on purpose
@settings(max_examples=4, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 1000), st.lists(st.tuples(st.sampled_from(POKE_FOLDERS), st.integers(0, 3),
                                                 st.integers(0, 5), st.integers(0, 7), SPECIAL), max_size=6),
       st.sampled_from([np.float16, np.float32]))
@example(0, [("SceneColorNoST", 0, 1, 1, 1e6), ("SkyColor", 2, 0, 0, -70000.0)], np.float32)  # clamps to ±65504
def test_pack_then_read_gives_the_converted_exr_values(seed, pokes, colour_dtype):
    def poke(k, arrays):
        for folder, c, y, x, value in pokes:
            arrays[folder][c, y, x] = value

    with tempfile.TemporaryDirectory() as tmp:
        scene = write_export(Path(tmp) / "export" / "s", frames=2, height=6, width=8, seed=seed, edit=poke,
                             colour_dtype=colour_dtype)
        pack(scene.parent, Path(tmp) / "s.zarr", workers=1)
        stored = open_store(Path(tmp) / "s.zarr").scene("s")
        for t in range(2):
            frame = stored.frame(t)
            for name in DIRECT:
                np.testing.assert_array_equal(frame[name], converted(scene, t, name), err_msg=f"{name} t={t}")
            vel = exr.read_channels(scene / "VelocityDepth" / f"frame_{t}.EXR", "RG")
            vx, vy = (np.where(np.isfinite(v), v, 0).astype(np.float32) for v in vel.values())
            np.testing.assert_array_equal(frame["motion_vector"], np.stack([vx, -vy]))


# --------------------------------------------------------------------------------------------- merged MVs

H, W = 9, 12
affine = st.tuples(*[st.floats(-5, 5)] * 2, *[st.floats(-0.25, 0.25)] * 4)


def smooth_field(params) -> np.ndarray:
    """(1, 2, H, W) NDC field from pixel motion c + A·(p − centre)."""
    cx, cy, a, b, c, d = params
    ys, xs = np.meshgrid(np.arange(H) - H / 2, np.arange(W) - W / 2, indexing="ij")
    px = np.stack([cx + a * xs + b * ys, cy + c * xs + d * ys])
    return (px / np.array([W / 2, H / 2])[:, None, None]).astype(np.float32)[None]


@settings(max_examples=15, deadline=None, derandomize=True, database=None, phases=PHASES)
@given(affine, affine, affine)
def test_merged_chain_is_step_by_step_reprojection(p0, p1, p2):
    """Follow each pixel back one frame at a time (nearest motion sample, none outside the frame).
    Pixels whose sample position lies within 1e-3 px of a rounding or frame boundary are not compared
    (float32 against float64 may round them either way)."""
    fields = [smooth_field(p) for p in (p0, p1, p2)]
    got = merged_motion_vectors([torch.from_numpy(f) for f in fields])
    scale = np.array([W / 2, H / 2])
    for y in range(H):
        for x in range(W):
            pos = np.array([x, y], dtype=np.float64)
            total = fields[0][0, :, y, x].astype(np.float64) * scale
            for k in (1, 2):
                src = pos - total
                if np.any(np.abs(src - np.floor(src) - 0.5) < 1e-3):
                    break  # ambiguous nearest sample: this and later steps not compared
                ix, iy = (int(math.floor(v + 0.5)) for v in src)
                inside = 0 <= ix < W and 0 <= iy < H
                total = total + (fields[k][0, :, iy, ix].astype(np.float64) * scale if inside else 0.0)
                np.testing.assert_allclose(got[k][0, :, y, x].numpy() * scale, total, atol=1e-3,
                                           err_msg=f"M_{k} at ({y}, {x})")
