"""`nst3d render`: images and turntables from mesh files; bad input gives one line, exit 2, no file."""

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from nst3d.turntable import save_video

TORUS = Path(__file__).resolve().parents[1] / "meshes" / "torus.obj"


def test_png_of_a_textured_mesh(monkeypatch, capsys, tmp_path):
    out = tmp_path / "torus.png"
    code, stdout, _ = run_cli(monkeypatch, capsys, "render", TORUS, "-o", out, "--size", "48", "--unlit")
    assert code == 0 and f"wrote {out}" in stdout
    image = np.asarray(Image.open(out))
    assert image.shape == (48, 48, 3)
    assert (image[0, 0] == 255).all() and (image != 255).any(axis=-1).mean() > 0.2   # mesh on white


def test_texture_option_replaces_the_texture(monkeypatch, capsys, tmp_path):
    red = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(red)
    out = tmp_path / "red_torus.png"
    code, _, _ = run_cli(monkeypatch, capsys, "render", TORUS, "--texture", red, "-o", out, "--size", "40",
                         "--unlit", "--background", "black")
    assert code == 0
    image = np.asarray(Image.open(out)).reshape(-1, 3)
    covered = image.any(axis=1)
    assert covered.mean() > 0.2 and (image[covered] == [255, 0, 0]).all()


def test_transparent_png_has_alpha(monkeypatch, capsys, tmp_path):
    out = tmp_path / "clear.png"
    code, _, _ = run_cli(monkeypatch, capsys, "render", TORUS, "-o", out, "--size", "32", "--background",
                         "none", "--supersample", "2")
    assert code == 0
    alpha = np.asarray(Image.open(out))[..., 3]
    assert alpha[0, 0] == 0 and alpha[16, 4] == 255 and ((alpha > 0) & (alpha < 255)).any()


def test_gif_turntable(monkeypatch, capsys, tmp_path):
    out = tmp_path / "turn.gif"
    code, stdout, _ = run_cli(monkeypatch, capsys, "render", TORUS, "-o", out, "--size", "32", "--frames",
                              "6", "--fps", "10", "--elevation", "40", "--background", "#204060")
    assert code == 0 and "6 frames" in stdout
    with Image.open(out) as gif:
        assert gif.n_frames == 6 and gif.size == (32, 32)
        corner = gif.convert("RGB").getpixel((0, 0))
        assert all(abs(a - b) <= 8 for a, b in zip(corner, (0x20, 0x40, 0x60), strict=True))
        frames = []
        for index in range(6):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    assert not np.array_equal(frames[0], frames[1])                        # it turns


def test_mp4_turntable(monkeypatch, capsys, tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="MP4 output needs imageio-ffmpeg (in the dev extras)")
    import imageio.v3 as iio

    out = tmp_path / "turn.mp4"
    code, _, err = run_cli(monkeypatch, capsys, "render", TORUS, "-o", out, "--size", "64", "--frames", "6")
    assert code == 0, err
    video = iio.imread(out, plugin="FFMPEG")
    assert video.shape == (6, 64, 64, 3) and video.std() > 5  # six real frames, not blank


def test_mp4_without_the_ffmpeg_plugin_is_a_clear_error(monkeypatch, capsys, tmp_path):
    import nst3d.turntable

    monkeypatch.setattr(nst3d.turntable.importlib.util, "find_spec", lambda name: None)
    out = tmp_path / "turn.mp4"
    code, _, err = run_cli(monkeypatch, capsys, "render", TORUS, "-o", out, "--size", "32", "--frames", "2")
    assert code == 2 and "imageio-ffmpeg" in err and not out.exists()


def _point_cloud(folder: Path) -> Path:
    path = folder / "points.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                    "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    return path


def _nan_mesh(folder: Path) -> Path:
    path = folder / "nan.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    return path


def _bad_texture(folder: Path) -> Path:
    path = folder / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    return path


@pytest.mark.parametrize(("make_args", "message"), [
    (lambda d: [d / "missing.obj"], "no such file"),
    (lambda d: [_point_cloud(d)], "point cloud"),
    (lambda d: [_nan_mesh(d)], "NaN"),
    (lambda d: [TORUS, "--texture", _bad_texture(d)], "texture"),
    (lambda d: [TORUS, "--background", "none", "-o", d / "out.gif"], "transparent"),
    (lambda d: [TORUS, "--size", "3"], "--size"),
    (lambda d: [TORUS, "--elevation", "nan"], "--elevation nan"),
    (lambda d: [TORUS, "--azimuth", "inf"], "--azimuth inf"),
    (lambda d: [TORUS, "--distance", "inf"], "--distance inf"),
    (lambda d: [TORUS, "-o", d / "out.txt"], "unsupported output format"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(monkeypatch, capsys, tmp_path, make_args, message):
    args = [str(a) for a in make_args(tmp_path)]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.png")]
    code, stdout, err = run_cli(monkeypatch, capsys, "render", *args)
    assert code == 2 and stdout == ""
    assert err.startswith("nst3d: error:") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


def test_save_video_loops_without_a_hold(tmp_path):
    frames = [np.full((16, 16, 3), value, dtype=np.uint8) for value in (0, 128, 255)]
    with Image.open(save_video(frames, tmp_path / "loop.gif", fps=5)) as gif:
        durations = []
        for index in range(3):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations == [200, 200, 200]


def test_turntables_of_big_meshes_render_fewer_views_at_a_time(monkeypatch):
    from nst3d import turntable
    from nst3d.mesh.shapes import torus
    from nst3d.render import turntable_views

    mesh, batches = torus(rows=8, cols=16), []
    real = turntable.render
    monkeypatch.setattr(turntable, "render", lambda m, views, *a, **k: batches.append(len(views.eye)) or real(
        m, views, *a, **k))
    frames = turntable.turntable_frames(mesh, turntable_views(6), 32)
    assert len(frames) == 6 and batches == [6]                       # a small mesh: all views at once
    monkeypatch.setattr(turntable, "VIEW_FACES_PER_BATCH", 2 * mesh.num_faces)
    batches.clear()
    assert len(turntable.turntable_frames(mesh, turntable_views(6), 32)) == 6 and batches == [2, 2, 2]
