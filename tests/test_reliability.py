"""Issue 10, lower layers: every odd input is written here, in tmp_path, and must give one Nst3dError line
or the right result; never a crash, a hang, a traceback, a blank image or a half-replaced folder."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import time_limit
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.features import load_backbone
from nst3d.io import check_input_file, load_image, save_gif, staged_directory
from nst3d.mesh import Mesh, load_mesh, normalize
from nst3d.mesh.core import normalization
from nst3d.render import orbit_cameras, project, rasterize, render, sample_texture, turntable_views
from nst3d.render.shade import composite, vertex_normals
from nst3d.turntable import check_video_output, save_video

TRIANGLE = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"


def one_line_error(call, *fragments: str) -> str:
    """Run `call`, expect an Nst3dError of one line that contains every fragment; return its text."""
    with time_limit(), pytest.raises(Nst3dError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    return message


def write_png(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


# --- 1. non-representable geometry -----------------------------------------------------------------------

HUGE_MESH_SCRIPT = """
import sys
from nst3d.mesh import load_mesh, normalize
from nst3d.render import orbit_cameras, render
mesh = normalize(load_mesh(sys.argv[1]))
rgb, mask = render(mesh, orbit_cameras(2.8, 15.0, 30.0), 32, lit=True)
assert rgb.isfinite().all() and mask.sum() > 50, mask.sum()
assert abs(mesh.vertices.norm(dim=1).max().item() - 1) < 1e-6
print("ok")
"""

def test_coordinates_near_the_float32_limit_load_normalize_and_render(tmp_path):
    # this used to hang or segfault inside xatlas (float32 squares overflow); a subprocess survives either
    path = tmp_path / "huge.obj"
    path.write_text("v 0 0 0\nv 3e38 0 0\nv 0 3e38 0\nv 0 0 3e38\nv -3e38 -3e38 -3.4e38\n"
                    "f 1 2 3\nf 1 3 4\nf 1 2 4\nf 2 3 5\n")
    done = subprocess.run([sys.executable, "-c", HUGE_MESH_SCRIPT, str(path)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("value", ["1e39", "-5e38", "1e308"])
def test_coordinates_beyond_float32_are_one_line(tmp_path, value):
    path = tmp_path / "over.obj"
    path.write_text(TRIANGLE.replace("v 1 0 0", f"v {value} 0 0"))
    one_line_error(lambda: load_mesh(path), str(path), "beyond the float32 range")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_normalization_rejects_non_finite_coordinates(bad):
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, bad, 0.0]])
    one_line_error(lambda: normalization(vertices), "NaN or infinity")
    one_line_error(lambda: normalize(Mesh(vertices=vertices, faces=torch.tensor([[0, 1, 2]]))), "NaN")


def test_normalization_rejects_extents_that_overflow_float64():
    huge = torch.tensor([[0.0, 0.0, 0.0], [1e200, 0.0, 0.0], [0.0, 1e200, 0.0]], dtype=torch.float64)
    one_line_error(lambda: normalization(huge), "too large or too small")
    one_line_error(lambda: normalization(huge * 1e-400), "zero extent")


def test_rasterizing_huge_clip_coordinates_matches_the_same_triangles_at_unit_scale():
    clip = project(torch.tensor([[-0.9, -0.7, 0.1], [0.8, -0.6, 0.0], [0.1, 0.9, -0.2], [0.9, 0.8, 0.3]]),
                   orbit_cameras(2.5, 10.0, 20.0))
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    small = rasterize(clip, faces, 48, derivatives=True)
    huge = rasterize(clip * 2.0**100, faces, 48, derivatives=True)  # same NDC: the same picture
    assert (small.face_id >= 0).sum() > 500
    assert torch.equal(huge.face_id, small.face_id) and torch.equal(huge.bary, small.bary)
    assert torch.equal(huge.bary_da, small.bary_da) and torch.equal(huge.depth, small.depth * 2.0**100)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 3e38])
def test_rasterizing_non_finite_or_overflowing_corners_survives(bad):
    clip = torch.tensor([[[-bad, -bad, 0.5, 1.0], [bad, -bad, 0.5, 1.0], [0.1, 0.1, 0.5, 1.0],
                          [0.5, 0.9, 0.5, 1.0], [-0.6, 0.7, 0.5, 1.0]]])
    frags = rasterize(clip, torch.tensor([[0, 1, 2], [0, 3, 2], [2, 3, 4]]), 32, derivatives=True)
    assert frags.bary.isfinite().all() and frags.bary_da.isfinite().all() and frags.depth.isfinite().all()
    assert (frags.face_id == 2).sum() > 0  # the representable face is still drawn


def test_vertex_normals_of_huge_or_tiny_meshes_neither_overflow_nor_vanish():
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    for scale in (2.0**120, 2.0**-120):
        assert torch.equal(vertex_normals(vertices * scale, faces), vertex_normals(vertices, faces)), scale


# --- 2. paths that are not regular files -----------------------------------------------------------------

def special_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a path that is not a regular file, the message fragment it must give)."""
    files = {"folder": (tmp / "folder.obj", "is a folder"), "fifo": (tmp / "pipe.obj", "named pipe (FIFO)")}
    files["folder"][0].mkdir()
    os.mkfifo(files["fifo"][0])
    if Path("/dev/zero").exists():
        files["device"] = (Path("/dev/zero"), "character device")
    sock = tmp / "sock.obj"
    if len(str(sock)) < 100:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(sock))
        files["socket"] = (sock, "socket")
    return files


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "socket"])
def test_special_files_are_refused_before_they_are_opened(tmp_path, kind):
    files = special_files(tmp_path)
    if kind not in files:
        pytest.skip(f"cannot make a {kind} here")
    path, fragment = files[kind]
    one_line_error(lambda: check_input_file(path, "image"), f"image {path}", fragment)
    one_line_error(lambda: load_image(path, "style image"), f"style image {path}", fragment)
    one_line_error(lambda: load_mesh(path), f"mesh {path}", fragment)
    mesh = tmp_path / "tri.obj"
    mesh.write_text(TRIANGLE)
    one_line_error(lambda: load_mesh(mesh, texture=path), f"texture {path}", fragment)
    one_line_error(lambda: load_backbone(weights=path), f"weights file {path}", fragment)


