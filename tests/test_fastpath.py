"""The fast path: precision/backend resolution from the CPU's flags, and every predictor (PyTorch fp32 and
bf16, ONNX Runtime, OpenVINO) driving the one `Rollout` on a real store with the results of the network."""

from __future__ import annotations

import pytest
import torch

from lmv_cli.core.errors import ConfigError
from lmv_cli.core.evaluate import OVERALL, evaluate_scene, read_frame, summarize
from lmv_cli.core.infer.backends import GraphPredictor, TorchPredictor, exported_graph, prepare
from lmv_cli.core.infer.select import Choice, backend_available, cpu_flags, native_bf16, resolve
from lmv_cli.core.model.files import BUNDLED_PATH, load_model
from lmv_cli.core.rollout import Rollout
from lmv_cli.core.store.reader import open_store

AVX2 = frozenset({"fma", "avx2", "f16c"})
AMX = AVX2 | {"avx512f", "amx_bf16", "amx_tile"}
CPU = torch.device("cpu")


def test_cpu_flags_from_a_cpuinfo_file(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert not native_bf16(cpu_flags(info)) and native_bf16(frozenset({"avx512_bf16"}))


def test_auto_precision_follows_native_bf16():
    assert resolve("auto", "torch", "cpu", flags=AVX2).precision == "fp32"
    amx = resolve("auto", "torch", "cpu", flags=AMX)
    assert (amx.precision, amx.channels_last) == ("bf16", True)
    assert resolve("bf16", "torch", "cpu", flags=AVX2).precision == "bf16"  # forced: allowed, emulated


def test_auto_backend_is_an_installed_one():
    choice = resolve("auto", "auto", "cpu", flags=AVX2)
    pytest.importorskip("openvino")
    assert choice.backend == "openvino" and "auto" in choice.describe()


def test_auto_backend_stays_on_torch_for_a_downsampled_network():
    """`fsnet_lite` (the bundled model's preset) runs no faster in OpenVINO than in PyTorch with cached
    encodings (docs/performance.md#choosing-precision-and-backend), so `auto` keeps it on PyTorch; forcing OpenVINO still works."""
    choice = resolve("auto", "auto", "cpu", flags=AVX2, graph_pays=False)
    assert choice.backend == "torch" and "downsampled network" in choice.describe()
    assert resolve("auto", "torch", "cpu", flags=AVX2, graph_pays=False).backend == "torch"
    if backend_available("openvino"):
        assert resolve("auto", "openvino", "cpu", flags=AVX2, graph_pays=False).backend == "openvino"


@pytest.mark.parametrize(
    "precision, backend, flags, message",
    [
        ("fp64", "auto", AVX2, "precision: expected one of"),
        ("auto", "tensorrt", AVX2, "backend: expected one of"),
        ("bf16", "onnxruntime", AMX, "fp32 only"),
        ("fp16", "openvino", AMX, "not fp16"),
        ("bf16", "openvino", AVX2, "only on CPUs with AMX-BF16"),
    ],
)
def test_impossible_choices_are_config_errors(precision, backend, flags, message):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    with pytest.raises(ConfigError, match=message):
        resolve(precision, backend, "cpu", flags=flags)


def test_cuda_refuses_cpu_backends():
    with pytest.raises(ConfigError, match="CPU only"):
        resolve("fp16", "openvino", "cuda")


def _rollout_colors(model, store_path, frames: int = 8) -> list[torch.Tensor]:
    """Predicted colours of an R P R P… rollout over the first scene's first `frames` frames."""
    scene = next(iter(open_store(store_path)))
    rollout, colors = Rollout(model), []
    with torch.no_grad():
        for t in range(frames):
            frame = read_frame(scene, t)
            if t >= 3 and t % 2 == 1:
                out = rollout.predict(frame)
                colors.append(out.color)
                rollout.history.advance_predicted(frame, out)
            else:
                rollout.history.advance_rendered(frame)
    return colors


def test_torch_fp32_predictor_is_the_network(tiny_model, eval_store):
    net, _, _ = load_model(tiny_model)
    want = _rollout_colors(net, eval_store)
    got = _rollout_colors(TorchPredictor(load_model(tiny_model)[0], Choice(CPU, "fp32", "torch", True, "t")), eval_store)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_predictor_outputs_float32_close_to_fp32(tiny_model, eval_store):
    net, _, _ = load_model(tiny_model)
    want = _rollout_colors(net, eval_store, 6)
    bf16 = TorchPredictor(load_model(tiny_model)[0], Choice(CPU, "bf16", "torch", True, "t"))
    got = _rollout_colors(bf16, eval_store, 6)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == torch.float32
        assert (a - b).abs().mean() < 0.02 * b.abs().mean()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_graph_predictors_match_torch_in_a_rollout(tiny_model, eval_store, tmp_path, backend):
    pytest.importorskip(backend)
    net, _, _ = load_model(tiny_model)
    want = _rollout_colors(net, eval_store)
    predictor = prepare(net, "fp32", backend, "cpu", cache_dir=tmp_path)
    assert isinstance(predictor, GraphPredictor)
    got = _rollout_colors(predictor, eval_store)
    for a, b in zip(got, want, strict=True):
        assert (a - b).abs().max() < 1e-3 * max(1.0, float(b.abs().max()))
    assert len(list((tmp_path / "onnx").glob("step-*.onnx"))) == 1
    assert exported_graph(net, tmp_path) == next((tmp_path / "onnx").glob("step-*.onnx"))  # cached


def test_evaluate_drives_a_predictor(tiny_model, eval_store):
    """`evaluate_scene` (lmv test / extrapolate) takes a predictor where it takes a network."""
    net, _, _ = load_model(tiny_model)
    scene = next(iter(open_store(eval_store)))
    fast = prepare(load_model(tiny_model)[0], "fp32", "torch", "cpu")
    records = evaluate_scene(scene, 1, {"net": net, "fast": fast}, end=8)
    summary = summarize(records)[OVERALL].methods
    assert summary["fast"]["psnr"] == pytest.approx(summary["net"]["psnr"], abs=1e-3)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_a_model_that_chooses_its_factor_per_size_refuses_the_graph_backends(backend):
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed")
    """A graph is traced at one network factor; the bundled model picks its factor per frame size, so an
    ONNX backend would compute another function at other sizes: refused, naming the backend and torch."""
    net, _, _ = load_model(BUNDLED_PATH)
    with pytest.raises(ConfigError, match=backend) as e:
        prepare(net, "fp32", backend, "cpu")
    assert "torch" in e.value.message and e.value.option == "backend"
