"""`lmv test` on the command line: tables, the `--json` document (schema lmv.test/2), the plot, one-line
errors, and agreement of its warp/repeat figures with `lmv capture-check`'s motion figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core.metrics import flip_available
from lmv_cli.core.model.files import load_model, save_model
from lmv_cli.core.rollout import rp_schedule

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRIC_NAMES = ["psnr", "ssim", "psnr_no_st", "psnr_st"]  # the layers' SSIM only with --all-metrics


def run(*args):
    return runner.invoke(app, ["test", *map(str, args)])


def one_line_error(result, code: int, match: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert match in result.stderr, result.stderr


@pytest.fixture(scope="module")
def document(eval_store, tiny_model):
    """`lmv test --json` of the tiny model given twice (reported as tiny and tiny#2), N = 2, no ꟻLIP."""
    result = run(tiny_model, tiny_model, "--data", eval_store, "--frames", 2, "--json", "--device", "cpu",
                 "--no-flip")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_document_schema(document, eval_store, tiny_model):
    assert document["schema"] == "lmv.test/2" and document["ok"] is True
    assert document["store"] == str(eval_store) and document["frames_per_rendered"] == 2
    assert document["models"] == {"tiny": str(tiny_model), "tiny#2": str(tiny_model)}
    assert document["baselines"] == ["warp", "repeat"]
    assert document["metrics"] == METRIC_NAMES
    assert list(document["scenes"]) == ["occlusion", "translucency"]
    for summary in [*document["scenes"].values(), document["overall"]]:
        assert list(summary["methods"]) == ["tiny", "tiny#2", "warp", "repeat"]
        assert list(summary["methods"]["warp"]) == document["metrics"]
    assert document["overall"]["frames"] == sum(s["frames"] for s in document["scenes"].values())


def test_every_method_scored_on_the_same_frames(document):
    for scene in ("occlusion", "translucency"):
        frames = [f for f in document["frames"] if f["scene"] == scene]
        assert [f["predicted"] for f in frames] == rp_schedule(12, 2)
        for f in frames:
            assert set(f["metrics"]) == ({"tiny", "tiny#2", "warp", "repeat"} if f["predicted"] else set())
        assert document["scenes"][scene]["frames"] == sum(f["predicted"] for f in frames)
    summary = document["overall"]["methods"]
    assert summary["tiny"] == summary["tiny#2"]  # the same network on the same frames
    assert summary["warp"]["psnr"] != summary["repeat"]["psnr"]


def test_table_and_plot(eval_store, tiny_model, tmp_path):
    plot = tmp_path / "plots" / "psnr.png"
    result = run(tiny_model, "--data", eval_store, "--scene", "translucency", "--plot", plot, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "scene translucency: 5 predicted frame(s), N = 1" in result.output
    assert "overall: 5 predicted frame(s), N = 1" in result.output
    for header in ("PSNR no-ST", "PSNR ST", "tiny", "warp", "repeat"):
        assert header in result.output
    assert "FLIP HDR" not in result.output  # opt-in (--flip): it costs seconds per image
    assert "SSIM ST" not in result.output and "SSIM no-ST" not in result.output  # opt-in (--all-metrics)
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    assert f"plot: {plot}" in result.output


def test_warp_and_repeat_agree_with_capture_check(eval_store, document_n1, tmp_path):
    """Acceptance 2: for every frame t that `lmv test` scores at N = 1, `lmv capture-check` on the export
    cut to the pair (t−1, t) reports the same warp and repeat PSNR. capture-check scores SceneColorNoST,
    i.e. `lmv test`'s no-translucency layer (docs/evaluation.md#lmv-test-and-capture-check)."""
    export = eval_store.parent / "export" / "occlusion"
    scored = [f for f in document_n1["frames"] if f["scene"] == "occlusion" and f["predicted"]]
    assert [f["frame"] for f in scored] == [3, 5, 7, 9, 11]
    for f in scored:
        pair = _cut_pair(export, f["frame"], tmp_path / f"pair{f['frame']}")
        result = runner.invoke(app, ["capture-check", str(pair), "--json"])
        motion = json.loads(result.stdout)["scenes"][0]["motion"]
        assert motion["pairs"] == 1
        assert motion["warp_psnr"] == pytest.approx(f["metrics"]["warp"]["psnr_no_st"], abs=1e-3)
        assert motion["repeat_psnr"] == pytest.approx(f["metrics"]["repeat"]["psnr_no_st"], abs=1e-3)


def test_all_metrics_adds_the_layers_ssim_and_changes_no_other_figure(eval_store, tiny_model, document_n1):
    result = run(tiny_model, "--data", eval_store, "--scene", "occlusion", "--json", "--device", "cpu",
                 "--all-metrics")
    assert result.exit_code == 0, result.output
    full = json.loads(result.stdout)
    assert full["metrics"] == ["psnr", "ssim", "psnr_no_st", "ssim_no_st", "psnr_st", "ssim_st"]
    for method, values in full["overall"]["methods"].items():
        assert 0 < values["ssim_no_st"] <= 1 and 0 < values["ssim_st"] <= 1
        assert {k: values[k] for k in METRIC_NAMES} == document_n1["overall"]["methods"][method]
    table = run(tiny_model, "--data", eval_store, "--scene", "occlusion", "--device", "cpu", "--all-metrics")
    assert "SSIM no-ST" in table.output and "SSIM ST" in table.output


@pytest.fixture(scope="module")
def document_n1(eval_store, tiny_model):
    result = run(tiny_model, "--data", eval_store, "--scene", "occlusion", "--frames", 1, "--json", "--device", "cpu",
                 "--no-flip")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _cut_pair(export: Path, t: int, out: Path) -> Path:
    """A two-frame export: frames t−1 and t of `export` renumbered 0 and 1 (every buffer folder)."""
    for folder in (p for p in export.iterdir() if p.is_dir()):
        (out / folder.name).mkdir(parents=True)
        for k, source in enumerate((t - 1, t)):
            shutil.copy(folder / f"frame_{source}.EXR", out / folder.name / f"frame_{k}.EXR")
    return out


def test_frames_zero_is_a_usage_error(eval_store, tiny_model):
    one_line_error(run(tiny_model, "--data", eval_store, "--frames", 0), 2, "--frames")


def test_unknown_scene_lists_the_scenes(eval_store, tiny_model):
    one_line_error(run(tiny_model, "--data", eval_store, "--scene", "nope"), 1,
                   "no scene 'nope'; scenes: occlusion, translucency")


def test_model_file_that_is_not_a_checkpoint(eval_store, tmp_path):
    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"\x00" * 64)
    one_line_error(run(bogus, "--data", eval_store), 1, f"{bogus}: not a PyTorch model file")


def test_model_store_mismatch_with_json_error(eval_store, tiny_model, tmp_path):
    model, cfg, meta = load_model(tiny_model)
    meta["data"]["conversions"]["depth_norm_cm"] = 1.0
    other = save_model(tmp_path / "other.pt", model, cfg, meta)
    result = run(other, "--data", eval_store, "--json")
    one_line_error(result, 1, "trained on store conversions with depth_norm_cm = 1.0")
    error = json.loads(result.stdout)
    assert error["schema"] == "lmv.error/1" and error["exit_code"] == 1 and error["error"]["path"] == str(other)


def test_flip_asked_without_the_metrics_extra(eval_store, tiny_model, monkeypatch):
    monkeypatch.setattr("lmv_cli.core.infer.compare.flip_available", lambda: False)
    one_line_error(run(tiny_model, "--data", eval_store, "--flip"), 1, "ꟻLIP needs the 'metrics' extra")


def test_missing_store(tiny_model, tmp_path):
    one_line_error(run(tiny_model, "--data", tmp_path / "none.zarr"), 1, "no such store")
