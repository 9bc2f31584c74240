"""`lmv_cli.core.export` pinned where mutation testing would find it unpinned (docs/testing.md "Mutation testing"):
the defaults (`DEFAULT_OPSET`, `TOLERANCE`, `EXPORT_SIZE`, `EXPORTERS`, `export_onnx`'s keywords), the
tolerance rule of `Validation.ok` at its boundary, `example_inputs` value by value (rebuilt here from the
same seeded generator), the error messages of `export_onnx`, `_require`, `_check_dynamic` and
`ort_session` word for word, the dynamo call (`torch.onnx.export` replaced by a recorder) and its
`_dynamic_shapes`, the `expm1` symbolic, and one real legacy (torchscript) export of `fsnet_small`
at 32×48: its input/output names, symbolic dim names, opset, and `validate_onnx` at 48×80 against
onnxruntime and PyTorch run here directly.

Graphs inspected by `_check_dynamic` are hand-built with the `onnx` helper API."""

from __future__ import annotations

import inspect

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from lmv_cli.core import export as ex
from lmv_cli.core.export import ExportError, Validation
from lmv_cli.core.model.fsnet import PRESETS, FSNet
from lmv_cli.core.model.onnx_step import INPUT_NAMES, OUTPUT_NAMES, FlatStep

EXPORT_AT = (32, 48)
RUN_AT = (48, 80)


@pytest.fixture(scope="module")
def net() -> FSNet:
    torch.manual_seed(0)
    return FSNet(**PRESETS["fsnet_small"]).eval()


# --- constants and defaults ----------------------------------------------------------------------------------


def test_constants():
    assert ex.DEFAULT_OPSET == 18
    assert ex.TOLERANCE == 1e-3
    assert ex.EXPORT_SIZE == (64, 96)
    assert ex.EXPORTERS == ("dynamo", "torchscript")


def test_export_onnx_defaults():
    params = inspect.signature(ex.export_onnx).parameters
    assert params["opset"].default == 18
    assert params["exporter"].default == "dynamo"
    assert params["size"].default == (64, 96)
    assert inspect.signature(ex.example_inputs).parameters["seed"].default == 0
    assert inspect.signature(ex.ort_session).parameters["threads"].default == 0


# --- Validation.ok -------------------------------------------------------------------------------------------


def test_validation_ok_boundary_at_peak_below_one():
    assert Validation((16, 32), 1e-3, 5.0, 0.5).ok  # scale is at least 1
    assert not Validation((16, 32), 1.0001e-3, 0.0, 0.5).ok
    assert Validation((16, 32), 0.0, 0.0, 0.0).ok


def test_validation_ok_boundary_scales_with_peak():
    assert Validation((16, 32), 2e-3, 0.0, 2.0).ok
    assert not Validation((16, 32), 2.001e-3, 0.0, 2.0).ok
    assert Validation((16, 32), 1.5e-3, 0.0, 1.5).ok
    assert not Validation((16, 32), 1.6e-3, 0.0, 1.5).ok


# --- example_inputs ------------------------------------------------------------------------------------------


def _expected_inputs(net_state_channels, size, seed, downscale=1):
    g = torch.Generator().manual_seed(seed)
    h, w = size

    def r(c, hh=h, ww=w):
        return torch.rand(1, c, hh, ww, generator=g)

    out = {
        "gbuffer": r(6),
        "brdf_color": r(3) + 0.01,
        "sky_mask": (r(1) > 0.8).float(),
        "merged_mv": r(6) * 0.04 - 0.02,
        "history": r(30),
        "prev_color_no_st": r(3),
        "prev_brdf_color": r(3) + 0.01,
        "stream_valid": torch.tensor([0.0, 1.0, 0.0]),
    }
    for level, c in enumerate(net_state_channels):
        hh, ww = h // downscale // (2 ** (level + 1)), w // downscale // (2 ** (level + 1))
        out[f"state{level + 1}"] = r(c, hh, ww) * 2.0 - 1.0
    return out