def test_missing_files_and_bad_names_are_one_line(tmp_path):
    write_png(tmp_path / "a.png")
    one_line_error(lambda: load_image(tmp_path / "nope.png"), "no such file")
    one_line_error(lambda: load_image(tmp_path / "a.png" / "b.png"), "no such file")
    one_line_error(lambda: load_image(tmp_path / ("x" * 300 + ".png")), "cannot be read")


def test_files_a_mesh_names_are_checked_too(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.mtl")
    os.mkfifo(tmp_path / "pipe.bin")
    (tmp_path / "tex.mtl").write_text("newmtl m\nmap_Kd pipe.png\n")
    (tmp_path / "a.obj").write_text("mtllib tex.mtl\nusemtl m\n" + TRIANGLE)
    (tmp_path / "b.obj").write_text("mtllib pipe.mtl\nusemtl m\n" + TRIANGLE)
    (tmp_path / "c.gltf").write_text(json.dumps({
        "asset": {"version": "2.0"}, "buffers": [{"uri": "pipe.bin", "byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3", "max": [1, 1, 0],
                       "min": [0, 0, 0]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}], "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}], "scene": 0}))
    one_line_error(lambda: load_mesh(tmp_path / "a.obj"), "pipe.png", "named pipe")
    one_line_error(lambda: load_mesh(tmp_path / "b.obj"), "material library", "pipe.mtl", "named pipe")
    one_line_error(lambda: load_mesh(tmp_path / "c.gltf"), "c.gltf", "pipe.bin", "named pipe")
    with time_limit():  # an explicit texture replaces the MTL's, so its FIFO is never opened
        mesh = load_mesh(tmp_path / "a.obj", texture=write_png(tmp_path / "t.png"))
    assert mesh.texture.shape == (3, 16, 16)


# --- 3. inputs that loaded silently wrong ----------------------------------------------------------------

def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:10, :20] = (255, 0, 0)                       # red in the stored top-left quarter
    for orientation, red_corner in ((6, (0, -1)), (8, (-1, 0)), (3, (-1, -1))):
        image = Image.fromarray(pixels)
        exif = image.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.jpg"
        image.save(path, exif=exif.tobytes(), quality=95)
        tensor = load_image(path)
        assert tensor.shape[-2:] == ((20, 40) if orientation == 3 else (40, 20)), orientation
        row, col = red_corner
        assert tensor[0, 0, row, col] > 0.9 and tensor[0, 1, row, col] < 0.1, orientation


def test_float_and_16_bit_images_keep_their_range(tmp_path):
    ramp = np.linspace(0, 1, 32 * 48, dtype=np.float32).reshape(32, 48)
    Image.fromarray(ramp, "F").save(tmp_path / "unit.tif")
    Image.fromarray(ramp * 1000 - 200, "F").save(tmp_path / "hdr.tif")
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "u16.png")
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "u16.tif")
    Image.fromarray((ramp * 65535).astype(np.int32), "I").save(tmp_path / "i32.tif")
    Image.fromarray((ramp * 4e6).astype(np.int32), "I").save(tmp_path / "wide_i32.tif")
    for name in ("unit.tif", "hdr.tif", "u16.png", "u16.tif", "i32.tif", "wide_i32.tif"):
        gray = load_image(tmp_path / name)[0, 0].numpy()
        assert np.abs(gray - ramp).max() <= 1 / 255 + 1e-6, name  # scaled by the real range, not saturated


def test_a_dark_16_bit_image_stays_dark(tmp_path):
    Image.fromarray(np.full((16, 16), 200, np.uint16)).save(tmp_path / "dark.png")
    assert load_image(tmp_path / "dark.png").max() < 0.01  # 200 / 65535, not 200 / 255


def obj_forms(tmp: Path) -> dict[str, Path]:
    """One textured two-triangle mesh written plainly, with relative indices, and with CRLF + BOM."""
    write_png(tmp / "t.png")
    (tmp / "m.mtl").write_text("newmtl m\nmap_Kd t.png\n")
    (tmp / "bom.mtl").write_bytes(b"\xef\xbb\xbfnewmtl m\r\nmap_Kd t.png\r\n")
    head = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvn 0 0 1\n"
    plain = f"mtllib m.mtl\nusemtl m\n{head}f 1/1/1 2/2/1 3/3/1\nv 1 1 0\nvt 1 1\nf 2/2/1 4/4/1 3/3/1\n"
    relative = (f"mtllib m.mtl\nusemtl m\n{head}f -3/-3/-1 -2/-2/-1 -1/-1/-1\nv 1 1 0\nvt 1 1\n"
                "f -3/-3/1 -1/-1/-1 -2/-2/-1\n")
    forms = {"plain": plain, "relative": relative}
    for name, text in forms.items():
        (tmp / f"{name}.obj").write_text(text)
    crlf = plain.replace("m.mtl", "bom.mtl").replace("\n", "\r\n")
    (tmp / "crlf_bom.obj").write_bytes(b"\xef\xbb\xbf" + crlf.encode())
    (tmp / "all.obj").write_bytes(b"\xef\xbb\xbf" + relative.replace("\n", "\r\n").encode())
    (tmp / "cr.obj").write_bytes(plain.replace("\n", "\r").encode())
    return {name: tmp / f"{name}.obj" for name in ("plain", "relative", "crlf_bom", "all", "cr")}


def test_obj_relative_indices_crlf_and_bom_load_like_the_plain_file(tmp_path):
    forms = obj_forms(tmp_path)
    reference = load_mesh(forms.pop("plain"))
    assert reference.num_faces == 2 and reference.texture is not None
    for name, path in forms.items():
        mesh = load_mesh(path)
        for field in ("vertices", "faces", "uvs", "face_uvs", "texture"):
            assert torch.equal(getattr(mesh, field), getattr(reference, field)), (name, field)


def test_relative_index_before_the_first_vertex_is_one_line(tmp_path):
    path = tmp_path / "bad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nf -1 -2 -3\nv 0 1 0\n")
    one_line_error(lambda: load_mesh(path), f"mesh {path}: line 3", "index -3")


