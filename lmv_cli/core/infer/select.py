"""Device, precision and backend of a prediction (`--precision`, `--backend`; docs/performance.md#choosing-precision-and-backend).

`auto` follows what `benchmarks/bench_infer.py` measured (docs/performance.md#inference-per-predicted-frame):
- precision: bf16 where the hardware computes it natively (CUDA with bf16 support; CPUs with AMX-BF16
  or AVX512-BF16, whose oneDNN kernels run bf16 convolutions at up to 16× the fp32 rate), fp16 on other
  CUDA GPUs, else fp32. On an AVX2-only CPU (e.g. the 2-core AMD EPYC of the benchmarks) bf16 is
  emulated and several times *slower* than fp32, so auto stays fp32 there.
- backend: on CPU, OpenVINO when its extra is installed and the network is a full-resolution one
  (`fsnet`: 1.9× eager PyTorch), else PyTorch: for a network on downsampled inputs (`fsnet_lite`, the
  bundled model) OpenVINO measured no faster than PyTorch with cached history encodings, and it costs
  an export and a compile per frame size. ONNX Runtime measured no faster than PyTorch. On GPU, PyTorch.
A forced choice the hardware or backend cannot run is a `ConfigError` naming the alternatives.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from lmv_cli.core.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""/proc/cpuinfo flags of CPUs with bf16 arithmetic (AMX tiles, or AVX512 dot products)."""
BACKEND_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
"""Python module each non-torch backend needs (extras `onnx` and `openvino`)."""


@dataclass(frozen=True)
class Choice:
    """A resolved choice: the device, precision and backend a predictor runs with, and why."""

    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    backend: str  # torch | onnxruntime | openvino
    channels_last: bool
    reason: str

    def describe(self) -> str:
        return f"{self.backend} {self.precision} on {self.device.type} ({self.reason})"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags (first processor of /proc/cpuinfo); empty where the file does not exist."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AMX-BF16 or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in NATIVE_BF16_FLAGS)


def backend_available(backend: str) -> bool:
    """Whether `backend`'s Python package is installed (torch always is)."""
    module = BACKEND_MODULES.get(backend)
    return module is None or importlib.util.find_spec(module) is not None


def resolve(
    precision: str = "auto", backend: str = "auto", device: str | torch.device | None = None,
    flags: frozenset[str] | None = None, graph_pays: bool = True,
) -> Choice:
    """Resolve `auto`s for `device` (None: CUDA when available, else CPU) and check forced choices.
    `graph_pays`: whether the network is one where an exported-graph backend beats PyTorch (module
    docstring); False keeps `auto` on PyTorch."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}", option="backend",
                          value=backend)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        return _resolve_cuda(dev, precision, backend)
    return _resolve_cpu(dev, precision, backend, cpu_flags() if flags is None else flags, graph_pays)


def _resolve_cuda(dev: torch.device, precision: str, backend: str) -> Choice:
    if backend not in ("auto", "torch"):
        raise ConfigError(f"backend {backend}: lmv runs it on CPU only; use `backend` torch on {dev}", option="backend",
                          value=backend)
    reason = "forced"
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        reason = f"auto: {precision} tensor cores"
    return Choice(dev, precision, "torch", True, reason)


def _resolve_cpu(dev: torch.device, precision: str, backend: str, flags: frozenset[str], graph_pays: bool) -> Choice:
    native = native_bf16(flags)
    reasons = []
    if precision == "auto":
        precision = "bf16" if native else "fp32"
        reasons.append("auto: native bf16" if native else "auto: fp32 (no AMX/AVX512-BF16, bf16 would be emulated)")
    if backend == "auto":
        backend = "openvino" if graph_pays and backend_available("openvino") else "torch"
        why = " (openvino extra installed)" if backend == "openvino" else "" if graph_pays else " (downsampled network)"
        reasons.append(f"auto: {backend}{why}")
    elif not backend_available(backend):
        extra = "onnx" if backend == "onnxruntime" else backend
        raise ConfigError(f"backend {backend} is not installed: pip install 'lmv[{extra}]'")
    if backend == "onnxruntime" and precision != "fp32":
        raise ConfigError(f"backend onnxruntime runs the exported graph in fp32 only, not {precision}")
    if backend == "openvino" and precision == "fp16":
        raise ConfigError("backend openvino on CPU runs fp32 or bf16, not fp16")
    if backend == "openvino" and precision == "bf16" and not native:
        raise ConfigError("backend openvino runs bf16 only on CPUs with AMX-BF16 or AVX512-BF16; use fp32")
    return Choice(dev, precision, backend, precision == "bf16" or native, "; ".join(reasons) or "forced")
