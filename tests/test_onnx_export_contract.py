"""What `lmv export-onnx` hands a consumer (`lmv_cli.core.export`): the tolerance rule of `Validation.ok`
at its boundary, reproducible example inputs in the ranges the network sees, the facts of its argument
and exporter errors, and one real legacy (torchscript) export of `fsnet_small` at 32×48: its input and
output names, symbolic dimension names, opset, and `validate_onnx` at 16×32 against onnxruntime and
PyTorch run here directly. The trained tiny model's export through the CLI is in test_export_onnx.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmv_cli.core import onnx_export as ex
from lmv_cli.core.errors import InputError
from lmv_cli.core.onnx_export import ExportError, Validation
from lmv_cli.core.model.fsnet import PRESETS, FSNet
from lmv_cli.core.model.onnx_step import INPUT_NAMES, OUTPUT_NAMES, FlatStep

EXPORT_AT = (32, 48)
RUN_AT = (16, 32)  # another size than the export's, small: onnxruntime and PyTorch both run it


@pytest.fixture(scope="module")
def net() -> FSNet:
    torch.manual_seed(0)
    return FSNet(**PRESETS["fsnet_small"]).eval()


@pytest.mark.parametrize(("color_error", "peak", "ok"), [
    (1e-3, 0.5, True),  # below a peak of 1 the tolerance stays 1e-3
    (1.0001e-3, 0.5, False),
    (0.0, 0.0, True),
    (2e-3, 2.0, True),  # above it, the tolerance scales with the peak
    (2.001e-3, 2.0, False),
    (1.5e-3, 1.5, True),
    (1.6e-3, 1.5, False),
])
def test_validation_tolerance_is_relative_to_a_peak_of_at_least_one(color_error, peak, ok):
    assert Validation((16, 32), color_error, 5.0 if ok else 0.0, peak).ok is ok


def test_example_inputs_are_reproducible_and_in_the_ranges_the_network_sees(net):
    got = ex.example_inputs(net, EXPORT_AT)
    assert tuple(got) == INPUT_NAMES
    again, other = ex.example_inputs(net, EXPORT_AT), ex.example_inputs(net, EXPORT_AT, seed=3)
    for name in INPUT_NAMES:
        assert got[name].dtype == torch.float32, name
        assert torch.equal(got[name], again[name]), name
    assert not torch.equal(got["gbuffer"], other["gbuffer"])
    # fsnet_small state blocks: 3 slots x (decoder + gbuffer) = 3 x (24+12), 3 x (32+16), 3 x (48+24)
    assert got["gbuffer"].shape == (1, 6, *EXPORT_AT) and got["history"].shape == (1, 30, *EXPORT_AT)
    assert got["state1"].shape == (1, 108, 16, 24) and got["state3"].shape == (1, 216, 4, 6)
    assert torch.equal(got["stream_valid"], torch.tensor([0.0, 1.0, 0.0]))
    assert set(got["sky_mask"].unique().tolist()) == {0.0, 1.0}
    assert got["brdf_color"].min() >= 0.01 and got["prev_brdf_color"].min() >= 0.01
    assert got["merged_mv"].abs().max() <= 0.02
    assert got["state2"].min() >= -1.0 and got["state2"].max() <= 1.0


def test_example_inputs_of_a_downscaling_model_have_pooled_state():
    torch.manual_seed(0)
    lite = FSNet.from_preset("fsnet_lite")
    assert lite.downscale == 2
    got = ex.example_inputs(lite, (64, 96))
    assert got["gbuffer"].shape[-2:] == (64, 96)
    assert [got[f"state{k}"].shape[-2:] for k in (1, 2, 3)] == [(16, 24), (8, 12), (4, 6)]


def test_an_unknown_exporter_is_named_with_the_choices(net, tmp_path):
    with pytest.raises(ExportError, match=r"'dynamo', 'torchscript'.*got 'jit'"):
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="jit")


@pytest.mark.parametrize("size", [(32, 32), (40, 48), (32, 40), (48, 48)])
def test_an_export_size_must_be_two_different_multiples_of_16(net, tmp_path, size):
    with pytest.raises(ExportError, match=rf"{size[0]}x{size[1]}.*multiples of 16"):
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="torchscript", size=size)
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize(
    ("exc", "first"),
    [
        (RuntimeError("  boom here\nsecond line"), "boom here"),
        (ValueError("bad value"), "bad value"),
        (RuntimeError("   "), "RuntimeError"),
        (torch.onnx.errors.OnnxExporterError("exporter said no"), "exporter said no"),
    ],
)
def test_an_exporter_failure_is_one_line_naming_the_exporter_opset_and_reason(net, tmp_path, monkeypatch, exc, first):
    # torch's exporter failing on a graph it cannot handle is simulated: it fails this way on real models
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(torch.onnx, "export", fail)
    path = tmp_path / "sub" / "x.onnx"
    with pytest.raises(ExportError, match=rf"torchscript.*opset 17.*{first}") as e:
        ex.export_onnx(net, path, exporter="torchscript", opset=17, size=EXPORT_AT)
    assert e.value.path == path and "\n" not in e.value.message
    assert "second line" not in e.value.message


def test_an_unreadable_graph_is_one_line_naming_the_file(tmp_path):
    pytest.importorskip("onnxruntime")
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not an onnx graph")
    with pytest.raises(ExportError, match=r"onnxruntime cannot load the graph: .+") as e:
        ex.ort_session(p)
    assert "\n" not in e.value.message and e.value.path == p


@pytest.mark.parametrize(("scene", "frame", "frames"), [(None, 3, 12), (None, 12, 12), ("translucency", 0, 12)])
def test_store_inputs_refuse_a_frame_without_history(net, eval_store, scene, frame, frames):
    name = scene or "occlusion"
    with pytest.raises(InputError, match=rf"{name}.*frame {frame}\b.*4 <= frame < {frames}") as e:
        ex.store_inputs(net, eval_store, scene, frame)
    assert str(e.value.path) == str(eval_store)


# --- one real torchscript export (kept last: it is the slow part) ------------------------------------------


@pytest.fixture(scope="module")
def exported(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "nested" / "step.onnx"
    assert ex.export_onnx(net, str(path), exporter="torchscript", size=EXPORT_AT) == path
    return path


def test_exported_graph_contract(exported):
    onnx = pytest.importorskip("onnx")  # imported here: 1 s per test worker at collection otherwise
    model = onnx.load(str(exported))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [ex.DEFAULT_OPSET]

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {v.name: dims(v) for v in model.graph.input}
    outputs = {v.name: dims(v) for v in model.graph.output}
    assert tuple(inputs) == INPUT_NAMES and tuple(outputs) == OUTPUT_NAMES
    assert inputs["gbuffer"] == [1, 6, "height", "width"]
    assert inputs["stream_valid"] == [3]
    assert inputs["state2"] == [1, 144, "height_2", "width_2"]
    assert outputs["color"][2:] == ["height", "width"]
    assert outputs["stream3"] == [1, 72, "height_3", "width_3"]
    assert "GridSample" in {n.op_type for n in model.graph.node}


def test_validate_onnx_at_another_size(net, exported):
    ort = pytest.importorskip("onnxruntime")
    inputs = ex.example_inputs(net, RUN_AT, seed=1)
    v = ex.validate_onnx(net, exported, inputs)
    assert v.size == RUN_AT
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {k: t.numpy() for k, t in inputs.items()})
    with torch.no_grad():
        want = [t.numpy() for t in FlatStep(net)(*inputs.values())]
    errors = [float(np.abs(a - b).max()) for a, b in zip(got, want, strict=True)]
    assert v.color_error == errors[0]
    assert v.max_error == max(errors)
    assert v.color_peak == float(np.abs(want[0]).max())
    assert v.max_error > 0 and v.color_peak > 0
    assert v.ok