def test_example_inputs_values(net):
    got = ex.example_inputs(net, EXPORT_AT)
    assert tuple(got) == INPUT_NAMES
    # fsnet_small state blocks: 3 slots x (decoder + gbuffer) = 3 x (24+12), 3 x (32+16), 3 x (48+24)
    want = _expected_inputs((108, 144, 216), EXPORT_AT, 0)
    for name in INPUT_NAMES:
        assert got[name].dtype == torch.float32, name
        assert got[name].shape == want[name].shape, name
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-7, msg=name)
    assert got["state1"].shape == (1, 108, 16, 24)
    assert got["state3"].shape == (1, 216, 4, 6)
    assert torch.equal(got["stream_valid"], torch.tensor([0.0, 1.0, 0.0]))
    assert set(got["sky_mask"].unique().tolist()) == {0.0, 1.0}


def test_example_inputs_seed(net):
    a = ex.example_inputs(net, EXPORT_AT, seed=3)
    want = _expected_inputs((108, 144, 216), EXPORT_AT, 3)
    torch.testing.assert_close(a["gbuffer"], want["gbuffer"], rtol=0, atol=0)
    torch.testing.assert_close(a["state2"], want["state2"], rtol=0, atol=0)


def test_example_inputs_downscaled_state():
    torch.manual_seed(0)
    lite = FSNet.from_preset("fsnet_lite")
    assert lite.downscale == 2
    got = ex.example_inputs(lite, (64, 96))
    assert got["gbuffer"].shape[-2:] == (64, 96)
    assert got["state1"].shape[-2:] == (16, 24)
    assert got["state2"].shape[-2:] == (8, 12)
    assert got["state3"].shape[-2:] == (4, 6)


# --- export_onnx argument errors, _require ------------------------------------------------------------------


def test_unknown_exporter_message(net, tmp_path):
    with pytest.raises(ExportError) as e:
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="jit")
    assert str(e.value) == "exporter: expected one of ('dynamo', 'torchscript'), got 'jit'"


@pytest.mark.parametrize("size", [(32, 32), (40, 48), (32, 40), (48, 48)])
def test_bad_export_size_message(net, tmp_path, size):
    with pytest.raises(ExportError) as e:
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="torchscript", size=size)
    assert str(e.value) == f"export size {size[0]}x{size[1]}: expected two different multiples of 16"
    assert not (tmp_path / "x.onnx").exists()


def test_require_imports_and_names_the_extra():
    import json

    assert ex._require("json", "anything") is json
    with pytest.raises(ExportError) as e:
        ex._require("no_such_module_lmv", "the ONNX exporter")
    assert str(e.value) == "the ONNX exporter needs the 'no_such_module_lmv' package: pip install 'lmv[onnx]'"
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_export_requires_the_exporters_package(net, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(ex, "_require", lambda module, what: asked.append((module, what)) or (_ for _ in ()).throw(
        ExportError("stop")))
    with pytest.raises(ExportError, match="^stop$"):
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="torchscript")
    with pytest.raises(ExportError, match="^stop$"):
        ex.export_onnx(net, tmp_path / "x.onnx")
    assert asked == [("onnx", "the ONNX exporter"), ("onnxscript", "the ONNX exporter")]


# --- exporter failures are one-line errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "first"),
    [
        (RuntimeError("  boom here\nsecond line"), "boom here"),
        (ValueError("bad value"), "bad value"),
        (RuntimeError("   "), "RuntimeError"),
        (torch.onnx.errors.OnnxExporterError("exporter said no"), "exporter said no"),
    ],
)
def test_export_failure_message(net, tmp_path, monkeypatch, exc, first):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(torch.onnx, "export", fail)
    path = tmp_path / "sub" / "x.onnx"
    with pytest.raises(ExportError) as e:
        ex.export_onnx(net, path, exporter="torchscript", opset=17, size=EXPORT_AT)
    assert e.value.message == f"torch.onnx.export (torchscript) failed at opset 17: {first}"
    assert e.value.path == path
    assert e.value.__cause__ is exc
    assert path.parent.is_dir()  # the folder is made before exporting


