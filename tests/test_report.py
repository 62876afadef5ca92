"""The run report (issue 14): a tiny mesh run's report.html and a 2D run's --report page, opened from disk
in headless Chromium (no network, software WebGL): no errors, every image loads, the viewer draws the
mesh and a drag, the toggles and the wheel change the picture, one curve per loss term; a folder without
mesh.glb says so on the page; `nst3d report` rebuilds a folder's report."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import evaluate
from conftest import as_tensor, make_content, make_style, run_cli
from PIL import Image

from nst3d.mesh.shapes import torus
from nst3d.report.html import escape, image, thumbnail_jpeg
from nst3d.report.run import loss_terms
from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs

PROBE = (Path(__file__).with_name("report_probe.js")).read_text(encoding="utf-8")
TINY = dict(steps=3, texture_size=32, render_size=64, views_per_step=2, bank_size=4, gif_every=1,
            progress=False, backbone="vgg16-hed")


@pytest.fixture(scope="module")
def mesh_run(tmp_path_factory) -> Path:
    """A 3-step run on a checkered torus (so it has an original texture), written as `nst3d mesh` does."""
    folder = tmp_path_factory.mktemp("report")
    style = folder / "stripes.png"
    Image.fromarray(make_style()).save(style)
    checker = ((torch.arange(64)[:, None] // 8 + torch.arange(64)[None] // 8) % 2).float()
    mesh = torus(rows=12, cols=24).replace(texture=checker.expand(3, 64, 64).clone())
    result = stylize_mesh(mesh, [as_tensor(make_style())], **TINY)
    argv = ["mesh", "torus.obj", str(style), "-o", str(folder / "run"), "--steps", "3", "--texture-size",
            "32"]
    write_mesh_outputs(result, folder / "run", inputs={"argv": argv, "mesh": "torus.obj", "texture": None,
                                                      "styles": [str(style)]})
    return folder / "run"


def page_images(html: str) -> list[str]:
    """The <img> tags of a page's HTML."""
    return re.findall(r"<img [^>]*>", html)


def test_a_mesh_run_writes_a_self_contained_report(mesh_run):
    names = {p.name for p in mesh_run.iterdir()}
    assert {"report.html", "heldout_before.png", "heldout_after.png", "original_texture.png"} <= names
    assert Image.open(mesh_run / "heldout_after.png").size == (4 * 192, 192)
    html = (mesh_run / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and not re.search("https?://", html)
    record = json.loads((mesh_run / "run.json").read_text())
    assert escape("nst3d " + shlex.join(record["inputs"]["argv"])) in html
    # readable without JavaScript: the images, the curves and the tables are in the HTML itself
    images = page_images(html)
    assert len(images) >= 5 and all(re.search(r'alt="[^"]+"', i) for i in images), images
    curves = re.search(r'<figure id="loss-curves">.*?</figure>', html, re.S).group(0)
    assert curves.count('<path class="curve"') == len(loss_terms(record["history"])) >= 3
    assert 'role="img"' in curves and "aria-label=" in curves and "<title>" in curves
    for name in ("backbone", "device", "seed", "texture_size", "network", "export seconds"):
        assert f">{name}<" in html, name


def test_chromium_shows_the_report_and_its_viewer_draws_and_turns(mesh_run):
    found = evaluate(mesh_run / "report.html", PROBE, catch_errors=True)
    assert found["errors"] == [] and found["viewerError"] is None, found
    assert len(found["images"]) >= 5 and all(i["loaded"] for i in found["images"]), found["images"]
    terms = loss_terms(json.loads((mesh_run / "run.json").read_text())["history"])
    assert found["curves"] == terms
    assert found["centre"] > 0.5, found            # the mesh covers the middle of the canvas
    assert found["drag"] > 0.05 and found["state"]["azimuth"] != 30, found  # dragging turns it
    assert found["texture"] > 0.02 and found["state"]["texture"] == "original", found
    assert found["light"] > 0.02 and found["state"]["lit"] is False, found
    assert found["zoom"] > 0.02 and found["state"]["distance"] > 2.7, found
    assert found["missing"] == [], found["missing"]


def test_the_report_fits_a_phone(mesh_run):
    # headless windows are at least 500 px wide: lay the page out 390 px wide (a phone) inside one
    phone = 'document.documentElement.style.width = "390px";\n'
    found = evaluate(mesh_run / "report.html", phone + PROBE, catch_errors=True, window=(500, 1600))
    assert found["errors"] == [] and found["widest"] <= 390, found
    assert found["canvas"][2] <= 390 - 2 * 16 and found["centre"] > 0.5 and found["drag"] > 0.05, found


def test_a_folder_without_its_glb_says_so_on_the_page(mesh_run, tmp_path, monkeypatch, capsys):
    old = tmp_path / "old"
    shutil.copytree(mesh_run, old, ignore=shutil.ignore_patterns("mesh.glb", "report.html"))
    code, out, err = run_cli(monkeypatch, capsys, "report", old)
    assert code == 0 and "report.html" in out, err
    found = evaluate(old / "report.html", PROBE, catch_errors=True)
    assert found["errors"] == [] and not found["hasCanvas"], found
    assert any("mesh.glb is missing from this folder" in m for m in found["missing"]), found["missing"]
    assert all(i["loaded"] for i in found["images"]) and found["curves"], found


def test_report_rebuilds_a_folder_of_an_older_version(mesh_run, tmp_path, monkeypatch, capsys):
    old = tmp_path / "older"
    shutil.copytree(mesh_run, old, ignore=shutil.ignore_patterns("report.html", "heldout_*.png",
                                                                 "original_texture.png"))
    record = json.loads((old / "run.json").read_text())
    del record["inputs"]["argv"]
    (old / "run.json").write_text(json.dumps(record))
    code, _, err = run_cli(monkeypatch, capsys, "report", old)
    assert code == 0, err
    html = (old / "report.html").read_text(encoding="utf-8")
    assert "heldout_after.png is missing from this folder" in html and "did not record its command" in html
    assert "original_texture.png is missing" in html and 'id="nst3d-viewer"' in html


def test_report_of_a_mesh_folders_run_json_rebuilds_that_folders_report(mesh_run, tmp_path, monkeypatch,
                                                                        capsys):
    old = tmp_path / "named"
    shutil.copytree(mesh_run, old, ignore=shutil.ignore_patterns("report.html"))
    code, out, err = run_cli(monkeypatch, capsys, "report", old / "run.json")
    assert code == 0 and (old / "report.html").exists() and not list(old.glob("*.report.html")), err
    assert 'id="nst3d-viewer"' in (old / "report.html").read_text(encoding="utf-8")


def write_record(folder: Path, record: object) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "run.json").write_text(json.dumps(record))
    return folder