@pytest.mark.parametrize(("size", "fragments"), [
    ((10000, 16), ("is 10000x16 px", "16 px on each side", "8192 px", "512:1")),
    ((16, 9000), ("is 16x9000 px", "512:1")),
    ((1, 1), ("is 1x1 px", "need at least 16 px on each side")),
    ((300, 10), ("is 300x10 px", "need at least 16 px")),
])
def test_too_small_or_elongated_images_name_the_size_given(tmp_path, size, fragments):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, (10, 200, 30)).save(path)
    message = one_line_error(lambda: load_image(path), str(path), *fragments)
    assert "8192x" not in message and "x13 " not in message


def test_an_elongated_image_within_the_limits_loads(tmp_path):
    Image.new("RGB", (16384, 32), (10, 200, 30)).save(tmp_path / "long.png")
    assert load_image(tmp_path / "long.png").shape == (1, 3, 16, 8192)


# --- 4. camera values ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"distance": 1e300}, "distance 1e+300"), ({"distance": math.inf}, "distance inf"),
    ({"distance": math.nan}, "distance nan"), ({"distance": 0.0}, "distance 0"), ({"distance": -2.0}, "-2"),
    ({"elevation": math.inf}, "elevation inf"), ({"azimuth": math.nan}, "azimuth nan"),
    ({"fov": 0.0}, "field of view 0"), ({"fov": 180.0}, "field of view 180"), ({"fov": 1e300}, "1e+300"),
    ({"distance": torch.tensor([2.0, math.inf])}, "distance inf"),
])
def test_absurd_camera_values_are_one_line(kwargs, fragment):
    args = {"distance": 2.8, "elevation": 15.0, "azimuth": 30.0, "fov": 40.0, **kwargs}
    one_line_error(lambda: orbit_cameras(**args), fragment)


