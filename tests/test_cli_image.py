import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_content, nst3d_process, run_cli, wait_for_steps
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.io import load_image

TINY = ["--size", "48", "--steps", "3", "--scales", "1", "--quiet", "--backbone", "vgg16-hed"]


def test_image_end_to_end_writes_png_gif_and_json(monkeypatch, capsys, tmp_path, content_png, style_png):
    out = tmp_path / "out.png"
    code, stdout, _ = run_cli(monkeypatch, capsys, "image", content_png, style_png, "-o", out, *TINY,
                              "--gif", tmp_path / "out.gif", "--gif-every", "1", "--seed", "3")
    assert code == 0 and "wrote" in stdout and "style/relu3_1" in stdout
    assert Image.open(out).size == (48, 36)
    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (48, 36)
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["backbone"] == "vgg16-hed" and record["parameters"]["seed"] == 3
    assert {"content/relu4_2", "style/relu1_1", "style/relu5_1"} <= set(record["final_losses"])
    assert record["timings"]["total_seconds"] > 0 and len(record["history"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content.png", "out.gif", "out.json", "out.png",
                                                          "style.png"]  # no temp files left


def test_reconstruct_and_texture_commands(monkeypatch, capsys, tmp_path, content_png, style_png):
    code, _, _ = run_cli(monkeypatch, capsys, "reconstruct", content_png, "--layers", "conv_4", "-o",
                         tmp_path / "r.png", *TINY)
    assert code == 0 and Image.open(tmp_path / "r.png").size == (48, 36)
    code, _, _ = run_cli(monkeypatch, capsys, "texture", style_png, "--layers", "relu1_1,relu2_1", "-o",
                         tmp_path / "t.png", *TINY)
    assert code == 0 and Image.open(tmp_path / "t.png").size == (48, 48)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make_bad,message", [
    (lambda d: d / "missing.png", "no such file"),
    (lambda d: write_bytes(d / "text.png", b"hello, not an image"), "not an image file"),
    (lambda d: write_bytes(d / "cut.png", (d / "content.png").read_bytes()[:200]), "corrupt or truncated"),
    (lambda d: d, "is a folder"),
])
def test_bad_content_files(monkeypatch, capsys, tmp_path, content_png, style_png, make_bad, message):
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "image", make_bad(tmp_path), style_png, "-o", out, *TINY)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("extra,message", [
    (["--size", "0"], "size must be"), (["--steps", "-3"], "steps must be"),
    (["--style-weight", "nan"], "style_weight must be"), (["--content-weight", "-1"], "content_weight"),
    (["--style-layers", "relu1_1,relu9_1"], "unknown layer 'relu9_1'"),
    (["--content-layers", "conv_99"], "unknown layer 'conv_99'"),
    (["--style-blend", "1,2"], "style-blend has 2 weights"), (["--init", "zeros"], "unknown init"),
    (["--device", "tpu"], "unknown device"), (["--size", "12"], "12x9 output; its short side"),
    (["--gif-every", "0"], "--gif-every must be > 0"),
])
def test_bad_parameters(monkeypatch, capsys, tmp_path, content_png, style_png, extra, message):
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "image", content_png, style_png, "-o", out, *TINY, *extra,
                           "--gif", tmp_path / "o.gif")
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "o.gif").exists()


@pytest.mark.parametrize("output,message", [
    ("missing_dir/out.png", "does not exist"), ("out.xyz", "unsupported output format"),
])
def test_bad_output_paths(monkeypatch, capsys, tmp_path, content_png, style_png, output, message):
    code, _, err = run_cli(monkeypatch, capsys, "image", content_png, style_png, "-o", tmp_path / output,
                           *TINY)
    assert code == 2 and message in err


def test_unwritable_output_folder(monkeypatch, capsys, tmp_path, content_png, style_png):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked if os.geteuid() != 0 else Path("/proc")  # root writes anywhere but /proc
    code, _, err = run_cli(monkeypatch, capsys, "image", content_png, style_png, "-o", target / "o.png",
                           *TINY)
    assert code == 2 and "cannot write" in err


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_image_modes_are_converted_to_rgb(tmp_path, mode):
    rgb = Image.fromarray(make_content())
    if mode == "I;16":
        image = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
        assert image.mode.startswith("I;16")
    else:
        image = rgb.convert(mode)
    path = tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}"
    image.save(path)
    tensor = load_image(path)
    assert tensor.shape == (1, 3, 48, 64) and tensor.min() >= 0 and tensor.max() <= 1
    assert tensor.std() > 0.1  # 16-bit values were rescaled, not saturated


def test_tiny_and_gigantic_images(tmp_path, capsys):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(Nst3dError, match="need at least 16 px"):
        load_image(tmp_path / "dot.png")
    Image.new("RGB", (9000, 20), (10, 200, 30)).save(tmp_path / "wide.png")
    tensor = load_image(tmp_path / "wide.png")
    assert tensor.shape[-1] == 8192 and "downscaling" in capsys.readouterr().err


def test_ctrl_c_writes_the_current_result(tmp_path, content_png, style_png):
    out = tmp_path / "out.png"
    with nst3d_process("image", content_png, style_png, "-o", out, "--size", "64", "--scales", "1", "--steps",
                       "100000", "--backbone", "vgg16-hed") as proc:
        wait_for_steps(proc, 2, 60)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert Image.open(out).size == (64, 48)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["interrupted"] is True and len(record["history"]) >= 2


def test_ctrl_c_during_start_up_is_one_line(tmp_path, content_png, style_png):
    with nst3d_process("image", content_png, style_png, "-o", tmp_path / "out.png") as proc:
        maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and "libtorch" not in maps.read_text():
            time.sleep(0.01)  # until torch's libraries load: the import is under way, however busy the CPU
        assert proc.poll() is None, "nst3d finished before torch was imported"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode() == "nst3d: interrupted\n"


def test_out_of_memory_names_only_the_commands_own_flags():
    from nst3d.cli import out_of_memory

    assert out_of_memory(["mesh", "a.obj"]).endswith("(--texture-size, --render-size, --views-per-step, "
                                                     "--supersample)")
    assert "--texture-size" not in out_of_memory(["image", "--size", "512"])
    assert out_of_memory([]) == "nst3d: error: out of memory; try smaller sizes"


def test_a_diverged_run_keeps_its_best_image_and_is_not_reported_as_ctrl_c(monkeypatch, capsys, tmp_path,
                                                                           content_png, style_png):
    from nst3d import image as img

    real_terms, calls = img.ImageObjective.terms, []

    def terms_that_blow_up(self, image):
        calls.append(1)
        total, named = real_terms(self, image)
        return (total * float("nan"), named) if len(calls) == 3 else (total, named)

    monkeypatch.setattr(img.ImageObjective, "terms", terms_that_blow_up)
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "image", content_png, style_png, "-o", out, *TINY)
    record = json.loads(out.with_suffix(".json").read_text())
    assert code == 0 and "became nan at step 3" in err and "interrupted" not in err
    assert record["diverged"] is True and record["interrupted"] is False and len(record["history"]) == 2
    assert Image.open(out).size == (48, 36)
