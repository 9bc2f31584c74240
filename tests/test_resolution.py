"""Issue 21: learned flows in a unit that does not change with crop or frame size (`model.flow_unit:
pixels`), the working resolution chosen from the input size (`model.downscale: auto`), and the training
resolution a model file records. Old model files (no such keys) keep computing what they computed."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
import torch.nn.functional as F

from lmv_cli.core.config import ModelConfig
from lmv_cli.core.data.index import DataIndex, SceneRef
from lmv_cli.core.model.build import build_model
from lmv_cli.core.model.files import BUNDLED_PATH, load_model, read_model_file, save_model, atomic_torch_save
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import HistoryFrame, NetInputs
from lmv_cli.core.model.resolution import FLOW_UNIT_PIXELS
from lmv_cli.core.train.meta import train_resolution

from test_model_network import make_inputs

H, W = 256, 384  # the "full frame"
CROP = (32, 96, 192, 192)  # y, x, h, w: offsets on the network's 1/32 grid (fsnet_lite: 2 × 16)
MARGIN = 48  # px from the crop border where the network's receptive field still sees the border


def _smooth(t: torch.Tensor, k: int = 9) -> torch.Tensor:
    return F.avg_pool2d(F.pad(t, (k // 2,) * 4, mode="replicate"), k, stride=1)


def _frame_inputs(seed: int = 0) -> tuple[NetInputs, list[torch.Tensor]]:
    """Smooth random inputs on H×W with motion of up to ±3 px (returned in px too); the brightest opaque
    colour sits inside the crop, so the residual clamp (max over the frame) is the same for both."""
    g = torch.Generator().manual_seed(seed)

    def r(c: int) -> torch.Tensor:
        return _smooth(torch.rand(1, c, H, W, generator=g))

    history = []
    for _ in range(3):
        frame = HistoryFrame(light=r(3), sky=r(3), st_color=0.2 * r(3), st_alpha=0.5 + 0.5 * r(1), color_no_st=r(3),
                             brdf_color=0.05 + r(3))
        frame.color_no_st[..., CROP[0] + 96, CROP[1] + 96] = 5.0
        history.append(frame)
    mv_px = [_smooth(6 * (torch.rand(1, 2, H, W, generator=g) - 0.5)) for _ in range(3)]
    inputs = NetInputs(gbuffer=r(6), brdf_color=0.05 + r(3), sky_mask=(r(1) > 0.7).float(),
                       merged_mv=tuple(_to_ndc(m, H, W) for m in mv_px), history=tuple(history))
    return inputs, mv_px


def _to_ndc(mv_px: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return mv_px * torch.tensor([2.0 / w, 2.0 / h]).view(1, 2, 1, 1)


def _crop(inputs: NetInputs, mv_px: list[torch.Tensor]) -> NetInputs:
    """The crop as training cuts it: every map cut, the motion re-expressed in the crop's NDC."""
    y, x, h, w = CROP

    def cut(t: torch.Tensor) -> torch.Tensor:
        return t[..., y : y + h, x : x + w]

    history = tuple(HistoryFrame(**{f.name: cut(getattr(fr, f.name)) for f in fields(HistoryFrame)})
                    for fr in inputs.history)
    return NetInputs(gbuffer=cut(inputs.gbuffer), brdf_color=cut(inputs.brdf_color), sky_mask=cut(inputs.sky_mask),
                     merged_mv=tuple(_to_ndc(cut(m), h, w) for m in mv_px), history=history)


