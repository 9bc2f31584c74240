"""`lmv synth`: layout, buffer identities, exact velocity/depth, determinism, warp quality, CLI.

Projections in these tests go through `camera.json`'s 4×4 matrices (metres, OpenGL style), a code
path independent of the renderer's own camera model.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from lmv_cli.core import exr
from lmv_cli.core.color import aces
from lmv_cli.core.conventions import backward_warp_np, motion_vector_to_pixels, velocity_to_motion_vector
from lmv_cli.core.errors import ConfigError, LmvError
from lmv_cli.core.schema import BUFFERS, SKY_DEPTH_CM, frame_path_name
from lmv_cli.core.synth import SCENES, build_scene, render_frame, resolve_scenes, write_capture
from lmv_cli.core.synth.camera import CameraRig, pixel_ndc
from lmv_cli.core.synth.capture_writer import camera_json, check_options
from lmv_cli.core.synth.materials import Material, Pattern
from lmv_cli.core.synth.motion import Motion, Path3, still
from lmv_cli.core.synth.primitives import Shape, intersect
from lmv_cli.core.synth.render import prepare, trace_points
from lmv_cli.core.synth.world import SceneObject, Sky, Sun, SynthScene


def read(folder, buffer, k):
    return exr.read_stack(folder / buffer / frame_path_name(k), "RGBA")


def project(record: dict, points_cm: np.ndarray) -> np.ndarray:
    """World points (N, 3) cm → NDC (N, 2), y up, through camera.json's matrices."""
    homo = np.concatenate([points_cm / 100.0, np.ones((len(points_cm), 1))], axis=1)
    clip = homo @ np.array(record["world_to_cam"]).T @ np.array(record["projection"]).T
    return clip[:, :2] / clip[:, 3:4]


def psnr(a, b, mask=None) -> float:
    err = ((aces(a) - aces(b)) ** 2).mean(axis=0)
    mse = float(err[mask].mean() if mask is not None else err.mean())
    return 10 * math.log10(1.0 / mse) if mse > 0 else math.inf


def consistent(prev: dict, cur: dict) -> np.ndarray:
    """Pixels of frame t whose four bilinear taps in t−1 show the same object at a similar depth with
    one normal: visible in both frames and away from edges and creases. (H, W) bool."""
    flow = motion_vector_to_pixels(velocity_to_motion_vector(cur["VelocityDepth"][:2]))
    _, h, w = flow.shape
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    sx, sy = xs - flow[0], ys - flow[1]
    ok = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    x0, y0 = np.clip(np.floor(sx), 0, w - 1).astype(int), np.clip(np.floor(sy), 0, h - 1).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    stencil, depth, normal = cur["MetallicRoughnessStencil"][2], cur["VelocityDepth"][2], prev["WorldNormal"][:3]
    for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):
        ok &= prev["MetallicRoughnessStencil"][2][yy, xx] == stencil
        ok &= np.abs(prev["VelocityDepth"][2][yy, xx] / depth - 1.0) < 0.05
        ok &= (normal[:, yy, xx] * normal[:, y0, x0]).sum(axis=0) > 0.98
    return ok


def warp_prev(prev: dict, cur: dict) -> np.ndarray:
    return backward_warp_np(prev["SceneColorNoST"][:3], velocity_to_motion_vector(cur["VelocityDepth"][:2]))


# ---------------------------------------------------------------------------------------------------
# layout and metadata


def test_export_layout_channels_and_alpha(synth_scene):
    assert sorted(p.name for p in synth_scene.iterdir() if p.is_dir()) == sorted(b.folder for b in BUFFERS)
    for b in BUFFERS:
        assert sorted(p.name for p in (synth_scene / b.folder).iterdir()) == sorted(frame_path_name(k) for k in range(8))
    info = exr.read_info(synth_scene / "VelocityDepth" / "frame_3.EXR")
    assert (info.width, info.height) == (96, 64)
    assert info.channels == {c: "float" for c in "RGBA"}
    # Alpha as the UE capture writes it: 1 on colour buffers, 0 on G-buffers, 0 unused channels.
    for folder, alpha in (("SceneColor", 1.0), ("SkyColor", 1.0), ("BaseColor", 0.0), ("VelocityDepth", 0.0)):
        assert np.all(read(synth_scene, folder, 2)[3] == alpha), folder
    assert np.all(read(synth_scene, "SkyDepth", 2)[0] == SKY_DEPTH_CM)
    assert np.all(read(synth_scene, "STAlpha", 2)[1:] == 0.0)


