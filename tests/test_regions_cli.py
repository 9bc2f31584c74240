"""`lmv test --regions`, `lmv noise-floor` and the region columns of `lmv extrapolate` on real synth stores:
the JSON (schemas lmv.test/2, lmv.noise-floor/1, lmv.frames/2), the tables, the CSV and the contact sheet."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lmv_cli.cli.app import app
from lmv_cli.core import exr
from lmv_cli.core.regions import REGIONS
from lmv_cli.core.store import pack

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [*map(str, args)])
    return result


@pytest.fixture(scope="module")
def regions_document(eval_store, tiny_model):
    result = invoke("test", tiny_model, "--data", eval_store, "--frames", 2, "--regions", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def noisy_store(eval_store, tmp_path_factory) -> Path:
    """The eval store's export rendered "again": its colours with 5 % multiplicative noise, packed."""
    export = tmp_path_factory.mktemp("noisy") / "export"
    shutil.copytree(eval_store.parent / "export", export)
    rng = np.random.default_rng(7)
    for scene in export.iterdir():
        for path in sorted((scene / "SceneColor").iterdir()):
            factor = None
            for folder in ("SceneColor", "SceneColorNoST"):
                other = scene / folder / path.name
                image = exr.read_stack(other, "RGBA")
                if factor is None:  # the same noise in both layers: the translucency layer stays consistent
                    factor = (1 + 0.05 * rng.standard_normal((1, *image.shape[1:]))).astype(np.float32)
                image[:3] *= factor
                exr.write_exr(other, dict(zip("RGBA", image)))
    out = export.parent / "noisy.zarr"
    pack(export, out, workers=1)
    return out


def test_every_region_of_every_predicted_frame_for_every_method(regions_document):
    document = regions_document
    assert document["schema"] == "lmv.test/2" and document["regions"] == list(REGIONS)
    methods = ["tiny", "warp", "repeat"]
    for record in (f for f in document["frames"] if f["predicted"]):
        regions = record["regions"]
        assert set(regions) <= set(REGIONS)
        assert sum(r["share"] for r in regions.values()) == pytest.approx(1.0)  # a partition of the frame
        for region in regions.values():
            assert list(region["methods"]) == methods  # one mask, every method scored on it
    for summary in [*document["scenes"].values(), document["overall"]]:
        assert sum(r["share"] for r in summary["regions"].values()) == pytest.approx(1.0)
        assert all(list(r["methods"]) == methods for r in summary["regions"].values())
        assert all(t > 0 for t in summary["noise_threshold"].values())
    assert "translucent" in document["scenes"]["translucency"]["regions"]
    assert "sky" in document["overall"]["regions"]


def test_without_regions_the_document_has_none(eval_store, tiny_model):
    result = invoke("test", tiny_model, "--data", eval_store, "--scene", "occlusion", "--json", "--device", "cpu")
    document = json.loads(result.stdout)
    assert document["regions"] is None and "regions" not in document["overall"]
    assert all("regions" not in f for f in document["frames"])


def test_region_table(eval_store, tiny_model):
    result = invoke("test", tiny_model, "--data", eval_store, "--scene", "translucency", "--regions", "--device",
                    "cpu")
    assert result.exit_code == 0, result.output
    assert "overall, per region (PSNR / SSIM, pooled): 5 predicted frame(s), N = 1" in result.output
    assert "translucent" in result.output and "%" in result.output


def test_noise_floor_of_identical_renders_is_exact_on_the_regions_of_lmv_test(eval_store, regions_document):
    result = invoke("noise-floor", eval_store, eval_store, "--frames", 2, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "lmv.noise-floor/1" and document["reference"] == str(eval_store)
    floor = document["overall"]["methods"]["noise_floor"]
    assert floor["psnr"] is None and floor["ssim"] == pytest.approx(1.0)  # +inf: identical
    tested = {(f["scene"], f["frame"]): f for f in regions_document["frames"] if f["predicted"]}
    floors = {(f["scene"], f["frame"]): f for f in document["frames"] if f["predicted"]}
    assert floors.keys() == tested.keys()  # the same predicted frames
    for key, record in floors.items():
        shares = {name: r["share"] for name, r in record["regions"].items()}
        assert shares == {name: r["share"] for name, r in tested[key]["regions"].items()}  # same regions
        warp = {name: r["methods"]["warp"] for name, r in record["regions"].items()}
        assert warp == {name: r["methods"]["warp"] for name, r in tested[key]["regions"].items()}


def test_noise_floor_of_a_noisy_second_render(eval_store, noisy_store, tiny_model):
    result = invoke("noise-floor", eval_store, noisy_store, "--scene", "occlusion", "--model", tiny_model,
                    "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    overall = json.loads(result.stdout)["overall"]
    assert list(overall["methods"]) == ["tiny", "noise_floor", "warp", "repeat"]
    floor = overall["methods"]["noise_floor"]["psnr"]
    assert floor is not None and 20 < floor < 60
    for region in overall["regions"].values():
        assert region["methods"]["noise_floor"]["psnr"] is not None


def test_noise_floor_refuses_a_second_render_of_another_size(eval_store, tmp_path):
    export = tmp_path / "export"
    assert invoke("synth", export, "--scene", "occlusion", "--frames", 12, "--size", "40x32").exit_code == 0
    assert invoke("pack", export, tmp_path / "other.zarr").exit_code == 0
    result = invoke("noise-floor", eval_store, tmp_path / "other.zarr", "--scene", "occlusion")
    assert result.exit_code == 1
    assert "occlusion" in result.stderr and "40x32" in result.stderr and "48x32" in result.stderr
    missing = invoke("noise-floor", eval_store, tmp_path / "other.zarr", "--scene", "translucency")
    assert missing.exit_code == 1 and "translucency" in missing.stderr


def test_extrapolate_writes_region_columns_and_a_regions_tile(eval_store, tiny_model, tmp_path):
    out = tmp_path / "out"
    result = invoke("extrapolate", eval_store, "--model", tiny_model, "--scene", "translucency", "--out", out,
                    "--device", "cpu", "--backend", "torch")
    assert result.exit_code == 0, result.output
    folder = out / "translucency"
    with (folder / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    scored = [r for r in rows if r["predicted"] == "1"]
    assert "translucent_share" in rows[0] and "tiny_translucent_psnr" in rows[0] and "warp_sky_ssim" in rows[0]
    assert all(sum(float(r[f"{g}_share"]) for g in REGIONS if r.get(f"{g}_share")) == pytest.approx(1.0)
               for r in scored)
    document = json.loads((folder / "metrics.json").read_text())
    assert document["schema"] == "lmv.frames/2"
    assert set(document["summary"]["translucency"]["regions"]) <= set(REGIONS)
    sheet = Image.open(folder / "contact_sheet.png")
    tile = 48 * 4  # 48 px tiles are enlarged to at least 160 px
    assert sheet.width == 5 * tile + 4 * 2  # prediction | truth | error | warp | regions