def _crop_vs_frame(flow_unit: str) -> tuple[float, float, float]:
    """(mean |colour difference|, mean |LMV1 difference| in px) between the crop's prediction and the
    crop of the full-frame prediction, away from the crop border; and the mean learned flow in px."""
    torch.manual_seed(1)  # PyTorch's default initialisation: every learned flow and the residual non-zero
    net = FSNet.from_preset("fsnet_lite", demodulate=False, flow_unit=flow_unit).eval()
    inputs, mv_px = _frame_inputs()
    with torch.no_grad():
        full, part = net(inputs), net(_crop(inputs, mv_px))
    y, x, h, w = CROP
    inner = (..., slice(MARGIN, h - MARGIN), slice(MARGIN, w - MARGIN))
    colour = (part.color - full.color[..., y : y + h, x : x + w])[inner].abs().mean()
    px = torch.tensor([W / 2, H / 2]).view(1, 2, 1, 1)
    full_lmv_px = (full.lmv1 * px)[..., y : y + h, x : x + w]
    part_lmv_px = part.lmv1 * torch.tensor([w / 2, h / 2]).view(1, 2, 1, 1)
    learned = (full.lmv1 - inputs.merged_mv[0]) * px
    return float(colour), float((part_lmv_px - full_lmv_px)[inner].abs().mean()), float(learned.abs().mean())


def test_pixel_flows_make_a_crop_predict_the_crop_of_the_full_frame():
    """flow_unit pixels: a network with non-zero learned flows predicts, on a 192 px crop, what it
    predicts for those pixels of the 384 px frame (up to what its receptive field sees of the crop
    border); the released NDC unit moves 2× as many pixels on the frame as on the crop."""
    colour, lmv_px, learned_px = _crop_vs_frame("pixels")
    assert learned_px > 0.5  # the flows really are learned-looking, not zero
    assert lmv_px < 0.1 and colour < 0.005  # mean over the inner 96×96 px: 0.07 px, 0.002
    ndc_colour, ndc_lmv_px, ndc_learned_px = _crop_vs_frame("ndc")
    assert ndc_learned_px > 0.5 and ndc_lmv_px > 0.5 and ndc_colour > 20 * colour  # 1.05 px, 0.25


def _lite(working_height: int | None, flow_unit: str = "pixels") -> FSNet:
    torch.manual_seed(0)
    return FSNet.from_preset("fsnet_lite", demodulate=False, flow_unit=flow_unit, working_height=working_height).eval()


def test_downscale_auto_picks_the_documented_factor():
    """factor = max(1, floor(H / working_height + 0.5)), working height = training frame height / the
    preset's factor; models that do not choose keep the fixed factor."""
    trained = {"frame": [320, 180], "crop": [128, 128]}
    lite = build_model(ModelConfig(preset="fsnet_lite", downscale="auto"), trained)
    heights = (45, 134, 135, 180, 360, 720, 1080)
    assert [lite.factor(h) for h in heights] == [1, 1, 2, 2, 4, 8, 12]
    full = build_model(ModelConfig(preset="fsnet", downscale="auto"), {"frame": [320, 180], "crop": None})
    assert [full.factor(h) for h in (180, 270, 720, 1080)] == [1, 2, 4, 6]
    for cfg, record in [(ModelConfig(preset="fsnet_lite", downscale="auto"), None),  # no record: fixed
                        (ModelConfig(preset="fsnet_lite", downscale="preset"), trained),
                        (ModelConfig(preset="fsnet_lite", downscale=3), trained)]:
        net = build_model(cfg, record)
        assert {net.factor(h) for h in heights} == {3 if cfg.downscale == 3 else 2}