def test_other_exceptions_pass_through(net, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyError("k")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(KeyError):
        ex.export_onnx(net, tmp_path / "x.onnx", exporter="torchscript", size=EXPORT_AT)


# --- _check_dynamic on hand-built graphs ---------------------------------------------------------------------


def _graph(path, inputs):
    vis = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Identity", [inputs[0][0]], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", vis, [out]))
    onnx.save(model, str(path))
    return path


def test_check_dynamic_accepts_symbolic(tmp_path):
    p = _graph(tmp_path / "a.onnx", [("gbuffer", [1, 6, "height", "width"]), ("state1", [1, 3, 8, 8])])
    assert ex._check_dynamic(p) is None


def test_check_dynamic_fixed_size_message(tmp_path):
    p = _graph(tmp_path / "a.onnx", [("history", [1, 30, "h", "w"]), ("gbuffer", [1, 6, 32, 48])])
    with pytest.raises(ExportError) as e:
        ex._check_dynamic(p)
    assert e.value.message == "the exported graph fixed the frame size to [32, 48] (expected dynamic H and W)"
    assert e.value.path == p


def test_check_dynamic_one_fixed_dim(tmp_path):
    p = _graph(tmp_path / "a.onnx", [("gbuffer", [1, 6, "height", 48])])
    with pytest.raises(ExportError, match=r"to \[48\] "):
        ex._check_dynamic(p)
    p = _graph(tmp_path / "b.onnx", [("gbuffer", [1, 6, 32, "w"])])
    with pytest.raises(ExportError, match=r"to \[32\] "):
        ex._check_dynamic(p)


def test_check_dynamic_only_gbuffer_counts(tmp_path):
    p = _graph(tmp_path / "a.onnx", [("history", [1, 30, 32, 48]), ("gbuffer", [1, 6, "h", "w"])])
    assert ex._check_dynamic(p) is None


# --- dynamo path, recorded ---------------------------------------------------------------------------------


def test_dynamic_shapes():
    shapes = ex._dynamic_shapes(32)
    assert tuple(shapes) == (*INPUT_NAMES,)
    assert shapes["stream_valid"] is None
    for name in INPUT_NAMES[:7]:
        assert set(shapes[name]) == {2, 3}
        assert shapes[name][2].__name__ == "32*h16" and shapes[name][3].__name__ == "32*w16", name
    for level, factor in ((1, 8), (2, 4), (3, 2)):
        s = shapes[f"state{level}"]
        assert set(s) == {2, 3}
        assert s[2].__name__ == f"{factor}*h16" and s[3].__name__ == f"{factor}*w16"
    h, w = shapes["gbuffer"][2].root, shapes["gbuffer"][3].root
    assert (h.__name__, h.min, h.max) == ("h16", 1, 512)
    assert (w.__name__, w.min, w.max) == ("w16", 1, 512)
    assert shapes["state1"][2].root is h and shapes["state3"][3].root is w


def test_dynamo_call(net, tmp_path, monkeypatch):
    calls = []

    class Program:
        def save(self, p):
            calls.append(("save", p))
            _graph(p, [("gbuffer", [1, 6, "height", "width"])])

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return Program()

    monkeypatch.setattr(torch.onnx, "export", record)
    path = tmp_path / "d.onnx"
    assert ex.export_onnx(net, str(path), opset=19, size=EXPORT_AT) == path
    (args, kwargs), save = calls
    assert save == ("save", str(path))
    assert isinstance(args[0], FlatStep) and args[0].net is net
    assert len(args) == 2 and len(args[1]) == len(INPUT_NAMES)
    torch.testing.assert_close(args[1][0], ex.example_inputs(net, EXPORT_AT)["gbuffer"], rtol=0, atol=0)
    shapes = kwargs.pop("dynamic_shapes")
    assert shapes["gbuffer"][2].__name__ == "16*h16" and shapes["state1"][2].__name__ == "8*h16"
    assert kwargs == dict(
        dynamo=True, opset_version=19, input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
        optimize=True, verbose=False,
    )