def test_huge_finite_angles_wrap_and_still_show_the_mesh():
    corners = torch.tensor([[0.0, 0.0, 0.6], [0.6, 0.0, -0.3], [-0.6, 0.0, -0.3], [0.0, 0.7, 0.0]])
    tetra = Mesh(vertices=corners, faces=torch.tensor([[0, 1, 2], [0, 1, 3], [1, 2, 3], [2, 0, 3]]))
    wrapped = orbit_cameras(2.8, 15.0 + 360.0 * 10**6, 30.0 - 360.0 * 10**9)
    assert torch.allclose(wrapped.world_to_clip, orbit_cameras(2.8, 15.0, 30.0).world_to_clip, atol=1e-6)
    for angle in (1e300, -1e300, 1e17):
        _, mask = render(tetra, orbit_cameras(2.8, angle, angle), 32)
        assert mask.sum() > 20, angle
    one_line_error(lambda: turntable_views(0), "frames 0")


# --- 5. views that cover no pixel ------------------------------------------------------------------------

def textured_card(offset: float = 0.0) -> Mesh:
    uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    square = torch.cat([uvs * 2 - 1, torch.full((4, 1), offset)], dim=1)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    texture = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    return Mesh(vertices=square, faces=faces, uvs=uvs, face_uvs=faces, texture=texture)


@pytest.mark.parametrize(("mesh", "camera"), [(textured_card(), (2.8, 0.0, 90.0)),     # edge-on
                                              (textured_card(5.0), (2.8, 0.0, 0.0))])  # behind the camera
@pytest.mark.parametrize("lit", [False, True])
@pytest.mark.parametrize("mipmap", [False, True])
def test_views_that_cover_no_pixel_give_empty_frames(mesh, camera, lit, mipmap):
    for background, supersample in (((0.2, 0.4, 0.6), 1), (None, 2)):
        rgb, mask = render(mesh, orbit_cameras(*camera), 24, lit=lit, mipmap=mipmap, background=background,
                           supersample=supersample)
        fill = torch.zeros(3) if background is None else torch.tensor(background)
        assert mask.shape == (1, 1, 24, 24) and mask.sum() == 0
        assert torch.allclose(rgb, fill[None, :, None, None].expand(1, 3, 24, 24))
    _, seen = render(mesh, orbit_cameras(2.8, 0.0, 0.0 if camera[2] == 90.0 else 180.0), 24)
    assert seen.sum() > 0  # the same card from another side is visible


