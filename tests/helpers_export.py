"""Tiny UE4-layout exports written from numpy arrays, for store tests that need control over values
(NaN/Inf, float32 colours, overflowing colours, many frames) that `lmv synth` does not give; and two
store helpers (compare two stores, compare a store with the export it was packed from, edit root
attributes).

Every frame is consistent with the export conventions: sky pixels (top rows) have base colour 0 and
depth = SkyDepth = 1e6 cm, SceneColor = SceneColorNoST · STAlpha + STColor, normals are unit length.
Colour and material files are half (like UE's RGBA16f targets) unless `colour_dtype` says otherwise;
VelocityDepth and SkyDepth are float32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr

from lmv_cli.core import exr
from lmv_cli.core.schema import SKY_DEPTH_CM
from lmv_cli.core.store import layout, open_store

FLOAT32_FOLDERS = ("VelocityDepth", "SkyDepth")


def frame_arrays(k: int, height: int, width: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Folder → (4, H, W) float32 RGBA for frame k: a few sky rows on top, random materials below."""
    rng = np.random.default_rng([seed, k])
    shape = (height, width)
    sky = np.zeros(shape, dtype=bool)
    sky[: max(1, height // 4)] = True

    def rgba(*planes):
        out = np.zeros((4, *shape), dtype=np.float32)
        out[3] = 1.0
        for i, p in enumerate(planes):
            out[i] = p
        return out

    base = np.where(sky, 0.0, rng.uniform(0.05, 0.9, (3, *shape)))
    no_st = rng.uniform(0.0, 4.0, (3, *shape))
    alpha = np.where(rng.random(shape) < 0.5, 1.0, rng.uniform(0.0, 1.0, shape))
    st = rng.uniform(0.0, 0.5, (3, *shape)) * (alpha < 1)
    scene = no_st * alpha + st
    normal = rng.normal(size=(3, *shape))
    normal /= np.linalg.norm(normal, axis=0, keepdims=True)
    depth = np.where(sky, SKY_DEPTH_CM, rng.uniform(50.0, 5000.0, shape))
    velocity = rng.uniform(-0.05, 0.05, (2, *shape))
    return {
        "SceneColor": rgba(*scene),
        "SceneColorNoST": rgba(*no_st),
        "STAlpha": rgba(alpha),
        "SkyColor": rgba(*rng.uniform(0.1, 2.0, (3, *shape))),
        "SkyDepth": rgba(np.full(shape, SKY_DEPTH_CM)),
        "BaseColor": rgba(*base),
        "MetallicRoughnessStencil": rgba(rng.random(shape) < 0.3, rng.uniform(0, 1, shape), rng.integers(0, 4, shape)),
        "NoVSpecular": rgba(rng.uniform(-0.1, 1.0, shape), rng.uniform(0.3, 0.7, shape)),
        "VelocityDepth": rgba(velocity[0], velocity[1], depth),
        "WorldNormal": rgba(*normal),
    }


def write_export(
    scene_dir: Path,
    frames: int = 3,
    height: int = 16,
    width: int = 24,
    *,
    seed: int = 0,
    colour_dtype=np.float16,
    edit=None,
) -> Path:
    """Write a scene folder; `edit(k, arrays)` may change frame k's float32 arrays before writing."""
    for k in range(frames):
        arrays = frame_arrays(k, height, width, seed)
        if edit is not None:
            edit(k, arrays)
        for folder, image in arrays.items():
            (scene_dir / folder).mkdir(parents=True, exist_ok=True)
            dtype = np.float32 if folder in FLOAT32_FOLDERS else colour_dtype
            exr.write_rgba(scene_dir / folder / f"frame_{k}.EXR", image.astype(dtype))
    return scene_dir


def assert_same_store(a: Path, b: Path) -> None:
    """Every array and attribute equal (the creation time aside)."""
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    attrs_a, attrs_b = dict(ga.attrs), dict(gb.attrs)
    attrs_a.pop("created"), attrs_b.pop("created")
    assert attrs_a == attrs_b
    for name in ga.attrs["scenes"]:
        assert dict(ga[name].attrs) == dict(gb[name].attrs)
        assert sorted(ga[name].array_keys()) == sorted(gb[name].array_keys())
        for key in ga[name].array_keys():
            np.testing.assert_array_equal(ga[name][key][:], gb[name][key][:], err_msg=f"{name}/{key}")


def set_root_attr(store: Path, **attrs) -> None:
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"].update(attrs)
    (store / "zarr.json").write_text(json.dumps(meta))


def expected_frame(scene_dir: Path, t: int) -> dict[str, np.ndarray]:
    """The stored arrays of frame t, computed straight from the EXR files (docs/store.md#derived-buffers)."""
    def read(folder, names):
        planes = exr.read_channels(scene_dir / folder / f"frame_{t}.EXR", names)
        x = np.stack([p.astype(np.float32) for p in planes.values()])
        return np.where(np.isfinite(x), x, np.float32(0))

    f16 = lambda x: np.clip(x, -65504, 65504).astype(np.float16)  # noqa: E731
    sc, ns, a = read("SceneColor", "RGB"), read("SceneColorNoST", "RGB"), read("STAlpha", "R")
    mrs, nvs, vd = read("MetallicRoughnessStencil", "RG"), read("NoVSpecular", "RG"), read("VelocityDepth", "RGB")
    base, sky = read("BaseColor", "RGB"), read("SkyColor", "RGB")
    sky_mask = (vd[2:3] >= read("SkyDepth", "R") * np.float32(1 - 1e-4)) & np.all(base == 0, axis=0, keepdims=True)
    return {
        "scene_color": f16(sc), "scene_color_no_st": f16(ns), "st_color": f16(np.maximum(sc - ns * a, 0)),
        "st_alpha": f16(a), "sky_color": f16(sky), "base_color": f16(base), "metallic": f16(mrs[0:1]),
        "roughness": f16(mrs[1:2]), "specular": f16(nvs[1:2]), "nov": f16(nvs[0:1]),
        "world_normal": f16(read("WorldNormal", "RGB")), "depth": vd[2:3],
        "motion_vector": np.stack([vd[0], -vd[1]]), "skybox_mask": sky_mask.astype(np.uint8),
        # brdf_color: not recomputed with the code under test; tests/test_brdf_color.py checks the stored
        # values against an independent naive implementation
    }  # fmt: skip


def assert_store_matches_export(store_path: Path, scene_dirs: dict[str, Path]) -> None:
    store = open_store(store_path)
    assert store.scenes == tuple(scene_dirs)
    for name, scene_dir in scene_dirs.items():
        scene = store.scene(name)
        for t in range(scene.frames):
            got = scene.frame(t)
            for buffer, want in expected_frame(scene_dir, t).items():
                assert got[buffer].dtype == np.dtype(layout.BUFFERS_BY_NAME[buffer].dtype), buffer
                np.testing.assert_array_equal(got[buffer], want, err_msg=f"{name} frame {t} {buffer}")
