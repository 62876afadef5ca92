import json
import os
import signal

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh
from conftest import as_tensor, make_style, nst3d_process, run_cli, wait_for_steps
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.mesh import Mesh, load_mesh, normalize, uv_coverage_mask
from nst3d.mesh.shapes import torus
from nst3d.seams import seam_contrast
from nst3d.stylize_mesh import stylize_mesh

STYLE = as_tensor(make_style())
TINY = dict(steps=12, texture_size=64, render_size=64, views_per_step=2, bank_size=8, gif_every=4,
            progress=False, backbone="vgg16-hed")


@pytest.fixture(scope="module")
def small_torus() -> Mesh:
    return torus(rows=12, cols=24)


def test_heldout_style_distance_drops_and_visible_texels_all_change(small_torus):
    # at 64 px renders the deepest layers see 4x4 positions: match the shallower ones in this tiny test
    result = stylize_mesh(small_torus, [STYLE], init="gray", **{**TINY, "steps": 30},
                          style_layers="relu1_1,relu2_1,relu3_1")
    held = result.record["heldout_style_distance"]
    assert held["final"] < 0.5 * held["initial"], held
    assert result.record["mesh"]["lr"] == 0.05  # from gray everything is still to paint: the full step
    # every texel under a face that some view sees has left the gray it started from
    covered = uv_coverage_mask(small_torus, (64, 64))
    changed = (result.texture - 0.5).abs().amax(0) > 1 / 255
    assert changed[covered].float().mean() > 0.99


def test_a_ctrl_c_during_the_final_evaluation_still_delivers_the_texture(small_torus, monkeypatch,
                                                                          python_sigint):
    from nst3d.stylize_mesh import MeshObjective

    real, calls = MeshObjective.evaluate, []

    def evaluate(self, texture):
        calls.append(1)
        if len(calls) == 2:  # the final one, after the loop
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, texture)

    monkeypatch.setattr(MeshObjective, "evaluate", evaluate)
    result = stylize_mesh(small_torus, [STYLE], **{**TINY, "steps": 3})
    assert result.stop_requested and len(result.record["history"]) == 3  # every step ran: a whole result
    assert not result.interrupted and not result.record["interrupted"]
    assert result.record["heldout_style_distance"]["final"] > 0 and result.texture.shape == (3, 64, 64)


def test_same_seed_same_texture(small_torus):
    a = stylize_mesh(small_torus, [STYLE], seed=5, **{**TINY, "steps": 3})
    b = stylize_mesh(small_torus, [STYLE], seed=5, **{**TINY, "steps": 3})
    c = stylize_mesh(small_torus, [STYLE], seed=6, **{**TINY, "steps": 3})
    assert torch.equal(a.texture, b.texture) and not torch.equal(a.texture, c.texture)
    last = stylize_mesh(small_torus, [STYLE], seed=5, average_decay=0.0, **{**TINY, "steps": 3})
    assert not torch.equal(a.texture, last.texture)  # the default exports the average, not the last step
    small = stylize_mesh(small_torus, [STYLE], **{**TINY, "steps": 1, "texture_size": 16})
    assert small.record["pyramid_levels"] == 3  # capped: the coarsest level keeps 4 texels


