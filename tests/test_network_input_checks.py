"""What `validate_inputs` tells a caller of the network (`lmv_cli.core.model.interface`): each error names
the field (with its history index) and carries expected vs got shape, type or channels, or the batch and
size against the G-buffer's; the entry-count checks; every tensor is checked and the first bad one in
G-buffer, BRDF colour, sky mask, MVs, history order is named; the returned (B, H, W); `gbuffer_channels`
and its default; `check_values` (default on; off skips the finiteness check); and
`HistoryFrame.encoder_input`'s channel order.

Inputs are built by hand from small constant tensors (B=2, H=3, W=5: no value is ambiguous)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lmv_cli.core.errors import InputError
from lmv_cli.core.model.interface import HistoryFrame, NetInputs, validate_inputs

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


def _raises(inputs: NetInputs, field: str, *facts: str, **kw) -> None:
    """`validate_inputs` refuses `inputs` with a message that starts with the field and carries `facts` in order."""
    pattern = re.escape(field) + r"(?![\w\[.])" + "".join(".*" + re.escape(fact) for fact in facts)
    with pytest.raises(InputError, match=pattern):
        validate_inputs(inputs, **kw)


# --- valid inputs ---------------------------------------------------------------------------------------------


def test_valid_inputs_return_batch_height_width_with_the_default_six_gbuffer_channels():
    assert validate_inputs(_inputs()) == (2, 3, 5)


def test_gbuffer_channels_is_configurable():
    assert validate_inputs(_inputs(gbuffer_c=8), gbuffer_channels=8) == (2, 3, 5)
    _raises(_inputs(gbuffer_c=6), "gbuffer", "8 channels", "got 6", "(2, 6, 3, 5)", gbuffer_channels=8)


# --- entry counts ---------------------------------------------------------------------------------------------


def test_history_count_message():
    _raises(_inputs(history=(_frame(), _frame())), "history", "3 entries", "got 2")


def test_merged_mv_count_message():
    _raises(_inputs(merged_mv=(_t(2),) * 4), "merged_mv", "3 entries", "got 4")


# --- type / rank / dtype ----------------------------------------------------------------------------------------


def test_non_tensor_is_named_by_its_type():
    _raises(_inputs(gbuffer=[[0.0]]), "gbuffer", "floating-point", "(B, 6, H, W)", "got list")
    _raises(_inputs(brdf_color=np.zeros((2, 3, 3, 5), np.float32)),
            "brdf_color", "floating-point", "(B, 3, H, W)", "got ndarray")


def test_integer_4d_tensor_is_refused_with_dtype_and_shape():
    _raises(_inputs(sky_mask=torch.zeros((2, 1, 3, 5), dtype=torch.int32)),
            "sky_mask", "floating-point", "(B, 1, H, W)", "torch.int32", "(2, 1, 3, 5)")


def test_3d_float_tensor_is_refused_with_dtype_and_shape():
    _raises(_inputs(gbuffer=torch.zeros((6, 3, 5))),
            "gbuffer", "floating-point", "(B, 6, H, W)", "torch.float32", "(6, 3, 5)")


# --- channels, each field named ----------------------------------------------------------------------------------


def test_channel_messages_name_every_top_level_field():
    _raises(_inputs(gbuffer=_t(5)), "gbuffer", "6 channels", "got 5", "(2, 5, 3, 5)")
    _raises(_inputs(brdf_color=_t(4)), "brdf_color", "3 channels", "got 4", "(2, 4, 3, 5)")
    _raises(_inputs(sky_mask=_t(3)), "sky_mask", "1 channels", "got 3", "(2, 3, 3, 5)")
    _raises(_inputs(merged_mv=(_t(2), _t(2), _t(3))), "merged_mv[2]", "2 channels", "got 3", "(2, 3, 3, 5)")
    _raises(_inputs(merged_mv=(_t(1), _t(2), _t(2))), "merged_mv[0]", "2 channels", "got 1", "(2, 1, 3, 5)")


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("field,channels", [("light", 3), ("sky", 3), ("st_color", 3), ("st_alpha", 1),
                                            ("color_no_st", 3), ("brdf_color", 3)])
def test_channel_messages_name_the_history_index_and_field(k, field, channels):
    history = [_frame(), _frame(), _frame()]
    history[k] = _frame(**{field: _t(channels + 1)})
    _raises(_inputs(history=tuple(history)),
            f"history[{k}].{field}", f"{channels} channels", f"got {channels + 1}", f"(2, {channels + 1}, 3, 5)")


def test_first_bad_tensor_is_named_in_check_order():
    # gbuffer, brdf_color, sky_mask, merged_mv[k], then history frames field by field
    _raises(_inputs(gbuffer=_t(1), brdf_color=_t(1)), "gbuffer", "6 channels", "got 1", "(2, 1, 3, 5)")
    _raises(_inputs(brdf_color=_t(1), sky_mask=_t(2)), "brdf_color", "3 channels", "got 1", "(2, 1, 3, 5)")
    _raises(_inputs(sky_mask=_t(2), merged_mv=(_t(1),) * 3), "sky_mask", "1 channels", "got 2", "(2, 2, 3, 5)")
    _raises(_inputs(merged_mv=(_t(2), _t(1), _t(2)), history=(_frame(sky=_t(1)),) * 3),
            "merged_mv[1]", "2 channels", "got 1", "(2, 1, 3, 5)")


# --- batch and size against the G-buffer -------------------------------------------------------------------------


def test_batch_mismatch_message():
    _raises(_inputs(brdf_color=_t(3, b=1)),
            "brdf_color", "batch 1", "size 3x5", "G-buffer", "batch 2", "size 3x5")


def test_size_mismatch_message_names_the_history_field():
    history = (_frame(), _frame(), _frame(st_alpha=_t(1, h=4, w=6)))
    _raises(_inputs(history=history),
            "history[2].st_alpha", "batch 2", "size 4x6", "G-buffer", "batch 2", "size 3x5")


def test_mismatch_is_against_the_gbuffer_for_later_tensors():
    _raises(_inputs(merged_mv=(_t(2), _t(2), _t(2, w=7))),
            "merged_mv[2]", "batch 2", "size 3x7", "G-buffer", "batch 2", "size 3x5")


# --- values -----------------------------------------------------------------------------------------------------


def test_nan_is_refused_by_default_and_named():
    history = (_frame(), _frame(color_no_st=_t(3)), _frame())
    history[1].color_no_st[1, 2, 0, 4] = float("nan")
    history[1].color_no_st[0, 0, 0, 0] = float("inf")
    _raises(_inputs(history=history), "history[1].color_no_st", "2 NaN/Inf")


def test_check_values_false_skips_the_finiteness_check():
    inputs = _inputs()
    inputs.gbuffer[0, 0, 0, 0] = float("nan")
    assert validate_inputs(inputs, check_values=False) == (2, 3, 5)
    _raises(inputs, "gbuffer", "1 NaN/Inf", check_values=True)



# --- HistoryFrame.encoder_input -------------------------------------------------------------------------------------


def test_encoder_input_channel_order_is_light_sky_st_color_st_alpha():
    frame = _frame(light=_t(3, 1.0), sky=_t(3, 2.0), st_color=_t(3, 3.0), st_alpha=_t(1, 4.0),
                   color_no_st=_t(3, 5.0), brdf_color=_t(3, 6.0))
    enc = frame.encoder_input()
    assert enc.shape == (2, 10, 3, 5)
    per_channel = enc.amax(dim=(0, 2, 3)).tolist()
    assert per_channel == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]
    assert enc.amin(dim=(0, 2, 3)).tolist() == per_channel

