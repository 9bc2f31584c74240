"""The store: packing gives the EXR data after the documented conversions (acceptance 1), the reader
API, resume/overwrite rules and every error of `pack` and `open_store`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from helpers_export import assert_same_store, assert_store_matches_export, set_root_attr, write_export
from lmv_cli.core.errors import CaptureError, ExrError, StoreError
from lmv_cli.core.store import layout, open_store, pack

FIXTURE = Path(__file__).parent / "fixtures" / "corridor_crop"


@pytest.fixture(scope="module")
def two_scenes(tmp_path_factory) -> Path:
    """An export of two scenes of different sizes, the second with NaN/Inf in some inputs."""
    root = tmp_path_factory.mktemp("export")
    write_export(root / "alpha", frames=3, height=16, width=24, seed=1)

    def poison(k, arrays):
        if k == 1:
            arrays["SceneColorNoST"][0, 2, 3] = np.nan
            arrays["VelocityDepth"][1, 0, 0] = np.inf
            arrays["WorldNormal"][2, 5, 5] = -np.inf

    write_export(root / "beta", frames=2, height=12, width=20, seed=2, edit=poison)
    return root


@pytest.fixture(scope="module")
def packed(two_scenes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stores") / "two.zarr"
    pack(two_scenes, out, workers=1)
    return out


def test_pack_equals_exr_after_conversions(packed, two_scenes):
    assert_store_matches_export(packed, {"alpha": two_scenes / "alpha", "beta": two_scenes / "beta"})


def test_pack_real_renderer_fixture(tmp_path):
    """Acceptance 1 on a crop of the Cycles-rendered corridor scene (half colours, float32 depth)."""
    pack(FIXTURE, tmp_path / "real.zarr")
    assert_store_matches_export(tmp_path / "real.zarr", {"corridor_crop": FIXTURE})
    scene = open_store(tmp_path / "real.zarr").scene("corridor_crop")
    assert scene.stats["skybox_mask"]["max"] == 1.0  # the fixed rule finds the sky in real data


def test_pack_synth_scene(synth_scene, tmp_path):
    pack(synth_scene, tmp_path / "synth.zarr")
    assert_store_matches_export(tmp_path / "synth.zarr", {synth_scene.name: synth_scene})


def test_float32_colours_are_rounded_and_clamped_to_float16(tmp_path):
    def hot(k, arrays):
        arrays["SceneColor"][0, 0, 0] = 1e6  # overflows float16
        arrays["SceneColor"][1, 0, 0] = 0.1  # not representable in float16

    write_export(tmp_path / "hot", frames=1, colour_dtype=np.float32, edit=hot)
    pack(tmp_path / "hot", tmp_path / "hot.zarr")
    assert_store_matches_export(tmp_path / "hot.zarr", {"hot": tmp_path / "hot"})
    colour = open_store(tmp_path / "hot.zarr").scene("hot").read("scene_color", 0)
    assert colour[0, 0, 0] == np.float16(65504) and colour[1, 0, 0] == np.float16(0.1)


def test_attributes(packed, two_scenes):
    store = open_store(packed)
    assert store.attrs["format"] == "lmv-store" and store.attrs["format_version"] == 2
    assert store.attrs["complete"] is True and store.attrs["source"] == str(two_scenes.resolve())
    beta = store.scene("beta")
    assert (beta.frames, beta.height, beta.width) == (2, 12, 20)
    assert beta.attrs["nonfinite"]["SceneColorNoST"] == 1 and beta.attrs["nonfinite"]["VelocityDepth"] == 1
    assert beta.attrs["nonfinite_total"] == 3 and beta.attrs["frames_done"] == 2
    depth = np.stack([beta.read("depth", t) for t in range(2)])
    assert beta.stats["depth"] == pytest.approx({"min": depth.min(), "max": depth.max(), "mean": depth.mean()})
    colour = np.stack([beta.read("scene_color", t) for t in range(2)]).astype(np.float64)
    assert beta.stats["scene_color"]["max"] == colour.max()
    assert beta.stats["scene_color"]["mean"] == pytest.approx(colour.mean(), rel=1e-3)  # mean before float16
    array = zarr.open_array(str(packed / "beta" / "brdf_color"), mode="r")
    assert array.metadata.dimension_names == ("frame", "channel", "y", "x")
    assert array.chunks == (1, 3, 12, 20)


def test_reader_frames_windows_and_crops(packed):
    scene = open_store(packed)["alpha"]
    window = scene.window(1, 2, ["scene_color", "motion_vector"], crop=(2, 3, 5, 7))
    assert window["scene_color"].shape == (2, 3, 5, 7) and window["motion_vector"].shape == (2, 2, 5, 7)
    full = scene.read("scene_color", 2)
    np.testing.assert_array_equal(window["scene_color"][1], full[:, 2:7, 3:10])
    assert set(scene.frame(0)) == set(layout.BUFFER_NAMES)
    assert [s.name for s in open_store(packed)] == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.scene("gamma"), r"no scene 'gamma'; scenes: alpha, beta"),
        (lambda s: s["alpha"].read("albedo", 0), r"no buffer 'albedo'"),
        (lambda s: s["alpha"].read("depth", 3), r"frame 3 out of range \(scene has frames 0..2\)"),
        (lambda s: s["alpha"].window(2, 2), r"frames 2..3 out of range"),
        (lambda s: s["alpha"].read("depth", 0, crop=(10, 0, 8, 8)), r"crop .* outside the 24x16 frame"),
    ],
)
def test_reader_errors(packed, call, message):
    with pytest.raises(StoreError, match=message):
        call(open_store(packed))


def test_workers_give_the_same_store(packed, two_scenes, tmp_path):
    pack(two_scenes, tmp_path / "parallel.zarr", workers=2)
    assert_same_store(packed, tmp_path / "parallel.zarr")


def test_resume_continues_an_interrupted_store(packed, two_scenes, tmp_path):
    """Simulated interruption (the SIGKILL case is in test_pack_cli): frames not marked done and their
    chunks gone, root incomplete. Opening fails clearly; --resume rebuilds an identical store."""
    out = tmp_path / "resumed.zarr"
    shutil.copytree(packed, out)
    root = zarr.open_group(str(out), mode="r+")
    root.attrs["complete"] = False
    root["alpha"][layout.FRAMES_DONE][:] = np.array([1, 0, 0], np.uint8)
    for chunk in (out / "alpha" / "scene_color" / "c").glob("[12]"):
        shutil.rmtree(chunk)
    (out / "alpha" / "depth" / "zarr.json.1234.partial").write_text("junk from a killed write")
    with pytest.raises(StoreError, match=r"incomplete: 1/3 frames of scene alpha packed"):
        open_store(out)
    result = pack(two_scenes, out, resume=True)
    assert [(name, done) for name, _, done in result.scenes] == [("alpha", 2), ("beta", 0)]
    assert not list(out.rglob("*.partial"))
    assert_same_store(packed, out)


def test_overwrite_replaces_a_store(packed, two_scenes, tmp_path):
    out = tmp_path / "over.zarr"
    write_export(tmp_path / "other", frames=1)
    pack(tmp_path / "other", out)
    pack(two_scenes, out, overwrite=True)
    assert_same_store(packed, out)


def test_existing_store_needs_a_flag(packed, two_scenes):
    with pytest.raises(StoreError, match="already exists; pass `resume` .* or `overwrite`") as raised:
        pack(two_scenes, packed)
    assert (raised.value.path, raised.value.option) == (packed, "overwrite")


def test_output_path_that_is_a_file(two_scenes, tmp_path):
    target = tmp_path / "file.zarr"
    target.write_text("not a store")
    with pytest.raises(StoreError, match="exists and is not a folder"):
        pack(two_scenes, target, overwrite=True)
    assert target.read_text() == "not a store"


def test_output_path_that_cannot_be_created(two_scenes, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match=r"cannot create the store: .*notes\.txt is a file, not a folder"):
        pack(two_scenes, tmp_path / "notes.txt" / "s.zarr")
    with pytest.raises(StoreError, match="cannot write the store: File name too long"):
        pack(two_scenes, tmp_path / ("x" * 300) / "s.zarr")


def test_overwrite_refuses_a_folder_that_is_not_a_store(two_scenes, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_text("precious")
    with pytest.raises(StoreError, match="is not an lmv store .* refusing to delete it"):
        pack(two_scenes, tmp_path / "photos", overwrite=True)
    assert (tmp_path / "photos" / "holiday.jpg").exists()


def test_flags_exclude_each_other_and_workers_positive(two_scenes, tmp_path):
    with pytest.raises(StoreError, match="`resume` and `overwrite` exclude each other"):
        pack(two_scenes, tmp_path / "x.zarr", resume=True, overwrite=True)
    with pytest.raises(StoreError, match=r"must be 0 \(automatic\) or more, got -1") as raised:
        pack(two_scenes, tmp_path / "x.zarr", workers=-1)
    assert (raised.value.option, raised.value.value) == ("workers", -1)


def test_other_format_version(packed, two_scenes, tmp_path):
    out = tmp_path / "v1.zarr"
    shutil.copytree(packed, out)
    set_root_attr(out, format_version=1)
    with pytest.raises(StoreError, match=r"store format version 1, this lmv reads 2; re-pack the export") as raised:
        open_store(out)
    assert raised.value.option == "pack.overwrite"
    with pytest.raises(StoreError, match="cannot resume: store format version 1, this lmv writes 2; pass `overwrite`"):
        pack(two_scenes, out, resume=True)


def test_resume_refuses_another_source(packed, tmp_path):
    out = tmp_path / "elsewhere.zarr"
    shutil.copytree(packed, out)
    write_export(tmp_path / "other" / "alpha", frames=3, height=16, width=24)
    with pytest.raises(StoreError, match="cannot resume: the store was packed differently .*source"):
        pack(tmp_path / "other", out, resume=True)


def test_open_store_refuses_what_is_not_a_complete_store(packed, tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        open_store(tmp_path / "missing.zarr")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file, not an lmv store"):
        open_store(tmp_path / "file")
    zarr.create_group(str(tmp_path / "plain.zarr"), attributes={"hello": 1})
    with pytest.raises(StoreError, match="not an lmv store"):
        open_store(tmp_path / "plain.zarr")
    finishing = tmp_path / "finishing.zarr"
    shutil.copytree(packed, finishing)
    set_root_attr(finishing, complete=False)
    with pytest.raises(StoreError, match="packing stopped while finishing; finish it with `pack.resume`"):
        open_store(finishing)


def test_broken_export_is_refused_naming_the_problems(two_scenes, tmp_path):
    export = tmp_path / "broken"
    shutil.copytree(two_scenes, export)
    shutil.rmtree(export / "alpha" / "NoVSpecular")
    path = export / "beta" / "SceneColor" / "frame_1.EXR"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CaptureError, match=r"2 problem\(s\): .*missing buffer folder NoVSpecular.*truncated"):
        pack(export, tmp_path / "broken.zarr")
    assert not (tmp_path / "broken.zarr").exists()


def test_undecodable_frame_leaves_an_incomplete_store(two_scenes, tmp_path):
    """A file whose header is fine but whose pixels do not decode passes the quick check; packing then
    stops with the file named and the store stays visibly incomplete."""
    export = tmp_path / "corrupt"
    shutil.copytree(two_scenes, export)
    path = export / "beta" / "WorldNormal" / "frame_1.EXR"
    data = bytearray(path.read_bytes())
    data[-200:-8] = bytes(192)  # zero the tail of the last compressed chunk
    path.write_bytes(bytes(data))
    message = r"beta/WorldNormal/frame_1\.EXR.*c\.zarr is left incomplete: pass `resume`"
    with pytest.raises(ExrError, match=message):
        pack(export, tmp_path / "c.zarr")
    with pytest.raises(StoreError, match="incomplete"):
        open_store(tmp_path / "c.zarr")


def test_worker_chunks_are_the_bytes_zarr_writes(packed, tmp_path):
    """Workers write chunk files themselves (`layout.encode_chunk`): each must equal, byte for byte,
    what zarr writes for the same values through the array's own codecs."""
    group = zarr.open_group(packed, mode="r")["beta"]
    for spec in layout.BUFFERS:
        values = group[spec.name][1]
        rewritten = zarr.create_array(tmp_path / spec.name, shape=(1, *values.shape), chunks=(1, *values.shape),
                                      dtype=spec.dtype, fill_value=0, compressors=layout.codecs())
        with zarr.config.set({"array.write_empty_chunks": True}):
            rewritten[0] = values
        stored = (packed / "beta" / layout.chunk_key(spec.name, 1)).read_bytes()
        assert stored == (tmp_path / spec.name / "c/0/0/0/0").read_bytes(), spec.name
        assert stored == layout.encode_chunk(values), spec.name