def test_export_checks_the_written_graph(net, tmp_path, monkeypatch):
    class Program:
        def save(self, p):
            _graph(p, [("gbuffer", [1, 6, 32, 48])])

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: Program())
    with pytest.raises(ExportError, match="fixed the frame size to \\[32, 48\\]"):
        ex.export_onnx(net, tmp_path / "d.onnx", size=EXPORT_AT)


def test_expm1_symbolic():
    class G:
        def op(self, name, *args, **kwargs):
            return (name, args, kwargs)

    x = object()
    sub, (exp, const), kw = ex._expm1_symbolic(G(), x)
    assert sub == "Sub" and kw == {}
    assert exp == ("Exp", (x,), {})
    assert const[0] == "Constant" and const[1] == ()
    assert set(const[2]) == {"value_t"}
    value = const[2]["value_t"]
    assert value.dtype == torch.float32 and value.shape == () and value.item() == 1.0


def test_torchscript_call(net, tmp_path, monkeypatch, capsys, recwarn):
    calls = []
    registered = []

    def record(*args, **kwargs):
        import sys
        import warnings

        calls.append((args, kwargs))
        assert not torch.is_grad_enabled()
        sys.stdout.write("exporter noise\n")
        print("more noise")
        warnings.warn("exporter warning")
        _graph(args[2], [("gbuffer", [1, 6, "height", "width"])])

    monkeypatch.setattr(torch.onnx, "export", record)
    monkeypatch.setattr(torch.onnx, "register_custom_op_symbolic", lambda *a, **k: registered.append((a, k)))
    path = tmp_path / "deep" / "er" / "t.onnx"
    ex.export_onnx(net, path, exporter="torchscript", opset=17, size=EXPORT_AT)
    assert capsys.readouterr().out == ""
    assert not [w for w in recwarn if "exporter warning" in str(w.message)]
    assert torch.is_grad_enabled()
    assert registered == [(("aten::expm1", ex._expm1_symbolic, 17), {})]
    ((args, kwargs),) = calls
    assert isinstance(args[0], FlatStep) and len(args[1]) == len(INPUT_NAMES) and args[2] == str(path)
    axes = kwargs.pop("dynamic_axes")
    assert kwargs == dict(
        dynamo=False, opset_version=17, input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES)
    )
    want = {name: {2: "height", 3: "width"} for name in (*INPUT_NAMES, *OUTPUT_NAMES) if name != "stream_valid"}
    for level in (1, 2, 3):
        want[f"state{level}"] = want[f"stream{level}"] = {2: f"height_{level}", 3: f"width_{level}"}
    assert axes == want


# --- ort_session ---------------------------------------------------------------------------------------------


def test_ort_session_unreadable_graph(tmp_path):
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"not an onnx graph")
    with pytest.raises(ExportError) as e:
        ex.ort_session(p)
    assert e.value.message.startswith("onnxruntime cannot load the graph: ")
    assert "\n" not in e.value.message and len(e.value.message) > len("onnxruntime cannot load the graph: ")
    assert e.value.path == p
    assert e.value.__cause__ is not None


def test_ort_session_options(tmp_path, monkeypatch):
    import onnxruntime as ort

    seen = []

    def fake(path, options, providers):
        seen.append((path, options.intra_op_num_threads, options.log_severity_level, providers))
        return "session"

    monkeypatch.setattr(ort, "InferenceSession", fake)
    assert ex.ort_session(tmp_path / "m.onnx", threads=3) == "session"
    assert ex.ort_session(tmp_path / "m.onnx") == "session"
    assert seen == [
        (str(tmp_path / "m.onnx"), 3, 3, ["CPUExecutionProvider"]),
        (str(tmp_path / "m.onnx"), 0, 3, ["CPUExecutionProvider"]),
    ]


def test_ort_session_first_line_only(tmp_path, monkeypatch):
    import onnxruntime as ort

    def fake(*a, **k):
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(ort, "InferenceSession", fake)
    with pytest.raises(ExportError) as e:
        ex.ort_session(tmp_path / "m.onnx")
    assert e.value.message == "onnxruntime cannot load the graph: first line"


