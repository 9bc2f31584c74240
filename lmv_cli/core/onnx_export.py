"""ONNX export of one recurrent FSNet step (docs/deployment.md; the engine contract is `model/onnx_step.py`).

The dynamo exporter (`torch.onnx.export(dynamo=True)`, onnxscript) writes the graph at opset 18 by
default (`GridSample` needs ≥ 16; the dynamo exporter has no implementations below 18), with H and W
exported as `16·Dim` so one file runs at every padded size; the legacy TorchScript exporter
(`exporter="torchscript"`, `dynamic_axes`) writes the same contract in seconds instead of minutes; the warp grid is built with `arange`,
because a `linspace` grid silently specialises H and W (ecosystem notes §6.2). The export is then
checked twice with onnxruntime: the graph's H and W must be symbolic, and the graph must reproduce
the PyTorch step on inputs of another size than the export size (`validate_onnx`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.export import Dim

from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError, LmvError
from lmv_cli.core.evaluate import read_frame
from lmv_cli.core.model.fsnet import FSNet
from lmv_cli.core.model.onnx_flat import flat_inputs
from lmv_cli.core.model.onnx_step import INPUT_NAMES, OUTPUT_NAMES, FlatStep, state_channels
from lmv_cli.core.rollout import Rollout
from lmv_cli.core.store.reader import open_store

DEFAULT_OPSET = 18
TOLERANCE = 1e-3
"""Largest accepted |onnxruntime − torch| of the colour, relative to the colour's peak (at least 1)."""
EXPORT_SIZE = (64, 96)
"""Size of the example inputs the graph is traced with (any multiple of 16; H ≠ W keeps the two dims apart)."""


class ExportError(LmvError):
    """The ONNX export failed, needs a missing extra, or the written graph does not match PyTorch."""


@dataclass(frozen=True)
class Validation:
    """onnxruntime versus PyTorch on one step: max abs error over the colour outputs and over all."""

    size: tuple[int, int]
    color_error: float  # max |onnxruntime − torch| over the predicted colour (linear HDR)
    max_error: float  # the same over every output, streamed state included
    color_peak: float  # max |colour| of the PyTorch prediction (the scale the errors compare to)

    @property
    def ok(self) -> bool:
        """Within float32 rounding of a 100-layer graph: colour error ≤ 1e-3 of the colour's scale."""
        return self.color_error <= TOLERANCE * max(1.0, self.color_peak)


