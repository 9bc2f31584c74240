"""Warp grids and motion-field resizing: the "original" grid is float32 `linspace` bit for bit whatever torch's default dtype, it is
built on the requested device; resizing a field to its own size is a no-op, resizing samples pixel
centres (align_corners=False), and features are warped in the motion field's precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core import conventions
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.lmv import learnable_mv, resize_mv, upsample_flow, warp_feature
from lmv_cli.core.model.warp import backward_warp, base_grid


def test_original_grid_is_float32_linspace_under_float64_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        grids = {n: base_grid(n, n, dtype=torch.float32, convention="original") for n in (4, 7, 13)}
    finally:
        torch.set_default_dtype(previous)
    for n, grid in grids.items():
        expected = torch.linspace(-1.0, 1.0, n, dtype=torch.float32)
        assert torch.equal(grid[0, 0, :, 0], expected), n  # x along a row
        assert torch.equal(grid[0, :, 0, 1], expected), n  # y down a column


@pytest.mark.parametrize("convention", ["exact", "original"])
def test_grid_is_built_on_the_requested_device(convention):
    grid = base_grid(3, 5, device="meta", convention=convention)
    assert grid.device.type == "meta"
    assert grid.shape == (1, 3, 5, 2)


def test_exact_grid_in_float64_is_pixel_centres_in_float64():
    grid = base_grid(3, 5, dtype=torch.float64)
    assert grid.dtype == torch.float64
    xs = torch.tensor([(2 * i + 1) / 5 - 1 for i in range(5)], dtype=torch.float64)
    ys = torch.tensor([(2 * i + 1) / 3 - 1 for i in range(3)], dtype=torch.float64)
    assert torch.equal(grid[0, :, :, 0], xs.expand(3, 5))
    assert torch.equal(grid[0, :, :, 1], ys[:, None].expand(3, 5))


def test_resize_mv_to_its_own_size_returns_the_field_itself():
    mv = torch.randn(2, 2, 3, 5)
    assert resize_mv(mv, (3, 5)) is mv
    assert resize_mv(mv, (6, 10)).shape == (2, 2, 6, 10)


def test_resize_mv_samples_pixel_centres_without_align_corners():
    ramp = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 1, 4).expand(1, 2, 1, 4)
    # align_corners=False: output pixel d samples input position (d + 0.5)·2 − 0.5 = 0.5, 2.5
    assert torch.equal(resize_mv(ramp, (1, 2)), torch.tensor([0.5, 2.5]).view(1, 1, 1, 2).expand(1, 2, 1, 2))


def test_upsample_flow_samples_pixel_centres_without_align_corners():
    flow = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 2, 1, 2)
    # output pixel d samples (d + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped to the edge pixels
    expected = torch.tensor([0.0, 0.25, 0.75, 1.0]).view(1, 1, 1, 4).expand(1, 2, 2, 4)
    assert torch.equal(upsample_flow(flow), expected)


def test_warp_feature_defaults_to_the_exact_convention():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    mv = torch.full((1, 2, 3, 4), 0.25)  # 0.5 px right, 0.375 px down (exact: W/2 = 2, H/2 = 1.5)
    assert torch.equal(warp_feature(x, mv), backward_warp(x, mv, convention="exact"))


def test_warp_feature_samples_in_the_motion_precision():
    # A bf16 feature map is upcast to the field's float32 before sampling: normalised positions in bf16
    # (8-bit mantissa) would be off by more than half a pixel across 300 columns.
    x = torch.linspace(0.0, 256.0, 300).view(1, 1, 1, 300).to(torch.bfloat16)
    mv = torch.full((1, 2, 1, 300), 0.3 / 150.0)  # 0.3 px right
    out = warp_feature(x, mv)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, backward_warp(x.float(), mv), rtol=0, atol=0)


def test_backward_warp_names_the_bad_convention():
    with pytest.raises(ConfigError, match=r"warp: expected one of \('exact', 'original'\), got 'centre'"):
        backward_warp(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2), convention="centre")


def test_backward_warp_builds_its_grid_on_the_input_device():
    x, mv = torch.zeros(1, 1, 3, 4, device="meta"), torch.zeros(1, 2, 3, 4, device="meta")
    assert backward_warp(x, mv).device.type == "meta"


def test_backward_warp_float64_matches_the_numpy_reference_in_float64():
    # Positions follow the motion's precision: a float32 base grid would be off by ~1e-7 of the width,
    # visible on steep float64 images.
    rng = np.random.default_rng(3)
    image = rng.uniform(0.0, 1000.0, (2, 5, 7))
    mv = rng.uniform(-0.3, 0.3, (2, 5, 7))
    out = backward_warp(torch.from_numpy(image)[None], torch.from_numpy(mv)[None])[0].numpy()
    np.testing.assert_allclose(out, conventions.backward_warp_np(image, mv), rtol=0, atol=1e-9)


def test_backward_warp_of_float32_features_by_a_float64_field_is_float32():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    out = backward_warp(x, torch.zeros(1, 2, 3, 4, dtype=torch.float64))
    assert out.dtype == torch.float32 and torch.equal(out, x)


def test_learnable_mv_gathers_in_the_requested_convention():
    mv = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4) / 10
    smv0 = torch.full((1, 2, 3, 4), 0.3)
    res = torch.full((1, 2, 3, 4), 0.01, dtype=torch.float64)
    for convention in ("exact", "original"):
        out = learnable_mv(mv, smv0, res, mode="bilinear", convention=convention)
        assert out.dtype == torch.float32  # the rendered motion's precision, whatever the residual's
        expected = backward_warp(mv, smv0, padding="zeros", convention=convention) + 0.01
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)
    exact = learnable_mv(mv, smv0, res, mode="bilinear", convention="exact")
    assert not torch.allclose(exact, learnable_mv(mv, smv0, res, mode="bilinear", convention="original"))


# Traced graphs (the ONNX export path) build their base grid from `arange` instead of the eager cache, so
# H and W stay dynamic: the traced branch must keep the caller's convention, dtype and device.
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("convention", ["original", "exact"])
def test_a_traced_warp_runs_at_other_sizes_like_the_eager_one(convention):
    def warp(x, mv):
        return backward_warp(x, mv, convention=convention)

    gen = torch.Generator().manual_seed(0)
    x, mv = torch.rand(1, 2, 5, 7, dtype=torch.float64, generator=gen), torch.rand(1, 2, 5, 7, generator=gen) * 0.2
    eager = warp(x, mv.double())  # fills the eager grid cache for this size: tracing must not use it
    traced = torch.jit.trace(warp, (x, mv.double()))
    assert torch.equal(traced(x, mv.double()), eager)
    x2, mv2 = torch.rand(1, 2, 6, 9, dtype=torch.float64, generator=gen), torch.rand(1, 2, 6, 9, generator=gen) * 0.2
    assert torch.equal(traced(x2, mv2.double()), warp(x2, mv2.double()))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_a_traced_warp_builds_its_grid_on_the_inputs_device():
    x, mv = torch.empty(1, 2, 5, 7, device="meta"), torch.empty(1, 2, 5, 7, device="meta")
    assert torch.jit.trace(lambda a, b: backward_warp(a, b), (x, mv))(x, mv).device.type == "meta"
