"""`nst3d batch`: manifests checked up front, resumable runs, local and on a real local Ray cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from browser import evaluate
from conftest import make_content, make_style, run_cli
from PIL import Image

from nst3d.batch import glob_jobs, read_manifest, run_batch
from nst3d.batch.jobs import job_hash
from nst3d.errors import Nst3dError
from nst3d.mesh import referenced_files
from nst3d.mesh.shapes import torus

TINY_MESH = {"steps": 2, "texture_size": 32, "render_size": 64, "gif_every": 0, "bank_size": 4,
             "backbone": "vgg16-hed"}
TINY_IMAGE = {"size": 48, "steps": 2, "scales": 1, "backbone": "vgg16-hed"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder with two meshes, two style images and a content photo."""
    folder = tmp_path_factory.mktemp("inputs")
    Image.fromarray(make_style()).save(folder / "stripes.png")
    Image.fromarray(make_style()[:, ::-1].copy()).save(folder / "mirror.png")
    Image.fromarray(make_content()).save(folder / "photo.png")
    from nst3d.mesh.export import export_obj

    export_obj(torus(rows=8, cols=16), None, folder / "ring.obj")
    export_obj(torus(major=0.6, minor=0.4, rows=8, cols=16), None, folder / "donut.obj")
    return folder


def manifest(folder: Path, rows: list[dict], name: str = "jobs.jsonl") -> Path:
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def four_jobs(folder: Path) -> list[dict]:
    """A mesh row that expands to 2 meshes x ... one style, and two image rows: four jobs."""
    return [{"mesh": str(folder / "*.obj"), "styles": str(folder / "stripes.png"), **TINY_MESH},
            {"kind": "image", "content": str(folder / "photo.png"), "styles": str(folder / "stripes.png"),
             **TINY_IMAGE},
            {"kind": "image", "content": str(folder / "photo.png"), "styles": [str(folder / "stripes.png"),
             str(folder / "mirror.png")], "style_blend": [0.7, 0.3], "output": "blend", **TINY_IMAGE}]


def statuses(outdir: Path) -> dict[str, str]:
    return {j["name"]: j["status"] for j in json.loads((outdir / "batch.json").read_text())["jobs"]}


def no_leftovers(outdir: Path) -> bool:
    return not [p for p in outdir.rglob(".*") if p.name != ".check-index.html"]


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("local")
    run_batch(read_manifest(manifest(inputs, four_jobs(inputs))), outdir)
    return outdir


def test_manifest_expands_globs_and_names_jobs(inputs):
    jobs = read_manifest(manifest(inputs, four_jobs(inputs)))
    assert [j.name for j in jobs] == ["donut_stripes", "ring_stripes", "photo_stripes", "blend"]
    assert jobs[3].options.style_blend == (0.7, 0.3) and jobs[0].options.steps == 2
    nulls = {"mesh": str(inputs / "ring.obj"), "styles": str(inputs / "stripes.png"), "texture": None,
             "output": None}  # null: the same as leaving the field out
    assert [(j.name, j.texture) for j in read_manifest(manifest(inputs, [nulls], "nulls.jsonl"))] == [
        ("ring_stripes", None)]
    crossed = glob_jobs(str(inputs / "*.obj"), str(inputs / "*.png"), {"steps": 5})
    assert len(crossed) == 2 * 3 and all(j.options.steps == 5 for j in crossed)


def test_local_run_writes_every_job_and_a_rerun_skips_them(local_run, inputs):
    assert statuses(local_run) == dict.fromkeys(["donut_stripes", "ring_stripes", "photo_stripes", "blend"],
                                                "done")
    assert (local_run / "ring_stripes" / "texture.png").exists()
    assert (local_run / "blend" / "image.png").exists()
    again = run_batch(read_manifest(manifest(inputs, four_jobs(inputs))), local_run)
    assert {s["status"] for s in again.values()} == {"skipped"}
    assert no_leftovers(local_run)


def test_changed_options_redo_only_that_job(local_run, inputs, tmp_path):
    rows = four_jobs(inputs)
    rows[1]["steps"] = 3
    summaries = run_batch(read_manifest(manifest(tmp_path, rows)), local_run)
    assert summaries["photo_stripes"]["status"] == "done"
    assert {summaries[n]["status"] for n in ("donut_stripes", "ring_stripes", "blend")} == {"skipped"}