# --- one real torchscript export (kept last: it is the slow part) ------------------------------------------


@pytest.fixture(scope="module")
def exported(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "nested" / "step.onnx"
    assert ex.export_onnx(net, str(path), exporter="torchscript", size=EXPORT_AT) == path
    return path


def test_exported_graph_contract(exported):
    model = onnx.load(str(exported))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]

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
    ops = {n.op_type for n in model.graph.node}
    assert "GridSample" in ops


def test_validate_onnx_at_another_size(net, exported):
    import onnxruntime as ort

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
    assert v.max_error > 0 and v.color_peak > 1.0
    assert v.ok


def test_check_dynamic_does_not_read_external_data(tmp_path):
    """Only the graph's inputs are read: a missing external-data file must not matter."""
    vi = helper.make_tensor_value_info("gbuffer", TensorProto.FLOAT, [1, 6, "h", "w"])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [64], np.ones(64, np.float32).tobytes(), raw=True)
    node = helper.make_node("Add", ["gbuffer", "w"], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", [vi], [out], initializer=[weight]))
    p = tmp_path / "ext.onnx"
    onnx.save_model(model, str(p), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                    size_threshold=0)
    (tmp_path / "w.bin").unlink()
    assert ex._check_dynamic(p) is None


# --- store_inputs, on a recorded fake store and rollout ---------------------------------------------------------


class _Scene:
    def __init__(self, name, frames):
        self.name, self.frames = name, frames


class _Store:
    def __init__(self, scenes):
        self.scenes = scenes

    def __iter__(self):
        return iter(self.scenes)

    def scene(self, name):
        return next(s for s in self.scenes if s.name == name)


@pytest.fixture()
def fake_store(monkeypatch):
    import lmv_cli.core.evaluate as evaluate
    import lmv_cli.core.infer.flat as flat
    import lmv_cli.core.rollout as rollout
    import lmv_cli.core.store.reader as reader

    log = []
    store = _Store([_Scene("first", 8), _Scene("second", 10)])

    class History:
        def advance_rendered(self, frame):
            log.append(("rendered", frame, torch.is_grad_enabled()))

        def advance_predicted(self, frame, out):
            log.append(("predicted", frame, out))

        def inputs(self, frame):
            log.append(("inputs", frame))
            return ("in", frame), ("state", frame)

    class Rollout:
        def __init__(self, net):
            log.append(("rollout", net, net.training))
            self.history = History()

        def predict(self, frame):
            return ("pred", frame)

    def open_store(path):
        log.append(("open", path))
        return store

    monkeypatch.setattr(reader, "open_store", open_store)
    monkeypatch.setattr(evaluate, "read_frame", lambda scene, k: (scene.name, k))
    monkeypatch.setattr(rollout, "Rollout", Rollout)
    monkeypatch.setattr(flat, "flat_inputs", lambda net, inputs, state: {"flat": (net, inputs, state)})
    return log


def test_store_inputs_default_first_scene_frame_4(fake_store, net):
    net.train()
    try:
        flat, name, t = ex.store_inputs(net, "some/store.zarr")
    finally:
        net.eval()
    assert (name, t) == ("first", 4)
    assert flat == {"flat": (net, ("in", ("first", 4)), ("state", ("first", 4)))}
    assert fake_store == [
        ("open", "some/store.zarr"),
        ("rollout", net, False),
        ("rendered", ("first", 0), False),
        ("rendered", ("first", 1), False),
        ("rendered", ("first", 2), False),
        ("predicted", ("first", 3), ("pred", ("first", 3))),
        ("inputs", ("first", 4)),
    ]


def test_store_inputs_named_scene_and_frame(fake_store, net):
    flat, name, t = ex.store_inputs(net, "s.zarr", "second", 9)
    assert (name, t) == ("second", 9)
    assert [e[1] for e in fake_store if e[0] in ("rendered", "predicted", "inputs")] == [
        ("second", 5), ("second", 6), ("second", 7), ("second", 8), ("second", 9)
    ]


@pytest.mark.parametrize(("scene", "frame", "frames"), [(None, 3, 8), (None, 8, 8), ("second", 10, 10), ("second", 0, 10)])
def test_store_inputs_frame_out_of_range(fake_store, net, scene, frame, frames):
    from lmv_cli.core.errors import InputError

    with pytest.raises(InputError) as e:
        ex.store_inputs(net, "s.zarr", scene, frame)
    name = scene or "first"
    assert e.value.message == f"scene {name}: frame {frame} out of range (needs 4 <= frame < {frames})"
    assert str(e.value.path) == "s.zarr"


def test_store_inputs_last_frame_in_range(fake_store, net):
    assert ex.store_inputs(net, "s.zarr", None, 7)[1:] == ("first", 7)
    assert ex.store_inputs(net, "s.zarr", "first", 4)[1:] == ("first", 4)


def test_example_inputs_sky_mask_threshold_is_strict(net, monkeypatch):
    """A uniform draw of exactly 0.8 (float32) is not sky: the mask is `rand > 0.8`."""
    real_rand = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *shape, generator: torch.full(shape, 0.8))
    got = ex.example_inputs(net, EXPORT_AT)
    monkeypatch.setattr(torch, "rand", real_rand)
    assert torch.equal(got["sky_mask"], torch.zeros(1, 1, *EXPORT_AT))
    torch.testing.assert_close(got["merged_mv"], torch.full((1, 6, *EXPORT_AT), 0.8 * 0.04 - 0.02))