def test_camera_json(synth_scene):
    meta = json.loads((synth_scene / "camera.json").read_text())
    assert (meta["scene"], meta["fps"], meta["frames"], meta["resolution"], meta["seed"]) == ("occlusion", 60, 8, [96, 64], 0)
    assert len(meta["cameras"]) == 8 and "prev_camera_of_frame_0" in meta
    assert meta["sky_depth_cm"] == SKY_DEPTH_CM
    assert set(meta["static_pass_indices"]) < set(meta["objects_pass_index"].values())


def test_scene_registry_and_unknown_scene():
    assert {"orbit", "occlusion", "moving_light", "translucency"} <= set(SCENES)
    assert resolve_scenes(["all"]) == list(SCENES)
    assert resolve_scenes(["orbit,occlusion", "orbit"]) == ["orbit", "occlusion"]
    with pytest.raises(ConfigError, match=r"unknown scene 'nope'; valid scenes: orbit, occlusion"):
        resolve_scenes(["nope"])
    with pytest.raises(ConfigError, match="unknown scene 'x'"):
        build_scene("x", 0)
    with pytest.raises(ConfigError, match="no scene given"):
        resolve_scenes([" "])


@pytest.mark.parametrize(
    ("frames", "size", "seed", "key", "message"),
    [
        (1, (64, 64), 0, "frames", "between 2 and"),
        (8, (8, 64), 0, "size", "between 16x16 and 8192x8192, got 8x64"),
        (8, (64, 9000), 0, "size", "got 64x9000"),
        (8, (64, 64), -1, "seed", "non-negative integer"),
    ],
)
def test_bad_options(frames, size, seed, key, message):
    with pytest.raises(ConfigError, match=message) as raised:
        check_options(frames, size, seed)
    assert raised.value.option == key


def test_bad_worker_count(tmp_path):
    with pytest.raises(ConfigError, match="must be 0 \\(one per core\\) or more, got -1") as raised:
        write_capture(tmp_path, ["orbit"], frames=2, size=(16, 16), seed=0, workers=-1)
    assert (raised.value.option, raised.value.value) == ("workers", -1)