BAD_RECORDS = [{"inputs": []}, {"history": [1]}, {"heldout_style_distance": 1}]  # fields of the wrong kind


@pytest.mark.parametrize("make,message", [(lambda p: p / "nothing", "no such folder"),
                                          (lambda p: p, "no run.json here")] + [
    (lambda p, r=record: write_record(p / "bad", r), "not a run record") for record in BAD_RECORDS])
def test_report_of_a_folder_that_is_not_a_run_is_one_line(monkeypatch, capsys, tmp_path, make, message):
    code, _, err = run_cli(monkeypatch, capsys, "report", make(tmp_path))
    assert code == 2 and message in err and err.startswith("nst3d: error:") and err.count("\n") == 1, err


def test_pictures_link_by_url_and_thumbnails_read_16_bit_by_their_range(tmp_path):
    assert 'src="cat%20%231_swirls/image.png"' in image("cat #1_swirls/image.png", "a cat")
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / "mid.png")  # 16-bit mid gray
    with Image.open(io.BytesIO(thumbnail_jpeg(tmp_path / "mid.png", 8))) as thumb:
        assert abs(np.asarray(thumb, dtype=float).mean() - 128) < 3
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert thumbnail_jpeg(tmp_path / "bad.png", 8) is None


def test_image_report_shows_before_after_styles_curves_and_command(monkeypatch, capsys, tmp_path):
    Image.fromarray(make_content()).save(tmp_path / "photo.png")
    Image.fromarray(make_style()).save(tmp_path / "stripes.png")
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "image", tmp_path / "photo.png", tmp_path / "stripes.png",
                           "-o", out, "--gif", tmp_path / "out.gif", "--gif-every", 1, "--report",
                           "--size", 48, "--steps", 2, "--scales", 1, "--backbone", "vgg16-hed", "--quiet")
    assert code == 0, err
    page = tmp_path / "out.report.html"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["argv"][0] == "image" and "--report" in record["argv"]
    assert shlex.join(record["argv"]).split()[-1] in page.read_text(encoding="utf-8")
    found = evaluate(page, PROBE, catch_errors=True)
    assert found["errors"] == [] and not found["hasCanvas"], found
    assert len(found["images"]) == 4 and all(i["loaded"] for i in found["images"]), found["images"]
    assert found["curves"] == loss_terms(record["history"]) and "style" in found["curves"]