@pytest.mark.parametrize("working_height, factor", [(32, 2), (16, 4), (64, 1)])
def test_the_chosen_factor_runs_the_network_there_and_composes_at_full_resolution(working_height, factor):
    """On a 64×96 input: the streamed features live at 1/2 of the (padded) network grid of 64/factor
    rows; the untrained network is the full-resolution warp whatever the factor; a constant learned
    flow c moves LMV1 by c · 64 network pixels = c · 64 · factor frame pixels."""
    net = _lite(working_height).init_as_warp_()
    inputs = make_inputs(1, 64, 96)
    with torch.no_grad():
        out, state = net.step(inputs)
    rows = 64 // factor
    assert state.streams[0].decoder[0].shape[-2] == -(-rows // 16) * 16 // 2
    torch.testing.assert_close(out.lmv1, inputs.merged_mv[0], rtol=0, atol=1e-6)
    c = torch.tensor([0.01, -0.005])
    with torch.no_grad():
        net.decoder.blocks[-1].up.bias[2:4] = torch.atanh(c)  # smv_res of level 0 = c everywhere
        out = net(inputs)
    moved_px = (out.lmv1 - inputs.merged_mv[0]) * torch.tensor([96 / 2, 64 / 2]).view(1, 2, 1, 1)
    want = (c * FLOW_UNIT_PIXELS * factor).view(1, 2, 1, 1).expand_as(moved_px)
    torch.testing.assert_close(moved_px, want, rtol=1e-4, atol=1e-4)


def test_model_files_record_and_use_the_training_resolution(tmp_path):
    """A new model file with "train_resolution" runs at the trained density; the same file without the
    record, or an explicit factor, keeps the fixed factor."""
    cfg = ModelConfig(preset="fsnet_lite", demodulate=False)
    assert (cfg.flow_unit, cfg.downscale) == ("pixels", "auto")  # what new configs get
    net = build_model(cfg)
    path = save_model(tmp_path / "m.pt", net, cfg, {"train_resolution": {"frame": [320, 180], "crop": None}})
    loaded, loaded_cfg, meta = load_model(path)
    assert loaded_cfg == cfg and meta["train_resolution"]["frame"] == [320, 180]
    assert (loaded.flow_unit, loaded.factor(1080), loaded.factor(180)) == ("pixels", 12, 2)
    assert load_model(save_model(tmp_path / "n.pt", net, cfg))[0].factor(1080) == 2


def test_old_model_files_keep_their_function(tmp_path):
    """A file written before flow_unit/downscale existed (keys absent) loads with NDC flows and the
    preset's fixed factor, and predicts exactly what an NDC network with those weights predicts."""
    torch.manual_seed(3)
    ndc = FSNet.from_preset("fsnet_lite", demodulate=False, flow_unit="ndc").eval()
    cfg = ModelConfig(preset="fsnet_lite", demodulate=False, flow_unit="ndc")
    payload = read_model_file(save_model(tmp_path / "new.pt", ndc, cfg))
    for key in ("flow_unit", "downscale"):
        del payload["model"][key]
    payload["meta"] = {"train_resolution": {"frame": [320, 180], "crop": None}}
    old, old_cfg, _ = load_model(atomic_torch_save(payload, tmp_path / "old.pt"))
    assert (old_cfg.flow_unit, old_cfg.downscale, old.factor(1080)) == ("ndc", "preset", 2)
    inputs = make_inputs(1, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(old(inputs).color, ndc(inputs).color, rtol=0, atol=0)



def test_training_records_its_frame_size_and_crop():
    """"train_resolution": the training scenes' (most common) frame size as [W, H], the crop as [w, h]."""
    scenes = (SceneRef("a.zarr", "x", 32, 180, 320), SceneRef("b.zarr", "y", 32, 180, 320),
              SceneRef("c.zarr", "z", 32, 90, 160))
    index = DataIndex(windows=(), length=11, train_scenes=scenes, val_scenes=())
    assert train_resolution(index, (128, 96)) == {"frame": [320, 180], "crop": [96, 128]}
    assert train_resolution(index, None) == {"frame": [320, 180], "crop": None}


def test_the_bundled_model_runs_its_network_at_the_density_it_was_trained_at():
    """Trained on 320x180 frames at factor 2 with pixel flows: the network sees 90 rows at any size."""
    bundled, cfg, meta = load_model(BUNDLED_PATH)
    assert (cfg.flow_unit, cfg.downscale, meta["train_resolution"]["frame"]) == ("pixels", "auto", [320, 180])
    assert [bundled.factor(h) for h in (180, 360, 720, 1080)] == [2, 4, 8, 12]