def test_unwritable_output(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(LmvError, match="cannot create the output folder"):
        write_capture(tmp_path / "file", ["orbit"], frames=2, size=(16, 16), seed=0)


def test_rewrite_removes_stale_frames(tmp_path):
    write_capture(tmp_path, ["orbit"], frames=4, size=(16, 16), seed=0)
    (folder,) = write_capture(tmp_path, ["orbit"], frames=2, size=(16, 16), seed=0)
    for b in BUFFERS:
        assert sorted(p.name for p in (folder / b.folder).iterdir()) == ["frame_0.EXR", "frame_1.EXR"]
    assert json.loads((folder / "camera.json").read_text())["frames"] == 2


# ---------------------------------------------------------------------------------------------------
# identities


def test_separate_translucency_identity_is_exact(synth_scene):
    scene = build_scene("occlusion", 0)
    seen_translucency = False
    for k in range(0, 8, 2):
        frame = render_frame(scene, k, 96, 64)
        no_st, alpha, st = frame["SceneColorNoST"][:3], frame["STAlpha"][:1], frame["STColor"][:3]
        assert np.array_equal(no_st * alpha + st, frame["SceneColor"][:3])  # float32, bit-exact
        stored = read(synth_scene, "SceneColor", k)
        assert np.array_equal(stored, frame["SceneColor"])  # and so is what was written
        clear = alpha[0] == 1.0
        assert np.array_equal(stored[:3, clear], read(synth_scene, "SceneColorNoST", k)[:3, clear])
        seen_translucency |= bool((alpha < 0.9).any())
        assert (alpha >= 0).all() and (alpha <= 1).all() and (st >= 0).all()
    assert seen_translucency


def test_outputs_are_finite_for_every_scene():
    for name in SCENES:
        frame = render_frame(build_scene(name, 3), 1, 40, 24)
        for folder, image in frame.items():
            assert np.isfinite(image).all(), (name, folder)
        normal = frame["WorldNormal"][:3]
        np.testing.assert_allclose(np.linalg.norm(normal, axis=0), 1.0, atol=1e-5)


def test_depth_is_planar_distance_along_the_view_axis(synth_scene):
    meta = json.loads((synth_scene / "camera.json").read_text())
    for k in (0, 5):
        cam = meta["cameras"][k]
        depth = read(synth_scene, "VelocityDepth", k)[2].ravel()
        pos = read(synth_scene, "WorldPosition", k)[:3].reshape(3, -1).T.astype(np.float64)
        planar = (pos - np.array(cam["position_cm"])) @ np.array(cam["forward"])
        geometry = depth < SKY_DEPTH_CM
        assert 0.3 < geometry.mean() < 0.95
        np.testing.assert_allclose(depth[geometry], planar[geometry], rtol=1e-5)
        np.testing.assert_allclose(planar[~geometry], SKY_DEPTH_CM, rtol=1e-5)  # sky: position at D_SKY


def test_nov_is_unclamped_dot_of_normal_and_view(synth_scene):
    meta = json.loads((synth_scene / "camera.json").read_text())
    cam = np.array(meta["cameras"][4]["position_cm"])
    pos = read(synth_scene, "WorldPosition", 4)[:3].reshape(3, -1).T.astype(np.float64)
    normal = read(synth_scene, "WorldNormal", 4)[:3].reshape(3, -1).T
    view = cam - pos
    expected = (normal * view / np.linalg.norm(view, axis=1, keepdims=True)).sum(axis=1)
    nov, spec = read(synth_scene, "NoVSpecular", 4)[:2].reshape(2, -1)
    np.testing.assert_allclose(nov, expected, atol=1e-5)
    sky = read(synth_scene, "VelocityDepth", 4)[2].ravel() >= SKY_DEPTH_CM
    assert np.all(nov[sky] > 0.9999) and np.all(spec[sky] == 0) and np.all(spec[~sky] == 0.5)


# ---------------------------------------------------------------------------------------------------
# velocity


def _two_balls() -> SynthScene:
    """A static camera looking along +Y at two balls: A moves +X at 600 cm/s, B moves up (+Z)."""
    mat = Material((0.6, 0.5, 0.4), (0.2, 0.3, 0.6), Pattern.CHECKER, 30.0, roughness=0.6)
    objects = (
        SceneObject("a", Shape.SPHERE, (80.0,) * 3, mat, Motion(Path3((-200.0, 0.0, 100.0), velocity=(600.0, 0.0, 0.0))), 1),
        SceneObject("b", Shape.SPHERE, (80.0,) * 3, mat, Motion(Path3((200.0, 0.0, 100.0), velocity=(0.0, 0.0, 300.0))), 2),
    )
    rig = CameraRig(Path3((0.0, -1000.0, 100.0)), Path3((0.0, 0.0, 100.0)), fov_x_deg=60.0)
    sky = Sky((0.1, 0.2, 0.6), (0.5, 0.6, 0.7), (0.2, 0.2, 0.2))
    return SynthScene("balls", "test", rig, objects, Sun(0.0, 45.0, (2.0, 2.0, 2.0)), sky)


def test_velocity_is_projected_motion_of_known_points():
    scene, (w, h) = _two_balls(), (120, 80)
    for k in (0, 3):  # frame 0 refers to the real frame before it (t = -1/60)
        frame = render_frame(scene, k, w, h)
        meta = camera_json(scene, frames=k + 1, size=(w, h), seed=0)
        cur, prev = meta["cameras"][k], (meta["cameras"][k - 1] if k else meta["prev_camera_of_frame_0"])
        pos = frame["WorldPosition"][:3].reshape(3, -1).T.astype(np.float64)
        stencil = frame["MetallicRoughnessStencil"][2].ravel()
        velocity = frame["VelocityDepth"][:2].reshape(2, -1).T
        for s, step in ((1, (10.0, 0.0, 0.0)), (2, (0.0, 0.0, 5.0))):  # cm per frame
            rows = stencil == s
            assert rows.sum() > 100
            expected = project(cur, pos[rows]) - project(prev, pos[rows] - np.array(step))
            np.testing.assert_allclose(velocity[rows], expected, atol=2e-6)
        # Sign and axes: A moves right (+x), B moves up (+y, UE's y-up NDC); about 10 cm / 1000 cm · P00.
        a, b = velocity[stencil == 1].mean(axis=0), velocity[stencil == 2].mean(axis=0)
        assert a[0] > 0 and abs(a[1]) < 1e-3 * a[0] and b[1] > 0 and abs(b[0]) < 1e-2 * b[1]
        p00 = 1.0 / math.tan(math.radians(30.0))
        assert a[0] == pytest.approx(10.0 * p00 / 1000.0, rel=0.15)
        sky = stencil == 0
        np.testing.assert_allclose(velocity[sky], 0.0, atol=1e-6)  # static camera: the sky does not move


def test_static_geometry_velocity_matches_camera_matrices(synth_scene):
    meta = json.loads((synth_scene / "camera.json").read_text())
    static = np.array(meta["static_pass_indices"])
    for k in (0, 6):
        prev = meta["cameras"][k - 1] if k else meta["prev_camera_of_frame_0"]
        pos = read(synth_scene, "WorldPosition", k)[:3].reshape(3, -1).T.astype(np.float64)
        stencil = read(synth_scene, "MetallicRoughnessStencil", k)[2].ravel()
        velocity = read(synth_scene, "VelocityDepth", k)[:2].reshape(2, -1).T
        rows = np.isin(stencil, static)
        expected = project(meta["cameras"][k], pos[rows]) - project(prev, pos[rows])
        assert np.abs(velocity[rows]).max() > 1e-3  # the camera moves
        np.testing.assert_allclose(velocity[rows], expected, atol=2e-6)


@pytest.mark.parametrize("name", ["orbit", "occlusion"])
def test_velocity_leads_to_the_same_surface_point_in_the_previous_frame(name):
    """Trace frame t−1 through `pixel − velocity`: every pixel visible in both frames lands on the same
    object-local point (moving, spinning objects and camera alike), and sky on the same direction."""
    scene, (w, h), k = build_scene(name, 1), (64, 48), 5
    cur = trace_points(prepare(scene, k, w, h), pixel_ndc(w, h))
    back = trace_points(prepare(scene, k - 1, w, h), pixel_ndc(w, h) - cur["velocity"])
    stencil, same = cur["mrs"][:, 2], cur["mrs"][:, 2] == back["mrs"][:, 2]
    assert same.mean() > 0.85
    matched = 0
    for s in np.unique(stencil[same & (stencil > 0)]).astype(int):
        obj = scene.objects[s - 1]
        rows = same & (stencil == s)
        local_now = _to_local(obj, k, cur["position"][rows])
        local_then = _to_local(obj, k - 1, back["position"][rows])
        close = np.linalg.norm(local_now - local_then, axis=1) < 1e-3  # cm
        matched += close.sum()
        assert close.mean() > 0.95, obj.name  # the rest: the same object's other side came into view
    assert matched / (same & (stencil > 0)).sum() > 0.97
    sky = same & (stencil == 0)
    np.testing.assert_allclose(_direction(cur, prepare(scene, k, w, h), sky), _direction(back, prepare(scene, k - 1, w, h), sky),
                               atol=1e-9)


def _to_local(obj: SceneObject, k: int, world: np.ndarray) -> np.ndarray:
    rot, pos = obj.motion.at(k / 60)
    return (world - pos) @ rot


def _direction(planes: dict, frame, rows: np.ndarray) -> np.ndarray:
    d = planes["position"][rows] - frame.cam.position
    return d / np.linalg.norm(d, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------------
# warp quality


def test_warp_beats_repeat_for_every_scene():
    """ACES PSNR gain of warping t−1 with the velocity over repeating it, all pixels. Small frames
    blur textures away (less for repeat to lose); at 320x180 the gains are 3–8 dB (see the report)."""
    for name in SCENES:
        scene, gains = build_scene(name, 0), []
        for k in (10, 30):
            prev, cur = render_frame(scene, k - 1, 192, 108), render_frame(scene, k, 192, 108)
            target = cur["SceneColorNoST"][:3]
            gains.append(psnr(warp_prev(prev, cur), target) - psnr(prev["SceneColorNoST"][:3], target))
        assert min(gains) > 0.3 and np.mean(gains) > 1.0, (name, gains)


def _exact_scene() -> SynthScene:
    """Shading that motion vectors fully describe: diffuse-only sky light (no sun, no specular, no
    shadows), objects that only translate, a camera that translates and turns."""
    def mat(pattern: Pattern, period: float, c2) -> Material:
        return Material((0.6, 0.55, 0.5), c2, pattern, period, roughness=1.0, specular=0.0)

    moving = [Motion(Path3((-150.0, 100.0, 60.0), sway=(120.0, 0.0, 0.0), sway_hz=0.5)),
              Motion(Path3((120.0, -50.0, 50.0), velocity=(-200.0, 0.0, 40.0)), yaw_deg=30.0)]
    objects = (
        SceneObject("ground", Shape.QUAD, (math.inf, math.inf, 0.0), mat(Pattern.CHECKER, 80.0, (0.2, 0.3, 0.5)), still(0, 0, 0), 1),
        SceneObject("wall", Shape.BOX, (500.0, 20.0, 150.0), mat(Pattern.WAVES, 60.0, (0.7, 0.2, 0.2)), still(0, 400, 150), 2),
        SceneObject("ball", Shape.SPHERE, (60.0,) * 3, mat(Pattern.DOTS, 40.0, (0.1, 0.6, 0.2)), moving[0], 3),
        SceneObject("crate", Shape.BOX, (50.0,) * 3, mat(Pattern.CHECKER, 35.0, (0.9, 0.8, 0.1)), moving[1], 4),
    )
    rig = CameraRig(Path3((0.0, -700.0, 200.0), velocity=(150.0, 60.0, 0.0)),
                    Path3((0.0, 100.0, 60.0), sway=(150.0, 0.0, 30.0), sway_hz=0.4))
    sky = Sky((0.1, 0.2, 0.6), (0.5, 0.6, 0.7), (0.2, 0.2, 0.2))
    return SynthScene("exact", "test", rig, objects, Sun(0.0, 45.0, (0.0, 0.0, 0.0)), sky)


def test_warp_error_is_interpolation_error_where_shading_is_static():
    """With shading the velocity fully describes, sampling frame t−1 exactly where the velocity
    points reproduces frame t, and the bilinear warp's error is nothing but interpolation error."""
    scene, (w, h), k = _exact_scene(), (160, 96), 6
    prev, cur = render_frame(scene, k - 1, w, h), render_frame(scene, k, w, h)
    mask = consistent(prev, cur)
    assert mask.mean() > 0.8
    target = cur["SceneColorNoST"][:3]
    # Exact samples of frame t−1 at p − velocity: the "perfect warp".
    back = trace_points(prepare(scene, k - 1, w, h), pixel_ndc(w, h) - cur["VelocityDepth"][:2].reshape(2, -1).T)
    perfect = back["no_st"].T.reshape(3, h, w).astype(np.float32)
    assert psnr(perfect, target, mask) > 60.0
    bilinear = warp_prev(prev, cur)
    warp_db, repeat_db = psnr(bilinear, target, mask), psnr(prev["SceneColorNoST"][:3], target, mask)
    interpolation_db = psnr(bilinear, perfect, mask)
    assert warp_db > 38.0 and warp_db > repeat_db + 15.0
    assert warp_db == pytest.approx(interpolation_db, abs=0.3)


def test_static_shading_warp_is_far_better_than_repeat_on_pixels_seen_twice():
    scene = build_scene("flythrough", 0, static_shading=True)
    prev, cur = render_frame(scene, 9, 128, 72), render_frame(scene, 10, 128, 72)
    mask = consistent(prev, cur)
    target = cur["SceneColorNoST"][:3]
    assert psnr(warp_prev(prev, cur), target, mask) > psnr(prev["SceneColorNoST"][:3], target, mask) + 8.0


# ---------------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_bytes_other_seed_other_scene(tmp_path):
    calls = []
    (a,) = write_capture(tmp_path / "a", ["translucency"], frames=3, size=(32, 24), seed=7, workers=1,
                        progress=lambda *args: calls.append(args))
    (b,) = write_capture(tmp_path / "b", ["translucency"], frames=3, size=(32, 24), seed=7, workers=2)
    (c,) = write_capture(tmp_path / "c", ["translucency"], frames=3, size=(32, 24), seed=8, workers=1)
    assert calls == [("synth translucency", k, 3) for k in (1, 2, 3)]
    for buf in BUFFERS:
        name = f"{buf.folder}/frame_1.EXR"
        assert (a / name).read_bytes() == (b / name).read_bytes(), buf.folder
    assert not np.array_equal(read(a, "SceneColor", 1), read(c, "SceneColor", 1))
    assert (a / "camera.json").read_text() == (b / "camera.json").read_text()


# ---------------------------------------------------------------------------------------------------
# primitives


def test_primitive_intersections():
    o = np.array([[0.0, 0.0, 10.0], [5.0, 0.0, 10.0], [0.0, 0.0, 0.5]])
    d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(intersect(Shape.SPHERE, np.array([2.0] * 3), o, d, 0.0), [8.0, np.inf, math.sqrt(4 - 0.25)])
    np.testing.assert_allclose(intersect(Shape.BOX, np.array([1.0, 2.0, 3.0]), o, d, 0.0), [7.0, np.inf, 2.0])
    np.testing.assert_allclose(intersect(Shape.QUAD, np.array([1.0, 1.0, 0.0]), o, d, 0.0), [10.0, np.inf, np.inf])


# ---------------------------------------------------------------------------------------------------
# command line


def test_cli_writes_scenes_and_says_where(tmp_path):
    from lmv_cli.cli.app import app

    args = ["synth", str(tmp_path), "--scene", "orbit,translucency", "--frames", "2", "--size", "24x16", "--seed", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'orbit'}" in result.output and "translucency" in result.output
    assert json.loads((tmp_path / "translucency" / "camera.json").read_text())["seed"] == 3
    assert (tmp_path / "orbit" / "SceneColor" / "frame_1.EXR").is_file()
    help_text = CliRunner().invoke(app, ["synth", "--help"]).output
    assert all(name in help_text for name in SCENES)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--size", "320by180"], 2, "expected WIDTHxHEIGHT such as 320x180, got '320by180'"),
        (["--size", "8x8"], 2, "Invalid value for --size: size must be between 16x16"),
        (["--scene", "nope"], 2, "unknown scene 'nope'; valid scenes: orbit"),
        (["--frames", "1"], 2, "Invalid value for --frames: frames must be between 2"),
        (["--frames", "two"], 2, "Invalid value for '--frames'"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, args, code, message):
    from lmv_cli.cli.app import app

    result = CliRunner().invoke(app, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == code
    assert message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "out").exists()
