"""`lmv export-onnx`'s one core call: check OUT, load MODEL, export to a temporary file beside OUT,
validate in onnxruntime at several frame sizes, and only then rename it to OUT (docs/deployment.md#validation).

The graph takes H and W that are multiples of `net.pad_multiple` (16 at the network's resolution: 16
for `fsnet`/`fsnet_small`, 32 for `fsnet_lite`, whose network runs at half resolution); an engine pads
its frames to that (replicate, motion vectors rescaled, as `padding.pad_inputs` and `model.onnx_flat` do)
and crops the outputs. The validation follows that contract at frame sizes that are not multiples of
32 (`CHECK_FRAMES`): each is padded to the graph's multiple, so every check also runs the graph at
another size than the export size (a silently fixed-size graph cannot pass).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lmv_cli.core.model.files import load_model, resolve_model
from lmv_cli.core.model.padding import padded_size
from lmv_cli.core.onnx_export import (
    DEFAULT_OPSET,
    ExportError,
    Validation,
    example_inputs,
    export_onnx,
    store_inputs,
    validate_onnx,
)
from lmv_cli.core.store.reader import open_store

CHECK_FRAMES: tuple[tuple[int, int], ...] = ((180, 320), (100, 148), (90, 162))
"""Frame sizes (H, W) the graph is checked at, none a multiple of 32 (odd and even, wide and narrow)."""


@dataclass(frozen=True)
class Check:
    """One validation: what was fed (random inputs of a frame size, or a store frame) and the errors."""

    label: str
    frame_size: tuple[int, int]  # (H, W) of the frame before padding
    validation: Validation  # its `size` is the padded (H, W) the graph ran at


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote: the graph, the model file it came from, and every check it passed."""

    path: Path
    model_path: Path
    preset: str
    exporter: str
    opset: int
    multiple: int  # the graph's H and W must be multiples of this
    factor: int  # the graph runs the network on factor×factor-averaged inputs at every frame size
    checks: tuple[Check, ...]


def check_output(out: str | Path) -> Path:
    """`out` must name a file that can be created: not an existing folder, no file among its parents;
    `ExportError` naming the path otherwise (checked before any slow work)."""
    out = Path(out)
    if out.is_dir():
        raise ExportError("is a folder; expected the path of the .onnx file to write", path=out)
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"cannot write here: {parent} is a file, not a folder", path=out)
            break
    return out


def export_model(
    model: str | Path,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    check_frames: tuple[tuple[int, int], ...] = CHECK_FRAMES,
    store: str | Path | None = None,
    scene: str | None = None,
    frame: int | None = None,
) -> ExportResult:
    """Export MODEL (a model file, run or job directory, or `bundled`) as one ONNX step to `out`.

    The graph is written to a temporary file beside `out`, checked (dynamic H×W; onnxruntime versus
    PyTorch on random inputs at every size of `check_frames`, and on a real frame of `store` when
    given) and renamed to `out` only when every check passes: a failure leaves nothing behind and is
    an `ExportError` (an unwritable `out` too, before the model is loaded; a store frame that cannot be
    read, before the export).
    """
    out = check_output(out)
    model_path = resolve_model(model)
    net, cfg, _ = load_model(model_path)
    if net.working_height is not None:  # a graph has one factor: the one the model trained at
        net = net.at_fixed_factor(net.downscale)
    real = _store_check(net, store, scene, frame)
    if not check_frames and real is None:
        raise ExportError("no check: give at least one frame size to validate the graph at")
    tmp = _temp_beside(out)
    try:
        export_onnx(net, tmp, opset=opset, exporter=exporter)
        checks = _validate(net, tmp, check_frames, real)
        bad = [c for c in checks if not c.validation.ok]
        if bad:
            raise ExportError(f"the graph does not match PyTorch on {bad[0].label} "
                              f"(colour error {bad[0].validation.color_error:.2e}); nothing written", path=out)
        os.replace(tmp, out)
    except OSError as e:
        raise ExportError(f"cannot write: {e.strerror or e}", path=out) from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, model_path, cfg.preset, exporter, opset, net.pad_multiple, net.downscale, tuple(checks))


def _temp_beside(out: Path) -> Path:
    """An empty file beside `out` (same folder, so the final rename is atomic), readable like any file."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as e:
        raise ExportError(f"cannot write: {e.strerror or e}", path=out) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp creates 0600; an exported graph is ordinary data
    return Path(name)


def _store_check(net, store, scene, frame) -> tuple[str, tuple[int, int], dict] | None:
    """The label, frame size (H, W) and network inputs of the store frame to validate on (None without
    a store), read before the export so that a bad store, scene or frame fails at once."""
    if store is None:
        return None
    inputs, name, t = store_inputs(net, store, scene, frame)
    found = open_store(store).scene(name)
    return f"{store} scene {name} frame {t}", (found.height, found.width), inputs


def _validate(net, graph: Path, frames, real) -> list[Check]:
    """onnxruntime versus PyTorch at each frame size (padded to the graph's multiple; seeds 1, 2, …) and
    on the store frame (`_store_check`)."""
    checks = []
    for seed, (h, w) in enumerate(frames, start=1):
        inputs = example_inputs(net, padded_size(h, w, net.pad_multiple), seed=seed)
        checks.append(Check("random inputs", (h, w), validate_onnx(net, graph, inputs)))
    if real is not None:
        label, size, inputs = real
        checks.append(Check(label, size, validate_onnx(net, graph, inputs)))
    return checks
