"""FSNet's sizes and resolutions: the
default `head_channels` is the released 32; a wrong number of encoder or decoder widths is refused;
`at_network` with `downscale=2` takes 2×2 means (the last row/column of an odd size averages what it
covers), pads by edge replication to multiples of 16 and rescales
only motion fields to the padded frame; `_upsample` brings the residual and the learned flows back
bilinearly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.model.decoder import DecoderResult
from lmv_cli.core.model.fsnet import PRESETS, FSNet


def lite() -> FSNet:
    torch.manual_seed(0)
    return FSNet.from_preset("fsnet_lite")


def ramp(c: int, h: int, w: int) -> torch.Tensor:
    """(1, c, h, w) with value 100·channel + 10·row + column."""
    ch, i, j = torch.meshgrid(torch.arange(c), torch.arange(h), torch.arange(w), indexing="ij")
    return (100 * ch + 10 * i + j).float().unsqueeze(0)


def replicate_to_16(small: torch.Tensor) -> torch.Tensor:
    """`small` (1, c, h, w) extended to 16×16 by repeating its last row and column (by indexing)."""
    h, w = small.shape[-2:]
    rows = torch.tensor([min(i, h - 1) for i in range(16)])
    cols = torch.tensor([min(j, w - 1) for j in range(16)])
    return small[:, :, rows][:, :, :, cols]


def test_default_head_channels_is_the_released_32():
    counts = FSNet().parameter_counts()
    assert counts["decoder"] == 1_835_799
    assert sum(counts.values()) == 2_076_641


@pytest.mark.parametrize(
    "change",
    [
        dict(decoder_mid=(48, 64, 48)),  # 3 decoder mid widths, the rest right
        dict(decoder_out=(48, 32, 24)),
        dict(widths=(8, 12, 16, 24)),  # 4 encoder widths, the decoder right
        dict(history_channels=9),
    ],
)
def test_wrong_numbers_of_widths_are_refused(change):
    with pytest.raises(ConfigError, match="FSNet needs history_channels=10, 5 encoder widths and 4 decoder widths"):
        FSNet(**{**PRESETS["fsnet_small"], **change})


def test_odd_height_last_row_averages_what_it_covers():
    """(3, 4) → (2, 2): rows 0–1 averaged, row 2 alone; then replicated to 16×16."""
    x = ramp(2, 3, 4)
    got = lite().at_network(x)
    small = torch.tensor([[5.5, 7.5], [20.5, 22.5]])
    want = replicate_to_16(torch.stack((small, small + 100)).unsqueeze(0))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_odd_width_last_column_averages_what_it_covers():
    """(4, 3) → (2, 2): columns 0–1 averaged, column 2 alone."""
    x = ramp(2, 4, 3)
    got = lite().at_network(x)
    small = torch.tensor([[5.5, 7.0], [25.5, 27.0]])
    want = replicate_to_16(torch.stack((small, small + 100)).unsqueeze(0))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_odd_both_sizes():
    """(5, 5) → (3, 3): the last row and column average what they cover, the corner is itself."""
    got = lite().at_network(ramp(1, 5, 5))
    small = torch.tensor([[5.5, 7.5, 9.0], [25.5, 27.5, 29.0], [40.5, 42.5, 44.0]])
    torch.testing.assert_close(got, replicate_to_16(small.view(1, 1, 3, 3)), rtol=0, atol=1e-5)


def test_even_sizes_are_the_2x2_means_not_corner_samples():
    got = lite().at_network(ramp(1, 4, 4))
    small = torch.tensor([[5.5, 7.5], [25.5, 27.5]])
    torch.testing.assert_close(got, replicate_to_16(small.view(1, 1, 2, 2)), rtol=0, atol=1e-5)


def test_motion_is_rescaled_to_the_padded_frame_other_maps_are_not():
    """(4, 6) → (2, 3) at the network → padded (16, 16): an NDC motion becomes mv · (3/16, 2/16)."""
    mv = torch.stack((torch.full((4, 6), 1.6), torch.full((4, 6), 0.8))).unsqueeze(0)
    net = lite()
    moved = net.at_network(mv, motion=True)
    torch.testing.assert_close(moved[0, 0], torch.full((16, 16), 0.3), rtol=0, atol=1e-6)
    torch.testing.assert_close(moved[0, 1], torch.full((16, 16), 0.1), rtol=0, atol=1e-6)
    plain = net.at_network(mv)
    torch.testing.assert_close(plain, mv[..., :1, :1].expand(1, 2, 16, 16), rtol=0, atol=1e-6)


def test_downscale_one_returns_the_map_itself():
    x = ramp(1, 3, 5)
    assert FSNet(**{**PRESETS["fsnet_small"]}).at_network(x, motion=True) is x


def test_upsample_is_bilinear_for_residual_and_flows():
    """Network frame 1×2, full frame 2×4: a residual [0, 4] becomes [0, 1, 3, 4] on each row (pixel
    centres, edge-clamped), not nearest [0, 0, 4, 4]; with smv0 = 0 the learnable MV is the rendered MV
    plus the upsampled smv_res."""
    net = lite()
    row = torch.tensor([0.0, 4.0]).view(1, 1, 1, 2)
    residual = F.pad(row.expand(1, 3, 1, 2), (0, 14, 0, 15))  # padded network frame, 16×16
    zero = torch.zeros(1, 2, 1, 2)
    smv_res = torch.cat((row, -row), dim=1) / 8  # x: [0, 0.5], y: [0, -0.5]
    flows = [(1, torch.zeros(1, 2, 1, 1)), (0, zero), (0, smv_res), (0, zero), (0, zero)]
    decoded = DecoderResult(residual, torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16), flows, ())
    mv0 = torch.zeros(1, 2, 2, 4)
    mv0[:, 0] = 0.25
    out = net._upsample(decoded, mv0, 2)  # fsnet_lite: the network at half resolution, flows in NDC
    up = torch.tensor([0.0, 1.0, 3.0, 4.0]).expand(2, 4)
    assert out.residual.shape == (1, 3, 2, 4)
    for c in range(3):
        torch.testing.assert_close(out.residual[0, c], up, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.lmv1[0, 0], 0.25 + up / 8, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.lmv1[0, 1], -up / 8, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.lmv2, mv0, rtol=0, atol=1e-6)