def test_sampling_and_compositing_zero_pixels():
    texture = torch.rand(1, 3, 8, 8, requires_grad=True)
    for uv_da in (None, torch.zeros(2, 0, 5, 2, 2)):
        out = sample_texture(texture, torch.zeros(2, 0, 5, 2), uv_da)
        assert out.shape == (2, 3, 0, 5)
        out.sum().backward()
    rgb, mask = composite(torch.zeros(0, 3), torch.zeros(2, 4, 4, dtype=torch.bool), (1.0, 0.0, 0.0))
    assert rgb.shape == (2, 3, 4, 4) and mask.sum() == 0 and (rgb[:, 0] == 1).all()
    frags = rasterize(torch.zeros(1, 0, 4), torch.zeros(0, 3, dtype=torch.long), 8, derivatives=True)
    assert (frags.face_id == -1).all()


# --- 6. all-or-nothing replacement of output folders -----------------------------------------------------

OWNED = ("mesh.obj", "texture.png", "run.json", "progress.gif")


def old_outputs(out: Path) -> dict[str, str]:
    out.mkdir()
    for name, text in {"mesh.obj": "old obj", "texture.png": "old png", "progress.gif": "old gif",
                       "notes.txt": "the user's"}.items():
        (out / name).write_text(text)
    return snapshot(out)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: (p.read_text() if p.is_file() else "<dir>") for p in folder.iterdir()}


def write_new(stage: Path) -> None:
    for name in ("mesh.obj", "texture.png", "run.json"):
        (stage / name).write_text(f"new {name}")


def test_an_output_name_taken_by_a_folder_changes_nothing_and_names_the_users_path(tmp_path):
    out = tmp_path / "out"
    before = old_outputs(out)
    (out / "run.json").mkdir()
    before = snapshot(out)
    with pytest.raises(Nst3dError) as info, staged_directory(out, force=True, owned=OWNED) as stage:
        write_new(stage)
    message = str(info.value)
    assert str(out / "run.json") in message and "is a folder" in message and ".tmp" not in message
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_while_moving_puts_the_old_files_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    before = old_outputs(out)
    real_replace, moves = os.replace, []

    def failing_replace(src, dst):
        moves.append(Path(src).name)
        if Path(dst).parent == out and Path(src).parent.name.endswith(".tmp") and len(moves) > 4:
            raise OSError(28, "No space left on device")  # fails after the first new file is in place
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Nst3dError) as info, staged_directory(out, force=True, owned=OWNED) as stage:
        write_new(stage)
    monkeypatch.setattr(os, "replace", real_replace)
    assert str(out) in str(info.value) and "nothing was changed" in str(info.value)
    assert ".tmp" not in str(info.value) and "\n" not in str(info.value)
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_successful_replace_leaves_no_hidden_folders(tmp_path):
    out = tmp_path / "out"
    old_outputs(out)
    with staged_directory(out, force=True, owned=OWNED) as stage:
        write_new(stage)
    assert snapshot(out) == {"mesh.obj": "new mesh.obj", "texture.png": "new texture.png",
                             "run.json": "new run.json", "notes.txt": "the user's"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- 7. frame rates --------------------------------------------------------------------------------------

FRAMES = [np.full((16, 16, 3), i * 60, np.uint8) for i in range(3)]


@pytest.mark.parametrize("fps", [0.0, -1.0, 1e-300, 0.001, 51.0, 1e300, math.inf, math.nan])
def test_gif_frame_rates_outside_what_gif_can_store_are_one_line(tmp_path, fps):
    path = tmp_path / "a.gif"
    for call in (lambda: save_gif(FRAMES, path, fps=fps), lambda: save_video(FRAMES, path, fps=fps),
                 lambda: check_video_output(path, fps)):
        one_line_error(call, str(path), "frame rate", "GIF needs 0.01 to 50 fps", "centiseconds")
    assert not path.exists()


@pytest.mark.parametrize("fps", [0.0, 1e-300, 241.0, math.inf, math.nan])
def test_mp4_frame_rates_out_of_range_are_one_line_before_any_work(tmp_path, fps):
    path = tmp_path / "a.mp4"
    one_line_error(lambda: check_video_output(path, fps), "frame rate", "MP4 needs 0.01 to 240 fps")
    assert not path.exists()


@pytest.mark.parametrize("fps", [0.01, 12.0, 50.0])
def test_gif_frame_rates_at_the_limits_are_written(tmp_path, fps):
    path = save_gif(FRAMES, tmp_path / "a.gif", fps=fps, final_hold=0.0)
    with Image.open(path) as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == round(1000 / fps, -1)
