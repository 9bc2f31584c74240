"""Predictors: objects with FSNet's `step(inputs, state) -> (outputs, state)` contract that `Rollout`
drives, on PyTorch (eager, autocast, channels_last, cached history encodings) or on the exported
ONNX step (ONNX Runtime, OpenVINO). `prepare` picks one (`select.resolve`).

    predictor = prepare(net, precision="auto", backend="auto")
    rollout = Rollout(predictor)             # exactly as with the bare network

Outputs are float32 whatever the precision (metrics and history are computed in float32). The ONNX
backends encode all three history frames every step (one graph for every R/P schedule) and return no
flows or learnable motion vectors (the graph does not output them).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
import hashlib
import os
import tempfile
from pathlib import Path

import torch

from lmv_cli import __version__
from lmv_cli.core.errors import ConfigError
from lmv_cli.core.infer.select import Choice, resolve
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.interface import NetInputs, NetOutputs
from lmv_cli.core.model.onnx_flat import flat_inputs, outputs_from_flat
from lmv_cli.core.model.onnx_step import OUTPUT_NAMES
from lmv_cli.core.model.streaming import StreamState
from lmv_cli.core.onnx_export import export_onnx, ort_session

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
OUTPUT_FIELDS = ("color", "color_no_st", "light_no_st", "sky", "st_color", "st_alpha", "lmv1", "lmv2")


class Predictor(ABC):
    """What every predictor shares: inference only (`eval`/`train` are accepted and change nothing, so
    code written for an `nn.Module`, such as `evaluate_scene`, drives a predictor unchanged)."""

    training = False
    choice: Choice

    def eval(self) -> Predictor:
        return self

    def train(self, mode: bool = True) -> Predictor:
        return self

    def __call__(self, inputs: NetInputs, state: StreamState | None = None) -> NetOutputs:
        return self.step(inputs, state)[0]

    @abstractmethod
    def step(self, inputs: NetInputs, state: StreamState | None = None) -> tuple[NetOutputs, StreamState]:
        """Predict one frame and return the state for the next (FSNet's `step` contract)."""


class TorchPredictor(Predictor):
    """The network under `inference_mode`, with autocast for bf16/fp16 and optionally channels_last."""

    def __init__(self, net: FSNet, choice: Choice):
        self.choice = choice
        self.warp = getattr(net, "warp", "exact")
        net = net.to(choice.device).eval()
        self.net = net.to(memory_format=torch.channels_last) if choice.channels_last else net

    def step(self, inputs: NetInputs, state: StreamState | None = None) -> tuple[NetOutputs, StreamState]:
        with torch.inference_mode(), self._autocast():
            outputs, state = self.net.step(inputs, state)
        for name in OUTPUT_FIELDS:
            value = getattr(outputs, name)
            if value is not None:
                setattr(outputs, name, value.float())
        return outputs, state

    def _autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.choice.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.choice.device.type, dtype=dtype)


class GraphPredictor(Predictor):
    """The exported step (`model/onnx_step.py`) run by ONNX Runtime or OpenVINO on CPU."""

    def __init__(self, net: FSNet, choice: Choice, graph: Path):
        self.choice = choice
        self.net = net.float().eval()
        self.warp = getattr(net, "warp", "exact")
        self.run = _ort_runner(graph) if choice.backend == "onnxruntime" else _openvino_runner(graph, choice.precision)

    def step(self, inputs: NetInputs, state: StreamState | None = None) -> tuple[NetOutputs, StreamState]:
        with torch.inference_mode():
            feeds = {k: v.cpu().numpy() for k, v in flat_inputs(self.net, inputs, state).items()}
        values = {k: torch.from_numpy(v) for k, v in self.run(feeds).items()}
        outputs, state = outputs_from_flat(self.net, values, tuple(inputs.gbuffer.shape[-2:]), state)
        return outputs, state


def prepare(
    net: FSNet, precision: str = "auto", backend: str = "auto", device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
) -> Predictor:
    """A predictor for `net` with the resolved precision/backend (`select.resolve`); the ONNX backends
    export the step once per set of weights into `cache_dir` (default `$LMV_CACHE` or ~/.cache/lmv)."""
    choice = resolve(precision, backend, device, graph_pays=net.downscale == 1)
    if choice.backend == "torch":
        return TorchPredictor(net, choice)
    if net.working_height is not None:
        raise ConfigError(f"backend {choice.backend!r} runs a graph traced at one network factor, and this model "
                          "chooses its factor per frame size (model.downscale: auto); use backend 'torch', or "
                          "`lmv export-onnx` for a graph at the training factor", option="backend", value=backend)
    return GraphPredictor(net, choice, exported_graph(net, cache_dir))


def exported_graph(net: FSNet, cache_dir: str | Path | None = None) -> Path:
    """The ONNX step of `net`, exported (TorchScript exporter: seconds) on first use and cached by a
    hash of the weights and architecture."""
    options = (__version__, net.warp, net.clamp, net.demodulate, net.downscale, net.decoder.mv_gather)
    digest = hashlib.sha256("|".join(map(str, options)).encode())
    for key, value in net.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    root = Path(cache_dir or os.environ.get("LMV_CACHE") or Path.home() / ".cache" / "lmv") / "onnx"
    path = root / f"step-{digest.hexdigest()[:16]}.onnx"
    if not path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            export_onnx(net, Path(tmp) / "step.onnx", exporter="torchscript")
            os.replace(Path(tmp) / "step.onnx", path)
    return path


def _ort_runner(graph: Path):
    session = ort_session(graph)

    def run(feeds: dict) -> dict:
        return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feeds), strict=True))

    return run


def _openvino_runner(graph: Path, precision: str):
    """OpenVINO on CPU, compiled once per input size (static shapes run faster than dynamic ones)."""
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32", "PERFORMANCE_HINT": "LATENCY"}
    compiled: dict[tuple, object] = {}

    def run(feeds: dict) -> dict:
        key = tuple(feeds["gbuffer"].shape)
        if key not in compiled:
            model = core.read_model(str(graph))
            model.reshape({name: ov.PartialShape(list(value.shape)) for name, value in feeds.items()})
            compiled[key] = core.compile_model(model, "CPU", config)
        request = compiled[key]
        result = request(feeds)
        return {name: result[request.output(name)] for name in OUTPUT_NAMES}

    return run