def example_inputs(net: FSNet, size: tuple[int, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Plausible random flat inputs at padded `size` (multiples of `net.pad_multiple`): colours in [0, 1], motion of a
    few pixels, slot 1 predicted (its state used) and slots 0, 2 rendered."""
    g = torch.Generator().manual_seed(seed)
    h, w = size

    def rand(c: int, hh: int = h, ww: int = w, scale: float = 1.0, low: float = 0.0) -> torch.Tensor:
        return torch.rand(1, c, hh, ww, generator=g) * scale + low

    named = {
        "gbuffer": rand(6), "brdf_color": rand(3, low=0.01), "sky_mask": (rand(1) > 0.8).float(),
        "merged_mv": rand(6, scale=0.04, low=-0.02), "history": rand(30),
        "prev_color_no_st": rand(3), "prev_brdf_color": rand(3, low=0.01),
        "stream_valid": torch.tensor([0.0, 1.0, 0.0]),
    }
    for level, (decoder_c, gbuffer_c) in enumerate(state_channels(net)):
        hh, ww = h // net.downscale >> (level + 1), w // net.downscale >> (level + 1)
        named[f"state{level + 1}"] = rand(3 * (decoder_c + gbuffer_c), hh, ww, 2.0, -1.0)
    return {k: named[k] for k in INPUT_NAMES}


EXPORTERS = ("dynamo", "torchscript")


def export_onnx(
    net: FSNet,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    size: tuple[int, int] = EXPORT_SIZE,
) -> Path:
    """Write one recurrent step of `net` (float32, batch 1, dynamic H×W multiples of `net.pad_multiple`) to `path`,
    traced on example inputs of `size` (the graph runs at every other padded size too).

    `exporter`: "dynamo" (`torch.export`, torch's supported path; minutes on 2 busy cores because of
    its symbolic-shape work) or "torchscript" (the legacy tracer, seconds; torch marks it deprecated).
    Both write the same contract and are validated the same way.
    """
    if exporter not in EXPORTERS:
        raise ExportError(f"exporter: expected one of {EXPORTERS}, got {exporter!r}")
    path = Path(path)
    _require("onnxscript" if exporter == "dynamo" else "onnx", "the ONNX exporter")
    step = FlatStep(net.float().eval())
    m = net.pad_multiple
    if size[0] % m or size[1] % m or size[0] == size[1]:
        raise ExportError(f"export size {size[0]}x{size[1]}: expected two different multiples of {m}")
    args = tuple(example_inputs(net, size).values())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad(), _quiet_torch_onnx():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                _export_dynamo(step, args, path, opset, m)
            else:
                _export_torchscript(step, args, path, opset)
    except (torch.onnx.errors.OnnxExporterError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"torch.onnx.export ({exporter}) failed at opset {opset}: {first}", path=path) from e
    _check_dynamic(path)
    return path


@contextlib.contextmanager
def _quiet_torch_onnx():
    """torch.onnx's logger at ERROR while exporting: it warns about torchvision ops it cannot register
    (lmv never uses torchvision) on stderr."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _export_dynamo(step: FlatStep, args: tuple[torch.Tensor, ...], path: Path, opset: int, multiple: int) -> None:
    program = torch.onnx.export(
        step, args, dynamo=True, opset_version=opset, input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES), dynamic_shapes=_dynamic_shapes(multiple), optimize=True, verbose=False,
    )
    program.save(str(path))


def _export_torchscript(step: FlatStep, args: tuple[torch.Tensor, ...], path: Path, opset: int) -> None:
    """The legacy exporter with `dynamic_axes`. It lacks `expm1` (inverse gamma-log), given here as
    `exp(x) − 1`: equal up to float32 rounding of the exponential (absolute, ~1e-7 near 0)."""
    torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1_symbolic, opset)
    axes = {name: {2: "height", 3: "width"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    del axes["stream_valid"]
    for level in (1, 2, 3):
        for name in (f"state{level}", f"stream{level}"):
            axes[name] = {2: f"height_{level}", 3: f"width_{level}"}
    torch.onnx.export(
        step, args, str(path), dynamo=False, opset_version=opset, input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES), dynamic_axes=axes,
    )


def _expm1_symbolic(g, x):
    return g.op("Sub", g.op("Exp", x), g.op("Constant", value_t=torch.tensor(1.0)))


def _dynamic_shapes(multiple: int) -> dict[str, dict[int, object] | None]:
    """H = m·h, W = m·w for the frame tensors (m = the network's padding multiple, 16 at its own
    resolution); the streamed state at 1/2, 1/4, 1/8 of the network's resolution is 16/2^l·h."""
    h, w = Dim("h16", min=1, max=512), Dim("w16", min=1, max=512)
    shapes: dict[str, dict[int, object] | None] = {name: {2: multiple * h, 3: multiple * w} for name in INPUT_NAMES}
    shapes["stream_valid"] = None
    for level in (1, 2, 3):
        shapes[f"state{level}"] = {2: (16 >> level) * h, 3: (16 >> level) * w}
    return shapes


def _check_dynamic(path: Path) -> None:
    """The written graph's frame inputs must have symbolic H and W (a silently fixed size is an error)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for value in model.graph.input:
        if value.name != "gbuffer":
            continue
        dims = value.type.tensor_type.shape.dim
        fixed = [d.dim_value for d in dims[2:] if d.HasField("dim_value")]
        if fixed:
            raise ExportError(f"the exported graph fixed the frame size to {fixed} (expected dynamic H and W)", path=path)


def validate_onnx(net: FSNet, path: str | Path, inputs: dict[str, torch.Tensor]) -> Validation:
    """Run the graph at `path` in onnxruntime (CPU) and the PyTorch step on the same flat `inputs`;
    return the max abs errors (colour outputs, and over every output including the streamed state)."""
    session = ort_session(path)
    feeds = {k: v.numpy() for k, v in inputs.items()}
    got = dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feeds), strict=True))
    with torch.no_grad():
        want = dict(zip(OUTPUT_NAMES, FlatStep(net.float().eval())(*inputs.values()), strict=True))
    errors = {name: float((torch.from_numpy(got[name]) - want[name]).abs().max()) for name in OUTPUT_NAMES}
    peak = float(want["color"].abs().max())
    return Validation(tuple(inputs["gbuffer"].shape[-2:]), errors["color"], max(errors.values()), peak)


def store_inputs(
    net: FSNet, store_path: str | Path, scene_name: str | None = None, frame: int | None = None
) -> tuple[dict[str, torch.Tensor], str, int]:
    """Flat inputs for predicting frame `frame` of a real store scene (default: the first scene, frame
    4), with frame t−1 predicted by the PyTorch step first, so the streamed state is exercised too.
    Returns (inputs, scene name, frame)."""
    store = open_store(store_path)
    scene = store.scene(scene_name) if scene_name else next(iter(store))
    first = HISTORY_SLOTS + 1  # three rendered history frames, then t−1 predicted
    t = first if frame is None else frame
    if not first <= t < scene.frames:
        raise InputError(f"scene {scene.name}: frame {t} out of range (needs {first} <= frame < {scene.frames})",
                         path=store_path)
    rollout = Rollout(net.float().eval())
    with torch.no_grad():
        for k in range(t - first, t - 1):
            rollout.history.advance_rendered(read_frame(scene, k))
        previous = read_frame(scene, t - 1)
        rollout.history.advance_predicted(previous, rollout.predict(previous))
        inputs, state = rollout.history.inputs(read_frame(scene, t))
    return flat_inputs(net, inputs, state), scene.name, t


def ort_session(path: str | Path, threads: int = 0):
    """An onnxruntime CPU session for `path` (`threads` 0 = onnxruntime's default, one per core)."""
    ort = _require("onnxruntime", "running an ONNX model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ExportError(f"onnxruntime cannot load the graph: {str(e).splitlines()[0]}", path=path) from e


def _require(module: str, what: str):
    """Import an optional dependency or raise `ExportError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"{what} needs the '{module}' package: pip install 'lmv[onnx]'") from None
