"""`lmv_cli.core.model.interface` pinned where mutation testing would find it unpinned (docs/testing.md "Mutation
testing"): `validate_inputs`' exact error messages word for word (the field named, the history index,
expected vs got shape/type/channels, the batch and size mismatch against the G-buffer), the entry-count
checks, which tensors are checked (all of them, in order), the returned (B, H, W), `gbuffer_channels` and
its default, `check_values` (default on; off skips the finiteness check), the single `torch.isfinite` of a
finite input (`_check_finite`), and `HistoryFrame.encoder_input`'s channel order.

Inputs are built by hand from small constant tensors (B=2, H=3, W=5: no value is ambiguous)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core.errors import InputError
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, validate_inputs
from test_mut_inputs import CountIsfinite

B, H, W = 2, 3, 5


def _t(c: int, value: float = 0.5, b: int = B, h: int = H, w: int = W) -> torch.Tensor:
    return torch.full((b, c, h, w), value)


def _frame(**over) -> HistoryFrame:
    fields = {"light": _t(3), "sky": _t(3), "st_color": _t(3), "st_alpha": _t(1), "color_no_st": _t(3),
              "brdf_color": _t(3)}
    fields.update(over)
    return HistoryFrame(**fields)


def _inputs(gbuffer_c: int = 6, **over) -> NetInputs:
    fields = {"gbuffer": _t(gbuffer_c), "brdf_color": _t(3), "sky_mask": _t(1),
              "merged_mv": (_t(2), _t(2), _t(2)), "history": (_frame(), _frame(), _frame())}
    fields.update(over)
    return NetInputs(**fields)


def _raises(inputs: NetInputs, message: str, **kw) -> None:
    with pytest.raises(InputError) as err:
        validate_inputs(inputs, **kw)
    assert str(err.value) == message


# --- valid inputs ---------------------------------------------------------------------------------------------


def test_valid_inputs_return_batch_height_width_with_the_default_six_gbuffer_channels():
    assert validate_inputs(_inputs()) == (2, 3, 5)


def test_gbuffer_channels_is_configurable():
    assert validate_inputs(_inputs(gbuffer_c=8), gbuffer_channels=8) == (2, 3, 5)
    _raises(_inputs(gbuffer_c=6), "gbuffer: expected 8 channels, got 6 (shape (2, 6, 3, 5))", gbuffer_channels=8)


# --- entry counts ---------------------------------------------------------------------------------------------


def test_history_count_message():
    _raises(_inputs(history=(_frame(), _frame())), "history: expected 3 entries (t-1, t-2, t-3), got 2")


def test_merged_mv_count_message():
    _raises(_inputs(merged_mv=(_t(2),) * 4), "merged_mv: expected 3 entries (t-1, t-2, t-3), got 4")


# --- type / rank / dtype ----------------------------------------------------------------------------------------


def test_non_tensor_is_named_by_its_type():
    _raises(_inputs(gbuffer=[[0.0]]), "gbuffer: expected a floating-point (B, 6, H, W) tensor, got list")
    _raises(_inputs(brdf_color=np.zeros((2, 3, 3, 5), np.float32)),
            "brdf_color: expected a floating-point (B, 3, H, W) tensor, got ndarray")


def test_integer_4d_tensor_is_refused_with_dtype_and_shape():
    _raises(_inputs(sky_mask=torch.zeros((2, 1, 3, 5), dtype=torch.int32)),
            "sky_mask: expected a floating-point (B, 1, H, W) tensor, got torch.int32 tensor of shape (2, 1, 3, 5)")


def test_3d_float_tensor_is_refused_with_dtype_and_shape():
    _raises(_inputs(gbuffer=torch.zeros((6, 3, 5))),
            "gbuffer: expected a floating-point (B, 6, H, W) tensor, got torch.float32 tensor of shape (6, 3, 5)")


# --- channels, each field named ----------------------------------------------------------------------------------


def test_channel_messages_name_every_top_level_field():
    _raises(_inputs(gbuffer=_t(5)), "gbuffer: expected 6 channels, got 5 (shape (2, 5, 3, 5))")
    _raises(_inputs(brdf_color=_t(4)), "brdf_color: expected 3 channels, got 4 (shape (2, 4, 3, 5))")
    _raises(_inputs(sky_mask=_t(3)), "sky_mask: expected 1 channels, got 3 (shape (2, 3, 3, 5))")
    _raises(_inputs(merged_mv=(_t(2), _t(2), _t(3))), "merged_mv[2]: expected 2 channels, got 3 (shape (2, 3, 3, 5))")
    _raises(_inputs(merged_mv=(_t(1), _t(2), _t(2))), "merged_mv[0]: expected 2 channels, got 1 (shape (2, 1, 3, 5))")


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("field,channels", [("light", 3), ("sky", 3), ("st_color", 3), ("st_alpha", 1),
                                            ("color_no_st", 3), ("brdf_color", 3)])
def test_channel_messages_name_the_history_index_and_field(k, field, channels):
    history = [_frame(), _frame(), _frame()]
    history[k] = _frame(**{field: _t(channels + 1)})
    _raises(_inputs(history=tuple(history)),
            f"history[{k}].{field}: expected {channels} channels, got {channels + 1} (shape (2, {channels + 1}, 3, 5))")


def test_first_bad_tensor_is_named_in_check_order():
    # gbuffer, brdf_color, sky_mask, merged_mv[k], then history frames field by field
    _raises(_inputs(gbuffer=_t(1), brdf_color=_t(1)), "gbuffer: expected 6 channels, got 1 (shape (2, 1, 3, 5))")
    _raises(_inputs(brdf_color=_t(1), sky_mask=_t(2)), "brdf_color: expected 3 channels, got 1 (shape (2, 1, 3, 5))")
    _raises(_inputs(sky_mask=_t(2), merged_mv=(_t(1),) * 3), "sky_mask: expected 1 channels, got 2 (shape (2, 2, 3, 5))")
    _raises(_inputs(merged_mv=(_t(2), _t(1), _t(2)), history=(_frame(sky=_t(1)),) * 3),
            "merged_mv[1]: expected 2 channels, got 1 (shape (2, 1, 3, 5))")


# --- batch and size against the G-buffer -------------------------------------------------------------------------


def test_batch_mismatch_message():
    _raises(_inputs(brdf_color=_t(3, b=1)),
            "brdf_color: batch 1 and size 3x5 differ from the G-buffer's batch 2 and size 3x5")


def test_size_mismatch_message_names_the_history_field():
    history = (_frame(), _frame(), _frame(st_alpha=_t(1, h=4, w=6)))
    _raises(_inputs(history=history),
            "history[2].st_alpha: batch 2 and size 4x6 differ from the G-buffer's batch 2 and size 3x5")


def test_mismatch_is_against_the_gbuffer_for_later_tensors():
    _raises(_inputs(merged_mv=(_t(2), _t(2), _t(2, w=7))),
            "merged_mv[2]: batch 2 and size 3x7 differ from the G-buffer's batch 2 and size 3x5")


# --- values -----------------------------------------------------------------------------------------------------


def test_nan_is_refused_by_default_and_named():
    history = (_frame(), _frame(color_no_st=_t(3)), _frame())
    history[1].color_no_st[1, 2, 0, 4] = float("nan")
    history[1].color_no_st[0, 0, 0, 0] = float("inf")
    _raises(_inputs(history=history), "history[1].color_no_st: 2 NaN/Inf values")


def test_check_values_false_skips_the_finiteness_check():
    inputs = _inputs()
    inputs.gbuffer[0, 0, 0, 0] = float("nan")
    assert validate_inputs(inputs, check_values=False) == (2, 3, 5)
    _raises(inputs, "gbuffer: 1 NaN/Inf values", check_values=True)


def test_finite_inputs_cost_one_isfinite():
    inputs = _inputs()
    with CountIsfinite() as mode:
        assert validate_inputs(inputs) == (2, 3, 5)
    assert mode.calls == 1


# --- HistoryFrame.encoder_input -------------------------------------------------------------------------------------


def test_encoder_input_channel_order_is_light_sky_st_color_st_alpha():
    frame = _frame(light=_t(3, 1.0), sky=_t(3, 2.0), st_color=_t(3, 3.0), st_alpha=_t(1, 4.0),
                   color_no_st=_t(3, 5.0), brdf_color=_t(3, 6.0))
    enc = frame.encoder_input()
    assert enc.shape == (2, 10, 3, 5)
    per_channel = enc.amax(dim=(0, 2, 3)).tolist()
    assert per_channel == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]
    assert enc.amin(dim=(0, 2, 3)).tolist() == per_channel

