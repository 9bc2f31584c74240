"""Padding to the network's multiple and back: the
motion-field factor of `mv_scale` under both warp conventions (the "original" (size−1) ratios, clamped
at one pixel), its (1, 2, 1, 1) shape, dtype and device; `pad_inputs` pads to the `multiple` it is given
and rescales the merged MVs under the convention it is given; `crop_flow` rescales under its convention."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.padding import crop_flow, mv_scale, pad_inputs


def small_inputs(h: int, w: int, mv: tuple[float, float] = (1.0, 1.0)) -> NetInputs:
    """Batch 1, constant maps; every merged MV is the constant (mv_x, mv_y)."""

    def const(c: int, value: float = 0.5) -> torch.Tensor:
        return torch.full((1, c, h, w), value)

    field = torch.tensor(mv).view(1, 2, 1, 1).expand(1, 2, h, w).clone()
    frame = HistoryFrame(
        light=const(3), sky=const(3), st_color=const(3), st_alpha=const(1), color_no_st=const(3), brdf_color=const(3)
    )
    return NetInputs(
        gbuffer=const(6),
        brdf_color=const(3),
        sky_mask=const(1, 1.0),
        merged_mv=(field, field.clone(), field.clone()),
        history=(frame, frame, frame),
    )


def test_exact_factor_is_src_over_dst_as_x_then_y_of_shape_1_2_1_1():
    scale = mv_scale((3, 5), (16, 32), torch.zeros(1))
    assert scale.shape == (1, 2, 1, 1)
    assert torch.equal(scale.flatten(), torch.tensor([5 / 32, 3 / 16]))


def test_original_factor_is_size_minus_one_ratios():
    # (w−1)/(W'−1) = 8/31 for x, (h−1)/(H'−1) = 4/15 for y
    scale = mv_scale((5, 9), (16, 32), torch.zeros(1, dtype=torch.float64), convention="original")
    assert scale.shape == (1, 2, 1, 1)
    assert torch.equal(scale.flatten(), torch.tensor([8 / 31, 4 / 15], dtype=torch.float64))


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        ((2, 2), (16, 16), (1 / 15, 1 / 15)),  # two pixels span one pixel step: size−1 = 1, no clamp
        ((2, 3), (16, 16), (2 / 15, 1 / 15)),
        ((3, 2), (16, 16), (1 / 15, 2 / 15)),
        ((16, 16), (2, 2), (15.0, 15.0)),
        ((16, 16), (2, 3), (7.5, 15.0)),
        ((16, 16), (3, 2), (15.0, 7.5)),
        ((1, 1), (16, 16), (1 / 15, 1 / 15)),  # one pixel: size−1 = 0 is clamped to 1
        ((16, 16), (1, 1), (15.0, 15.0)),
    ],
)
def test_original_factor_at_one_and_two_pixel_sizes(src, dst, expected):
    scale = mv_scale(src, dst, torch.zeros(1, dtype=torch.float64), convention="original")
    assert torch.equal(scale.flatten(), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_factor_takes_the_dtype_of_like(dtype):
    scale = mv_scale((5, 7), (16, 48), torch.zeros(1, dtype=dtype))
    assert scale.dtype == dtype
    assert torch.equal(scale.flatten(), torch.tensor([7 / 48, 5 / 16], dtype=dtype))


@pytest.mark.parametrize("convention", ["exact", "original"])
def test_factor_is_built_on_the_device_of_like(convention):
    scale = mv_scale((5, 7), (16, 16), torch.empty(1, 2, 5, 7, device="meta"), convention=convention)
    assert scale.device.type == "meta"
    assert scale.shape == (1, 2, 1, 1)


def test_pad_inputs_pads_to_the_given_multiple():
    x = pad_inputs(small_inputs(5, 3), multiple=8)
    assert x.gbuffer.shape == (1, 6, 8, 8)
    assert x.merged_mv[0].shape == (1, 2, 8, 8)
    assert x.history[2].st_alpha.shape == (1, 1, 8, 8)
    # exact: MV · src/dst = (3/8, 5/8) on every pixel, the padding included
    for mv in x.merged_mv:
        assert torch.equal(mv[0, 0], torch.full((8, 8), 3 / 8))
        assert torch.equal(mv[0, 1], torch.full((8, 8), 5 / 8))


def test_pad_inputs_multiple_divides_the_size_leaves_inputs_alone():
    inputs = small_inputs(8, 16)
    assert pad_inputs(inputs, multiple=8) is inputs


@pytest.mark.parametrize(("convention", "fx", "fy"), [("exact", 9 / 16, 5 / 16), ("original", 8 / 15, 4 / 15)])
def test_pad_inputs_rescales_merged_mvs_under_its_convention(convention, fx, fy):
    x = pad_inputs(small_inputs(5, 9), 16, convention)
    assert x.gbuffer.shape == (1, 6, 16, 16)
    for mv in x.merged_mv:
        assert torch.equal(mv[0, 0], torch.full((16, 16), fx, dtype=torch.float32))
        assert torch.equal(mv[0, 1], torch.full((16, 16), fy, dtype=torch.float32))


@pytest.mark.parametrize(("convention", "fx", "fy"), [("exact", 16 / 9, 16 / 5), ("original", 15 / 8, 15 / 4)])
def test_crop_flow_rescales_under_its_convention(convention, fx, fy):
    flow = torch.ones(1, 2, 8, 8, dtype=torch.float64)  # level 1 of a 16×16 padded frame
    cropped = crop_flow(flow, 1, (5, 9), (16, 16), convention)
    assert cropped.shape == (1, 2, 3, 5)  # ceil(5/2) × ceil(9/2)
    assert torch.equal(cropped[0, 0], torch.full((3, 5), fx, dtype=torch.float64))
    assert torch.equal(cropped[0, 1], torch.full((3, 5), fy, dtype=torch.float64))