def test_ort_session_requires_onnxruntime(tmp_path, monkeypatch):
    asked = []

    def missing(module, what):
        asked.append((module, what))
        raise ExportError("stop")

    monkeypatch.setattr(ex, "_require", missing)
    with pytest.raises(ExportError, match="^stop$"):
        ex.ort_session(tmp_path / "m.onnx")
    assert asked == [("onnxruntime", "running an ONNX model")]


def test_validate_onnx_asks_for_the_outputs_by_name(net, monkeypatch):
    """The session is asked for OUTPUT_NAMES in that order (not `None`: the graph's own output order)."""
    inputs = ex.example_inputs(net, EXPORT_AT)
    with torch.no_grad():
        want = [t.numpy().copy() for t in FlatStep(net)(*inputs.values())]
    seen = []

    class Session:
        def run(self, names, feeds):
            seen.append((names, sorted(feeds), {type(v) for v in feeds.values()}))
            got = [w.copy() for w in want]
            got[0] += 0.25  # colour off by 0.25
            got[7] -= 0.5  # stream2 off by 0.5
            return got

    monkeypatch.setattr(ex, "ort_session", lambda path: Session())
    v = ex.validate_onnx(net, "unused.onnx", inputs)
    assert seen == [(list(OUTPUT_NAMES), sorted(INPUT_NAMES), {np.ndarray})]
    assert v.size == EXPORT_AT
    assert v.color_error == pytest.approx(0.25, abs=1e-5)
    assert v.max_error == pytest.approx(0.5, abs=1e-5)
    assert v.color_peak == float(np.abs(want[0]).max())


def test_validate_onnx_rejects_a_step_with_extra_outputs(net, monkeypatch):
    """The PyTorch step's outputs are zipped strictly with OUTPUT_NAMES: a tenth output is an error."""
    ones = [np.ones((1, 1, 2, 2), np.float32) for _ in OUTPUT_NAMES]

    class Session:
        def run(self, names, feeds):
            return ones

    class Step:
        def __init__(self, network):
            pass

        def __call__(self, *args):
            return tuple(torch.ones(1, 1, 2, 2) for _ in range(len(OUTPUT_NAMES) + 1))

    monkeypatch.setattr(ex, "ort_session", lambda path: Session())
    monkeypatch.setattr(ex, "FlatStep", Step)
    with pytest.raises(ValueError, match="zip"):
        ex.validate_onnx(net, "unused.onnx", ex.example_inputs(net, EXPORT_AT))