def test_a_failing_job_does_not_stop_the_others_and_is_retried(inputs, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows = four_jobs(inputs)[1:2] + [{"kind": "image", "content": str(tmp_path / "broken.png"),
                                      "styles": str(inputs / "stripes.png"), **TINY_IMAGE}]
    outdir = tmp_path / "out"
    summaries = run_batch(read_manifest(manifest(tmp_path, rows)), outdir)
    assert summaries["photo_stripes"]["status"] == "done"
    failed = summaries["broken_stripes"]
    assert failed["status"] == "failed" and "content image" in failed["error"] and "\n" not in failed["error"]
    assert not (outdir / "broken_stripes").exists() and no_leftovers(outdir)
    again = run_batch(read_manifest(manifest(tmp_path, rows)), outdir)
    assert again["photo_stripes"]["status"] == "skipped" and again["broken_stripes"]["status"] == "failed"


@pytest.mark.parametrize("row,message", [
    ({"mesh": "{d}/ring.obj"}, "row 3: missing field 'styles'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "stepz": 3}, "row 3: unknown field 'stepz'"),
    ({"mesh": "{d}/nope.obj", "styles": "{d}/stripes.png"}, "row 3, field 'mesh'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "steps": -1}, "row 3, field 'steps'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "output": "photo_stripes"}, "duplicate output"),
    ({"kind": "video", "mesh": "{d}/ring.obj", "styles": "{d}/stripes.png"}, "row 3, field 'kind'"),
    ({"kind": ["mesh"], "mesh": "{d}/ring.obj", "styles": "{d}/stripes.png"}, "row 3, field 'kind'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "texture": 5}, "row 3, field 'texture'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "steps": "100"}, "row 3, field 'steps'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "elevation": [0, 30, 60]}, "field 'elevation'"),
    ({"mesh": "{d}/ring.obj", "styles": "{d}/stripes.png", "crop": "yes"}, "row 3, field 'crop'"),
])
def test_bad_manifests_are_one_line_errors_before_anything_runs(monkeypatch, capsys, inputs, tmp_path, row,
                                                                message):
    good = four_jobs(inputs)[1]
    bad = {k: v.replace("{d}", str(inputs)) if isinstance(v, str) else v for k, v in row.items()}
    path = manifest(tmp_path, [good])
    path.write_text(path.read_text() + "# a comment\n" + json.dumps(bad) + "\n")
    code, _, err = run_cli(monkeypatch, capsys, "batch", path, "-o", tmp_path / "out")
    assert code == 2 and message in err and err.startswith("nst3d: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_cli_flags_apply_to_every_job_unless_the_row_says(monkeypatch, capsys, inputs, tmp_path):
    jobs = read_manifest(manifest(inputs, four_jobs(inputs)), {"seed": 7, "steps": 9})
    assert all(j.options.seed == 7 for j in jobs) and jobs[0].options.steps == 2
    code, _, err = run_cli(monkeypatch, capsys, "batch", "-o", tmp_path / "out", "--steps", 3)
    assert code == 2 and "give a MANIFEST" in err
    with pytest.raises(Nst3dError, match="matches no file"):
        glob_jobs(str(inputs / "*.nothing"), str(inputs / "*.png"))


def test_preset_starts_the_mesh_jobs_and_flags_and_rows_change_it(monkeypatch, capsys, inputs, tmp_path):
    rows = four_jobs(inputs)
    del rows[0]["steps"]
    jobs = read_manifest(manifest(tmp_path, rows), {"seed": 3}, preset="draft")
    mesh, image = jobs[0].options, jobs[2].options
    assert (mesh.steps, mesh.coarse_fraction, mesh.texture_size, mesh.seed) == (100, 0.6667, 32, 3)
    assert image.steps == 2 and image.seed == 3                  # image jobs keep their own
    crossed = glob_jobs(str(inputs / "*.obj"), str(inputs / "stripes.png"), {"steps": 7}, preset="high")
    assert {(j.options.steps, j.options.texture_size) for j in crossed} == {(7, 1024)}
    for args, message in [(["--preset", "fast"], "unknown preset 'fast'"),
                          (["--meshes", str(inputs / "*.obj")], "give a MANIFEST"),
                          (["--workers", "2", "--verbose"], "--verbose")]:
        code, _, err = run_cli(monkeypatch, capsys, "batch", manifest(tmp_path, rows), "-o", tmp_path / "out",
                               *args)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_changed_texture_behind_an_obj_redoes_the_job(inputs, tmp_path):
    for name in ("torus.obj", "torus.mtl", "torus.png"):
        shutil.copy(Path(__file__).resolve().parents[1] / "meshes" / name, tmp_path / name)
    job = glob_jobs(str(tmp_path / "torus.obj"), str(inputs / "stripes.png"))[0]
    before = job_hash(job)
    texture = Image.open(tmp_path / "torus.png").convert("RGB")
    texture.putpixel((0, 0), tuple(255 - v for v in texture.getpixel((0, 0))))
    texture.save(tmp_path / "torus.png")
    edited = job_hash(job)
    assert edited != before
    (tmp_path / "torus.mtl").write_text((tmp_path / "torus.mtl").read_text() + "\n# edited\n")
    assert job_hash(job) != edited
    assert referenced_files(tmp_path / "torus.obj") == [tmp_path / "torus.mtl", tmp_path / "torus.png"]


def test_gallery_images_all_load_in_chromium(local_run):
    found = evaluate(local_run / "index.html", """
      window.addEventListener('load', function () {
        report(Array.prototype.map.call(document.images, function (i) { return i.naturalWidth; }));
      });""")
    assert len(found) >= 4 + 2 + 4 and all(width > 0 for width in found), found


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_outputs_as_the_local_run(ray_cluster, local_run, inputs, tmp_path):
    outdir = tmp_path / "ray"
    summaries = run_batch(read_manifest(manifest(inputs, four_jobs(inputs))), outdir, ray="auto")
    assert {s["status"] for s in summaries.values()} == {"done"}
    # A Ray task has one CPU, so torch runs one thread there: sums round differently than with this
    # process's threads, so the outputs agree to rounding, not bit for bit.
    for name, output in [("ring_stripes", "texture.png"), ("blend", "image.png")]:
        ray_out = np.asarray(Image.open(outdir / name / output), dtype=float)
        local = np.asarray(Image.open(local_run / name / output), dtype=float)
        assert ray_out.shape == local.shape and np.abs(ray_out - local).mean() < 0.5, name
        assert np.abs(ray_out - local).max() <= 8, name


def _kill_a_running_job(deadline: float) -> bool:
    """SIGKILL the first Ray worker seen running a job (its process title is ray::run_job)."""
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                title = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if proc.name.isdigit() and title.startswith(b"ray::run_job"):
                os.kill(int(proc.name), signal.SIGKILL)
                return True
        time.sleep(0.05)
    return False


def test_a_killed_ray_worker_is_retried_and_a_rerun_completes_only_what_is_missing(ray_cluster, inputs,
                                                                                  tmp_path):
    outdir = tmp_path / "killed"
    rows = four_jobs(inputs)[:1]
    rows[0]["steps"] = 20  # long enough to be killed mid-way
    killer = threading.Thread(target=lambda: killed.append(_kill_a_running_job(time.monotonic() + 120)))
    killed: list[bool] = []
    killer.start()
    summaries = run_batch(read_manifest(manifest(tmp_path, rows)), outdir, ray="auto")
    killer.join()
    assert killed == [True]
    assert {s["status"] for s in summaries.values()} <= {"done", "failed"} and no_leftovers(outdir)
    for name, summary in summaries.items():
        assert (summary["status"] == "done") == (outdir / name / "run.json").exists()
    again = run_batch(read_manifest(manifest(tmp_path, rows)), outdir, ray="auto")
    for name, summary in summaries.items():  # finished jobs are skipped, the rest are done now
        assert again[name]["status"] == ("skipped" if summary["status"] == "done" else "done"), again


def test_ray_flag_without_ray_installed_says_how_to_install_it(monkeypatch, capsys, inputs, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    code, _, err = run_cli(monkeypatch, capsys, "batch", manifest(tmp_path, four_jobs(inputs)[1:2]),
                           "-o", tmp_path / "out", "--ray", "auto")
    assert code == 2 and 'pip install -e ".[ray]"' in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_the_batch_and_keeps_every_finished_job(inputs, tmp_path):
    from conftest import nst3d_process, wait_for_stderr

    quick, slow = four_jobs(inputs)[1], {**four_jobs(inputs)[2], "steps": 100000, "output": "slow"}
    path = manifest(tmp_path, [quick, slow])
    outdir = tmp_path / "out"
    with nst3d_process("batch", path, "-o", outdir) as proc:
        wait_for_stderr(proc, "1/2", 120)  # the bar over jobs: the first one is done
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert statuses(outdir) == {"photo_stripes": "done", "slow": "pending"}
    assert (outdir / "photo_stripes" / "image.png").exists() and not (outdir / "slow").exists()
    assert no_leftovers(outdir)
