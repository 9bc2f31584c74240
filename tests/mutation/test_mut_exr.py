"""`lmv_cli.core.exr` pinned where mutation testing found it unpinned (docs/testing.md "Mutation testing"):
`write_rgba`'s channel padding, its dtype rule and the file named in its errors."""

from __future__ import annotations

import numpy as np
import pytest

from lmv_cli.core import exr
from lmv_cli.core.errors import ExrError


def test_write_rgba_pads_a_single_channel_with_zero_colour_and_the_given_alpha(tmp_path):
    grey = np.array([[[0.5, 2.0], [-1.0, 8.0]]], dtype=np.float32)  # (1, 2, 2)
    exr.write_rgba(tmp_path / "g.exr", grey, alpha=0.25)
    chans = exr.read_channels(tmp_path / "g.exr")
    np.testing.assert_array_equal(chans["R"], grey[0])
    np.testing.assert_array_equal(chans["G"], np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(chans["B"], np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(chans["A"], np.full((2, 2), 0.25, np.float32))


@pytest.mark.parametrize("channels", [0, 5])
def test_write_rgba_refuses_other_channel_counts_naming_the_file(tmp_path, channels):
    path = tmp_path / "bad.exr"
    with pytest.raises(ExrError, match=f"bad.exr.*expected 1 to 4 channels, got {channels}") as caught:
        exr.write_rgba(path, np.zeros((channels, 2, 2), np.float32))
    assert caught.value.path == path
    assert not path.exists()


@pytest.mark.parametrize("dtype", [np.uint32, np.float64, np.int16])
def test_write_rgba_stores_other_dtypes_as_float(tmp_path, dtype):
    # uint32 is a valid EXR channel type (UINT), but an image is colour: write_rgba stores it as float.
    image = np.arange(12, dtype=dtype).reshape(3, 2, 2)
    exr.write_rgba(tmp_path / "i.exr", image)
    assert exr.read_info(tmp_path / "i.exr").channels == dict.fromkeys("ABGR", "float")
    np.testing.assert_array_equal(exr.read_stack(tmp_path / "i.exr", "RGB"), image.astype(np.float32))