@pytest.fixture(scope="module")
def checkered_torus(small_torus) -> Mesh:
    checker = (torch.arange(64)[:, None] // 8 + torch.arange(64)[None] // 8) % 2
    return small_torus.replace(texture=checker.float().expand(3, 64, 64).clone())


def test_textured_mesh_keeps_content_and_reports_it(checkered_torus):
    result = stylize_mesh(checkered_torus, [STYLE], **TINY)
    assert result.record["mesh"]["init"] == "original"
    assert all("content" in h for h in result.record["history"])
    assert result.record["mesh"]["lr"] == 0.025  # from the mesh's own texture: the half step


def test_default_lr_follows_the_start_and_an_explicit_one_wins(checkered_torus):
    short = {**TINY, "steps": 3, "gif_every": 0}
    default = stylize_mesh(checkered_torus, [STYLE], **short).texture
    assert torch.equal(default, stylize_mesh(checkered_torus, [STYLE], lr=0.025, **short).texture)
    assert not torch.equal(default, stylize_mesh(checkered_torus, [STYLE], lr=0.05, **short).texture)
    assert stylize_mesh(checkered_torus, [STYLE], init="gray", **short).record["mesh"]["lr"] == 0.05


def test_cli_writes_every_output(monkeypatch, capsys, tmp_path, style_png):
    mesh_path = tmp_path / "torus.obj"
    trimesh.Trimesh(torus(rows=12, cols=24).vertices.numpy(), torus(rows=12, cols=24).faces.numpy(),
                    process=False).export(mesh_path)  # no UVs: the pipeline unwraps it
    out = tmp_path / "out"
    code, stdout, err = run_cli(monkeypatch, capsys, "mesh", mesh_path, style_png, "-o", out, "--steps", 4,
                                "--texture-size", 64, "--render-size", 64, "--gif-every", 2, "--quiet",
                                "--backbone", "vgg16-hed")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["heldout_after.png", "heldout_before.png", "mesh.glb",
                                                     "mesh.mtl", "mesh.obj", "progress.gif", "report.html",
                                                     "run.json", "texture.png", "turntable.gif"]
    obj = trimesh.load(out / "mesh.obj", force="mesh")
    assert len(obj.faces) == 12 * 24 * 2
    assert obj.visual.material.image.size == (64, 64)
    glb = trimesh.load(out / "mesh.glb", force="mesh")
    assert len(glb.faces) == 12 * 24 * 2 and glb.visual.material.baseColorTexture.size == (64, 64)
    assert iio.imread(out / "turntable.gif").shape[0] >= 36
    assert iio.imread(out / "progress.gif").shape[0] >= 2
    record = json.loads((out / "run.json").read_text())
    assert record["backbone"] == "vgg16-hed" and record["parameters"]["seed"] == 0
    assert record["parameters"]["tv_weight"] == 50 and record["pyramid_levels"] == 4
    assert {"render", "network", "optimizer", "export_seconds"} <= set(record["timings"])
    assert len(record["history"]) == 4
    # existing outputs are kept unless --force
    code, _, err = run_cli(monkeypatch, capsys, "mesh", mesh_path, style_png, "-o", out, "--steps", 1)
    assert code == 2 and "--force" in err


@pytest.mark.parametrize("extra,message", [
    (["--texture-size", "0"], "texture_size must be"), (["--texture-size", "8"], "between 16"),
    (["--texture-size", "100000"], "must be between 16 and 8192"), (["--supersample", "9"], "at most 8"),
    (["--average-decay", "1"], "average decay 1.0 must be"),
    (["--render-size", "8"], "render size"), (["--steps", "-1"], "steps must be"),
    (["--init", "original"], "needs a textured mesh"), (["--style-layers", "relu0_1"], "unknown layer"),
    (["--elevation", "50", "10"], "elevation range"), (["--fov", "3"], "fov 3.0 must be"),
    (["--style-layers", "relu1_1:0"], "all zero"), (["--seed", "-1"], "--seed must be"),
])
def test_bad_parameters_leave_outdir_untouched(monkeypatch, capsys, tmp_path, style_png, extra, message):
    mesh_path = tmp_path / "m.obj"
    trimesh.creation.icosphere(1).export(mesh_path)
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "mesh", mesh_path, style_png, "-o", out, *extra, "--quiet")
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_files(monkeypatch, capsys, tmp_path, style_png):
    (tmp_path / "style.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    trimesh.creation.icosphere(1).export(tmp_path / "m.obj")
    (tmp_path / "cloud.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                                        "property float y\nproperty float z\nend_header\n"
                                        "0 0 0\n1 0 0\n0 1 0\n")
    for args, message in [((tmp_path / "m.obj", tmp_path / "style.jpg"), "style image"),
                          ((tmp_path / "nope.obj", style_png), "no such file"),
                          ((tmp_path / "cloud.ply", style_png), "no faces")]:
        code, _, err = run_cli(monkeypatch, capsys, "mesh", *args, "-o", tmp_path / "out")
        assert code == 2 and message in err, err
    assert not (tmp_path / "out").exists()


def test_seam_contrast_separates_seams_from_ordinary_edges(small_torus):
    # colour = smooth function of the 3D position: continuous on the surface, so seams are invisible
    mesh = small_torus
    smooth = torch.zeros(3, 128, 128)
    u, v = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(1, 0, 128), indexing="xy")
    smooth[0] = torch.cos(2 * np.pi * u) * 0.5 + 0.5
    smooth[1] = torch.cos(2 * np.pi * v) * 0.5 + 0.5
    smooth[2] = 0.5
    ok = seam_contrast(mesh, smooth)
    assert ok["seam_edges"] > 0 and ok["ordinary_edges"] > 0 and ok["ratio"] < 2.0
    ramp = smooth.clone()
    ramp[2] = u  # jumps from 1 to 0 across the u = 0/1 seam
    bad = seam_contrast(mesh, ramp)
    assert bad["ratio"] > 5 * ok["ratio"]


def test_mesh_without_faces_is_an_error():
    empty = Mesh(torch.zeros(3, 3), torch.zeros(0, 3, dtype=torch.long))
    with pytest.raises(Nst3dError):
        stylize_mesh(empty, [STYLE], **TINY)


def test_spot_from_shared_data():
    from conftest import shared_data

    folder = shared_data("meshes", "spot")
    mesh = load_mesh(folder / "spot_triangulated.obj", folder / "spot_texture.png")
    assert normalize(mesh).vertices.norm(dim=1).max() == pytest.approx(1.0, abs=1e-5)
    result = stylize_mesh(mesh, [STYLE], **{**TINY, "steps": 3, "texture_size": 128})
    assert result.texture.shape == (3, 128, 128) and result.record["mesh"]["faces"] == 5856
    Image.fromarray((result.texture.permute(1, 2, 0).numpy() * 255).astype(np.uint8))


