"""`lmv extrapolate` on the command line with a tiny trained model on a synth store: which frames are
predicted, EXRs equal to the predictions, every report file, the video, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core import exr
from lmv_cli.core.evaluate import evaluate_scene
from lmv_cli.core.infer.video import layout, video_available
from lmv_cli.core.infer.writer import frame_name
from lmv_cli.core.model import files
from lmv_cli.core.model.files import BUNDLED_PATH, load_model, save_model
from lmv_cli.core.rollout import rp_schedule
from lmv_cli.core.store import open_store

runner = CliRunner()
SCENE = "occlusion"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return runner.invoke(app, ["extrapolate", *map(str, args)])


def one_line_error(result, code: int, match: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output
    if code == 1:
        assert len(lines) == 1, result.stderr
    assert match in result.stderr, result.stderr


@pytest.mark.parametrize("n", [1, 2, 3])
def test_predicted_frames_follow_the_pattern(eval_store, tiny_model, tmp_path, n):
    out = tmp_path / "out"
    result = run(eval_store, "--model", tiny_model, "--scene", SCENE, "--frames", n, "--start", 1, "--out", out,
                 "--no-video", "--device", "cpu")
    assert result.exit_code == 0, result.output
    expected = [1 + i for i, p in enumerate(rp_schedule(11, n)) if p]
    assert sorted(int(p.stem[6:]) for p in (out / SCENE / "exr").glob("*.exr")) == expected
    assert sorted(int(p.stem[6:]) for p in (out / SCENE / "png").glob("*.png")) == expected
    rows = list(csv.DictReader((out / SCENE / "metrics.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(1, 12))
    assert [int(r["predicted"]) for r in rows] == [int(p) for p in rp_schedule(11, n)]
    assert max(int(r["source"]) for r in rows) == n
    assert f"{SCENE}: {len(expected)} predicted frame(s)" in result.output
    assert f"-> {out}" in result.output


def test_exrs_hold_the_predictions_and_reports_are_written(eval_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    result = run(eval_store, "--model", tiny_model, "--scene", SCENE, "--frames", 2, "--out", out,
                 "--device", "cpu", "--backend", "torch", "--precision", "fp32")  # compared with torch below
    # (fp32 pinned: `auto` picks bf16 on CPUs with AVX512-BF16/AMX)
    assert result.exit_code == 0, result.output

    net = load_model(tiny_model)[0]
    predictions = {}
    evaluate_scene(open_store(eval_store).scene(SCENE), 2, {"tiny": net},
                   on_frame=lambda r, outs, _: predictions.update({r.frame: outs["tiny"].color[0].numpy()})
                   if r.predicted else None)
    assert predictions
    for t, color in predictions.items():
        path = out / SCENE / "exr" / f"{frame_name(t)}.exr"
        assert exr.read_info(path).channels == {"R": "half", "G": "half", "B": "half"}
        stored = exr.read_stack(path, ["R", "G", "B"])
        # the same network's prediction in half precision (one half step: channels_last kernels, chosen on
        # AVX512/AMX CPUs, round the float32 value differently)
        np.testing.assert_allclose(stored, color.astype(np.float16).astype(np.float32), rtol=1e-3, atol=1e-5)

    folder = out / SCENE
    for png in ("contact_sheet.png", "psnr.png", f"png/{frame_name(min(predictions))}.png"):
        assert (folder / png).read_bytes()[:8] == PNG_SIGNATURE, png
    document = json.loads((folder / "metrics.json").read_text())
    assert document["schema"] == "lmv.frames/2" and document["frames_per_rendered"] == 2
    scored = [f for f in document["frames"] if f["predicted"]]
    assert [f["frame"] for f in scored] == sorted(predictions)
    assert set(scored[0]["metrics"]) == {"tiny", "warp", "repeat"}
    # the layers' SSIM only with --all-metrics; their PSNR always
    assert set(scored[0]["metrics"]["warp"]) == {"psnr", "ssim", "psnr_no_st", "psnr_st"}
    assert document["summary"][SCENE]["frames"] == len(predictions)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["all"]["methods"]["warp"]["psnr"] == document["summary"][SCENE]["methods"]["warp"]["psnr"]


@pytest.mark.skipif(not video_available(), reason="the 'video' extra (PyAV) is not installed")
def test_video_has_every_frame_side_by_side(eval_store, tiny_model, tmp_path):
    import av

    out = tmp_path / "out"
    result = run(eval_store, "--model", tiny_model, "--scene", SCENE, "--frames", 3, "--end", 8, "--out", out,
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    path = out / SCENE / "video.mp4"
    assert f"video: {path}" in result.output
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    scene = open_store(eval_store).scene(SCENE)
    assert len(frames) == 8
    down, up, band = layout(scene.height, scene.width)  # label band above three tiles (test_extrapolate_outputs)
    h, w = scene.height // down * up, scene.width // down * up
    assert frames[0].shape == (band + h + h % 2, 3 * w + 2 * 2, 3)


def test_without_the_video_extra_a_note_replaces_the_video(eval_store, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr("lmv_cli.core.infer.extrapolate.video_available", lambda: False)
    result = run(eval_store, "--model", tiny_model, "--scene", SCENE, "--end", 5, "--out", tmp_path / "o",
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "no video: install the 'video' extra" in result.output
    assert not (tmp_path / "o" / SCENE / "video.mp4").exists()


def test_without_model_the_bundled_model_is_used(eval_store, tmp_path):
    """Issue 14: `extrapolate STORE` with no --model runs the network shipped in the package; `lmv test`
    accepts `bundled` and reports it under that name."""
    result = run(eval_store, "--scene", SCENE, "--out", tmp_path / "o", "--end", "6", "--no-video",
                 "--backend", "torch")
    assert result.exit_code == 0, result.output
    assert f"with model {BUNDLED_PATH}" in result.output
    payload = torch.load(BUNDLED_PATH, weights_only=True)
    assert payload["format"] == "lmv-model" and payload["model"]["preset"] == "fsnet_lite"  # docs/model-card.md
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values())  # shipped small
    tested = CliRunner().invoke(app, ["test", "bundled", "--data", str(eval_store), "--scene", SCENE, "--json",
                                      "--no-flip", "--backend", "torch"])
    assert tested.exit_code == 0, tested.output
    assert "bundled" in json.loads(tested.stdout)["models"]


def test_missing_bundled_model_is_one_line(eval_store, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BUNDLED_PATH", tmp_path / "absent.pt")
    one_line_error(run(eval_store, "--out", tmp_path / "o"), 1, "no model is bundled with this lmv installation")


def test_output_folder_that_is_a_file(eval_store, tiny_model, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("x")
    one_line_error(run(eval_store, "--model", tiny_model, "--out", blocker), 1, f"{blocker}: output folder is a file")


def test_frames_zero_is_a_usage_error(eval_store, tiny_model, tmp_path):
    one_line_error(run(eval_store, "--model", tiny_model, "--frames", 0, "--out", tmp_path / "o"), 2, "--frames")


def test_unknown_scene_lists_the_scenes(eval_store, tiny_model, tmp_path):
    result = run(eval_store, "--model", tiny_model, "--scene", "nope", "--out", tmp_path / "o")
    one_line_error(result, 1, "no scene 'nope'; scenes: occlusion, translucency")
    assert not (tmp_path / "o").exists()


def test_model_file_that_is_not_a_checkpoint(eval_store, tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_text("not a model")
    one_line_error(run(eval_store, "--model", bogus, "--out", tmp_path / "o"), 1, f"{bogus}: not a model file: it is text")


def test_model_trained_on_another_store_version(eval_store, tiny_model, tmp_path):
    model, cfg, meta = load_model(tiny_model)
    meta["data"]["format_version"] = 1
    other = save_model(tmp_path / "old.pt", model, cfg, meta)
    one_line_error(run(eval_store, "--model", other, "--out", tmp_path / "o"), 1,
                   "trained on store format version 1")
    assert not (tmp_path / "o").exists()


def test_precision_and_backend_choices_are_checked(eval_store, tiny_model, tmp_path):
    """An unknown choice is a usage error (exit 2) naming the value and the choices."""
    for option, value, choice in (("--backend", "tensorrt", "onnxruntime"), ("--precision", "fp8", "bf16")):
        result = run(eval_store, "--model", tiny_model, option, value, "--out", tmp_path / "o")
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert value in result.output and choice in result.output
    assert not (tmp_path / "o").exists()




def test_all_metrics_adds_the_layers_ssim_with_the_values_of_lmv_test(eval_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    result = run(eval_store, "--model", tiny_model, "--scene", SCENE, "--out", out, "--all-metrics", "--no-video",
                 "--device", "cpu", "--backend", "torch", "--precision", "fp32")
    assert result.exit_code == 0, result.output
    with (out / SCENE / "metrics.csv").open() as f:
        scored = [r for r in csv.DictReader(f) if r["predicted"] == "1"]
    records = evaluate_scene(open_store(eval_store).scene(SCENE), 1, {"tiny": load_model(tiny_model)[0]})
    expected = [r.metrics for r in records if r.predicted]
    assert len(scored) == len(expected)
    for row, metrics in zip(scored, expected):
        for method in ("tiny", "warp", "repeat"):
            for name in ("ssim_no_st", "ssim_st", "psnr_no_st"):
                assert float(row[f"{method}_{name}"]) == pytest.approx(metrics[method][name], rel=1e-5, abs=1e-6)