def test_cli_force_overwrites_and_creates_missing_parents(monkeypatch, capsys, tmp_path, style_png):
    mesh_path = tmp_path / "m.obj"
    trimesh.creation.icosphere(1).export(mesh_path)
    out = tmp_path / "new" / "nested" / "out"
    args = ["mesh", mesh_path, style_png, "-o", out, "--steps", 1, "--texture-size", 32, "--render-size", 64,
            "--quiet"]
    assert run_cli(monkeypatch, capsys, *args, "--gif-every", 1)[0] == 0
    first = (out / "texture.png").read_bytes()
    assert (out / "progress.gif").exists()
    (out / "notes.txt").write_text("mine")
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--gif-every", 0, "--force", "--seed", 9,
                                "--init", "noise")
    assert code == 0, err
    assert (out / "texture.png").read_bytes() != first
    assert json.loads((out / "run.json").read_text())["parameters"]["seed"] == 9
    # the earlier run's progress.gif is gone (the folder holds one run), the user's own file is kept
    assert not (out / "progress.gif").exists() and (out / "notes.txt").read_text() == "mine"
    assert "turntable.gif" in stdout and "progress.gif" not in stdout


def test_cli_bad_texture_and_nan_vertices(monkeypatch, capsys, tmp_path, style_png):
    (tmp_path / "tex.png").write_text("not a png")
    (tmp_path / "quad.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                                       "f 1/1 2/2 3/3 4/4\n")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    for args, message in [(("quad.obj", "--texture", "tex.png"), "tex.png"), (("nan.obj",), "NaN")]:
        mesh, *rest = args
        code, _, err = run_cli(monkeypatch, capsys, "mesh", tmp_path / mesh, style_png, "-o", tmp_path / "o",
                               *[tmp_path / r if r.endswith(".png") else r for r in rest])
        assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_ctrl_c_exports_the_current_texture(tmp_path, style_png):
    trimesh.creation.icosphere(1).export(tmp_path / "m.obj")
    out = tmp_path / "out"
    with nst3d_process("mesh", tmp_path / "m.obj", style_png, "-o", out, "--steps", "100000",
                       "--texture-size", "32", "--render-size", "64", "--backbone", "vgg16-hed") as proc:
        wait_for_steps(proc, 2, 90)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert (out / "mesh.glb").exists()
    record = json.loads((out / "run.json").read_text())
    assert record["interrupted"] is True and len(record["history"]) >= 2
    assert np.asarray(Image.open(out / "texture.png"), dtype=float).std() > 0.5  # painted, not the flat start


def test_a_card_without_seams_seen_edge_on_by_the_progress_view_runs_to_the_end():
    # a flat card in the plane x = 0: the fixed front view (azimuth 0) sees it edge-on, and its single UV
    # island has no seam, so the seam term is empty
    card = Mesh(torch.tensor([[0.0, -1, -1], [0, 1, -1], [0, 1, 1], [0, -1, 1]]),
                torch.tensor([[0, 1, 2], [0, 2, 3]]), uvs=torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1]]),
                face_uvs=torch.tensor([[0, 1, 2], [0, 2, 3]]))
    for seam_weight in (1000.0, 0.0):
        result = stylize_mesh(card, [STYLE], **{**TINY, "steps": 2, "gif_every": 1},
                              seam_weight=seam_weight)
        assert len(result.frames) == 3 and len(result.record["history"]) == 2
        for frame in result.frames:  # edge-on: the background, but for at most a line of pixels
            assert (np.abs(frame.astype(int) - frame[0, 0]).sum(-1) > 3).mean() < 0.05


def test_preset_is_a_starting_point_that_typed_flags_change(monkeypatch, capsys, tmp_path, style_png):
    mesh_path = tmp_path / "m.obj"
    trimesh.creation.icosphere(1).export(mesh_path)
    code, _, err = run_cli(monkeypatch, capsys, "mesh", mesh_path, style_png, "-o", tmp_path / "out",
                           "--preset", "draft", "--steps", 2, "--render-size", 64, "--gif-every", 0, "-q")
    assert code == 0, err
    parameters = json.loads((tmp_path / "out" / "run.json").read_text())["parameters"]
    assert parameters["texture_size"] == 256 and parameters["steps"] == 2  # the preset's, and the flag's
    code, _, err = run_cli(monkeypatch, capsys, "mesh", mesh_path, style_png, "--preset", "fast")
    assert code == 2 and "unknown preset 'fast'" in err


def test_training_views_are_drawn_as_a_shuffled_deck(small_torus):
    """Every view of the bank is drawn once before any is drawn again (and in a new order each round)."""
    from nst3d.options import MeshOptions
    from nst3d.stylize_mesh import _set_up

    opts = MeshOptions(texture_size=64, render_size=64, bank_size=8, backbone="vgg16-hed", gif_every=0)
    objective, _ = _set_up(small_torus, [STYLE], None, opts, torch.device("cpu"))
    rounds = torch.cat([objective.draw(2) for _ in range(12)]).view(3, 8)      # 24 draws from 8 views
    for drawn in rounds:
        assert sorted(drawn.tolist()) == list(range(8))
    assert not torch.equal(rounds[0], rounds[1]) or not torch.equal(rounds[1], rounds[2])
