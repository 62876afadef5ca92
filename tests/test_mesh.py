"""Mesh I/O: loading (OBJ/MTL, quads, scenes, colours), normalization, UV atlases, padding, export."""

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from conftest import as_tensor, shared_data
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.io import load_image, to_uint8
from nst3d.mesh import (
    Mesh,
    ensure_uvs,
    export_glb,
    export_obj,
    load_mesh,
    normalization,
    normalize,
    pad_texture,
    uv_coverage_mask,
)
from nst3d.mesh.shapes import blob, rounded_cube, torus, uv_sphere
from nst3d.mesh.uvraster import uv_fragments
from nst3d.render import sample_texture

SAMPLES = Path(__file__).resolve().parents[1] / "meshes"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def save_png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path)
    return path


def solid(color: tuple[int, int, int], size: int = 16) -> np.ndarray:
    return np.broadcast_to(np.array(color, np.uint8), (size, size, 3))


def corner_positions(mesh: Mesh) -> torch.Tensor:
    return mesh.vertices[mesh.faces]  # (F, 3, 3)


def uv_areas(mesh: Mesh) -> torch.Tensor:
    tri = mesh.uvs.double()[mesh.face_uvs]  # (F, 3, 2)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).abs() / 2


def overlap_fraction(mesh: Mesh, size: int = 512) -> float:
    """Texels whose centers lie in two or more UV triangles, over texels covered at all.

    Every UV triangle is at the same depth, so the lowest face id wins a texel; rasterizing again with
    the faces in reverse order changes the winner exactly where two or more triangles cover a texel.
    """
    forward = uv_fragments(mesh.uvs, mesh.face_uvs, (size, size)).face_id
    reverse = uv_fragments(mesh.uvs, mesh.face_uvs.flip(0), (size, size)).face_id
    reverse = torch.where(reverse >= 0, mesh.num_faces - 1 - reverse, -1)
    return (forward != reverse).sum().item() / max(1, (forward >= 0).sum().item())


def texel_at(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Nearest texel colours (N, 3) at UVs (N, 2), v up."""
    _, height, width = texture.shape
    col = (uv[:, 0] * width).long().clamp(0, width - 1)
    row = ((1 - uv[:, 1]) * height).long().clamp(0, height - 1)
    return texture[:, row, col].T


def expected_export(mesh: Mesh, texture: torch.Tensor) -> torch.Tensor:
    """What an exported PNG must hold: the texture padded around its UV islands, in 8-bit."""
    padded = pad_texture(texture, uv_coverage_mask(mesh, tuple(texture.shape[1:])), 8)
    return as_tensor(to_uint8(padded))[0]


# --- loading ---------------------------------------------------------------------------------------------

def test_obj_with_mtl_texture_quad_and_ngon_is_triangulated(tmp_path):
    x, y = np.meshgrid(np.arange(16) * 16, np.arange(16) * 16, indexing="xy")
    gradient = np.stack([x, y, np.full((16, 16), 90)], -1)
    save_png(tmp_path / "grad.png", gradient)
    write(tmp_path / "shape.mtl", "newmtl painted\nKd 1 1 1\nmap_Kd grad.png\n")
    write(tmp_path / "shape.obj", "mtllib shape.mtl\n"
          "v 0 0 0\nv 2 0 0\nv 2 1 0\nv 0 1 0\n"                        # a quad
          "v 3 0 0\nv 4 0 0\nv 4.5 1 0\nv 3.5 2 0\nv 2.5 1 0\n"          # a convex pentagon
          "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvt 0.5 0.5\n"
          "usemtl painted\nf 1/1 2/2 3/3 4/4\nf 5/1 6/2 7/3 8/4 9/5\n")
    mesh = load_mesh(tmp_path / "shape.obj")
    assert mesh.num_faces == 2 + 3
    tri = corner_positions(mesh).double()
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1).norm(dim=1).sum() / 2
    assert area.item() == pytest.approx(2.0 + 2.5)  # quad 2x1, pentagon 2.5
    assert torch.equal(mesh.texture, load_image(tmp_path / "grad.png")[0])
    for exported in ("C:\\Users\\artist\\textures\\grad.png", "/home/artist/textures/grad.png"):
        write(tmp_path / "shape.mtl", f"newmtl painted\nmap_Kd {exported}\n")  # the exporting machine's path
        assert torch.equal(load_mesh(tmp_path / "shape.obj").texture, mesh.texture), exported
    assert sorted(map(tuple, mesh.uvs.tolist())) == [(0, 0), (0, 1), (0.5, 0.5), (1, 0), (1, 1)]
    quad = (corner_positions(mesh)[:, :, 0] <= 2).all(1)  # UV of each quad corner follows its vt
    corners_uv = mesh.uvs[mesh.face_uvs][quad].reshape(-1, 2)
    corners_xy = corner_positions(mesh)[quad].reshape(-1, 3)[:, :2]
    assert torch.equal(corners_uv, corners_xy / torch.tensor([2.0, 1.0]))


def test_teapot_quads_are_triangulated():
    mesh = load_mesh(shared_data("meshes", "teapot", "teapot.obj"))
    assert mesh.num_faces == 15704 and mesh.num_vertices == 7850 and len(mesh.uvs) == 8334
    assert mesh.texture.shape == (3, 128, 128)


def test_spot_texture_given_separately():
    obj = shared_data("meshes", "spot", "spot_triangulated.obj")
    png = shared_data("meshes", "spot", "spot_texture.png")
    mesh = load_mesh(obj, texture=png)
    assert (mesh.num_vertices, mesh.num_faces, len(mesh.uvs)) == (2930, 5856, 3225)
    assert torch.equal(mesh.texture, load_image(png)[0])
    vt = np.array([line.split()[1:3] for line in obj.read_text().splitlines() if line.startswith("vt ")],
                  dtype=np.float32)
    assert torch.equal(mesh.uvs.unique(dim=0), torch.from_numpy(vt).unique(dim=0))  # the file's vt, unchanged
    plain = load_mesh(obj)
    assert plain.texture is None and torch.equal(plain.uvs, mesh.uvs)  # no .mtl: UVs kept, no texture


def test_fish_without_uvs_gets_an_atlas():
    mesh = load_mesh(shared_data("meshes", "blub", "fish.obj"))
    assert (mesh.num_vertices, mesh.num_faces) == (10786, 21568)
    assert mesh.uvs.min() >= 0 and mesh.uvs.max() <= 1
    assert mesh.uvs.min() < 0.01 and mesh.uvs.max() > 0.99
    assert (uv_areas(mesh) > 0).all()
    assert overlap_fraction(mesh) < 1e-3


@pytest.mark.parametrize("suffix", [".ply", ".stl", ".off", ".glb"])
def test_other_formats_load_with_merged_positions_and_an_atlas(tmp_path, suffix):
    cube = rounded_cube(steps=4)
    path = tmp_path / f"cube{suffix}"
    trimesh.Trimesh(cube.vertices.numpy(), cube.faces.numpy(), process=False).export(path)
    mesh = load_mesh(path)
    assert (mesh.num_vertices, mesh.num_faces) == (cube.num_vertices, cube.num_faces)  # STL corners merged
    assert torch.allclose(corner_positions(mesh), corner_positions(cube), atol=1e-6)
    assert mesh.face_uvs.shape == mesh.faces.shape and overlap_fraction(mesh) < 1e-3


def test_mesh_checks_its_tables_and_moves_between_devices():
    faces = torch.tensor([[0, 1, 2]])
    with pytest.raises(ValueError, match="together"):
        Mesh(vertices=torch.eye(3), faces=faces, uvs=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="needs uvs"):
        Mesh(vertices=torch.eye(3), faces=faces, texture=torch.zeros(3, 4, 4))
    mesh = Mesh(vertices=torch.eye(3), faces=faces, uvs=torch.zeros(3, 2), face_uvs=faces).to("cpu")
    assert mesh.num_faces == 1 and mesh.num_vertices == 3 and mesh.texture is None


def test_scene_transforms_are_applied_and_geometries_concatenated(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="a")
    moved = trimesh.transformations.translation_matrix([5, 0, 0])
    scene.add_geometry(trimesh.creation.box(), node_name="b", transform=moved)
    path = tmp_path / "two.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_mesh(path)
    assert mesh.num_faces == 24
    assert mesh.vertices[:, 0].min().item() == -0.5 and mesh.vertices[:, 0].max().item() == 5.5
    assert overlap_fraction(mesh) < 1e-3  # the two boxes share one fresh atlas


def test_several_textured_materials_are_packed_into_one_atlas(tmp_path, capsys):
    save_png(tmp_path / "red.png", solid((255, 0, 0)))
    save_png(tmp_path / "blue.png", solid((0, 0, 255)))
    write(tmp_path / "mats.mtl", "newmtl red\nmap_Kd red.png\nnewmtl blue\nmap_Kd -s 1 1 1 blue.png\n"
          "newmtl green\nKd 0 1 0\n")
    quads = "".join(f"v {x} 0 0\nv {x + 1} 0 0\nv {x + 1} 1 0\nv {x} 1 0\n" for x in (0, 2, 4))
    write(tmp_path / "mats.obj", f"mtllib mats.mtl\n{quads}vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
          "usemtl red\nf 1/1 2/2 3/3 4/4\nusemtl blue\nf 5/1 6/2 7/3 8/4\n"
          "usemtl green\nf 9/1 10/2 11/3 12/4\n")
    mesh = load_mesh(tmp_path / "mats.obj")
    assert "packed 3 material textures" in capsys.readouterr().err
    centroid_uv = mesh.uvs[mesh.face_uvs].mean(1)  # (F, 2)
    colors = texel_at(mesh.texture, centroid_uv)
    expected = {0: (1, 0, 0), 2: (0, 0, 1), 4: (0, 1, 0)}
    for face, x in enumerate(corner_positions(mesh)[:, :, 0].min(1).values.tolist()):
        assert colors[face].tolist() == pytest.approx(expected[int(x)], abs=1e-6)


def test_vertex_colours_are_baked_into_a_texture(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    colors = np.round((sphere.vertices + 1) / 2 * 255).astype(np.uint8)  # varies linearly with position
    sphere.visual.vertex_colors = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)
    path = tmp_path / "colored.ply"
    path.write_bytes(sphere.export(file_type="ply"))
    mesh = load_mesh(path)
    assert mesh.texture is not None and mesh.num_faces == len(sphere.faces)
    expected = torch.from_numpy(colors[sphere.faces] / 255.0).float().mean(1)  # (F, 3) at centroids
    centroid = mesh.uvs[mesh.face_uvs].mean(1)  # (F, 2); the file's face order is kept
    sampled = sample_texture(mesh.texture[None], centroid[None, None])[0, :, 0].T  # (F, 3), as rendered
    assert (sampled - expected).abs().max().item() < 1e-4  # colours are linear over a face: exact


def test_ensure_uvs_adds_a_non_overlapping_atlas_and_keeps_geometry():
    cube = rounded_cube()
    bare = Mesh(vertices=cube.vertices, faces=cube.faces)
    atlas = ensure_uvs(bare)
    assert torch.equal(atlas.vertices, bare.vertices) and torch.equal(atlas.faces, bare.faces)
    assert atlas.face_uvs.shape == atlas.faces.shape and len(atlas.uvs) > atlas.num_vertices  # split at seams
    assert atlas.uvs.min() >= 0 and atlas.uvs.max() <= 1
    assert overlap_fraction(atlas) < 1e-3 and overlap_fraction(blob()) < 1e-3
    assert ensure_uvs(atlas) is atlas


def test_a_crash_of_xatlas_is_one_clear_error_not_the_end_of_the_process(monkeypatch, tmp_path):
    crash = tmp_path / "crash.py"  # dies as xatlas does on some meshes
    crash.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    cube = rounded_cube()  # (its own UVs come from xatlas too)
    monkeypatch.setattr(importlib.import_module("nst3d.mesh.unwrap"), "CHILD", crash)
    with pytest.raises(Nst3dError, match=r"xatlas crashed \(signal 11\).*give it UVs"):
        ensure_uvs(Mesh(vertices=cube.vertices, faces=cube.faces))


def test_degenerate_faces_are_dropped_with_a_note(tmp_path, capsys):
    write(tmp_path / "d.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 2 0 0\nv 1 1 0\n"
          "f 1 2 3\nf 2 5 3\nf 1 2 4\nf 1 1 3\n")  # the last two: collinear, repeated index
    mesh = load_mesh(tmp_path / "d.obj")
    assert mesh.num_faces == 2
    assert "dropped 2 degenerate face(s)" in capsys.readouterr().err


# --- errors ----------------------------------------------------------------------------------------------

def bad_inputs(tmp: Path) -> dict[str, tuple[Path, Path | None, str]]:
    """name -> (mesh path, texture path, expected message fragment)."""
    tri = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"
    (tmp / "folder.obj").mkdir()
    (tmp / "garbage.png").write_bytes(b"not a png at all")
    (tmp / "bad.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    write(tmp / "c.mtl", "newmtl m\nmap_Kd gone.png\n")
    save_png(tmp / "t.png", solid((1, 2, 3)))
    return {
        "missing": (tmp / "nope.obj", None, "no such file"),
        "folder": (tmp / "folder.obj", None, "is a folder"),
        "suffix": (write(tmp / "mesh.xyz", tri), None, "unsupported format '.xyz'"),
        "corrupt glb": (tmp / "bad.glb", None, "corrupt or unreadable .glb"),
        "corrupt ply": (write(tmp / "bad.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                              "end_header\n1\n"), None, "corrupt or unreadable .ply"),
        "point cloud": (write(tmp / "points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n"), None, "point cloud"),
        "no faces": (write(tmp / "empty.obj", "# nothing\n"), None, "contains no faces"),
        "nan": (write(tmp / "nan.obj", tri.replace("v 1 0 0", "v nan 0 0")), None, "NaN or infinity"),
        "inf": (write(tmp / "inf.stl", "solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"
                      "vertex inf 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid s\n"), None,
                "NaN or infinity"),
        "all degenerate": (write(tmp / "flat.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"), None,
                           "degenerate"),
        "texture missing": (write(tmp / "a.obj", tri), tmp / "none.png", "texture"),
        "texture corrupt": (write(tmp / "b.obj", tri), tmp / "garbage.png", "not an image"),
        "mtl texture missing": (write(tmp / "c.obj", "mtllib c.mtl\nusemtl m\n" + tri), None,
                                "gone.png: no such"),
        "texture without uvs": (write(tmp / "nouv.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
                                tmp / "t.png", "no UV coordinates"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "suffix", "corrupt glb", "corrupt ply", "point cloud",
                                  "no faces", "nan", "inf", "all degenerate", "texture missing",
                                  "texture corrupt", "mtl texture missing", "texture without uvs"])
def test_bad_inputs_give_one_clear_line(tmp_path, case):
    mesh_path, texture, fragment = bad_inputs(tmp_path)[case]
    with pytest.raises(Nst3dError) as info:
        load_mesh(mesh_path, texture=texture)
    assert fragment in str(info.value) and "\n" not in str(info.value)


# --- normalization ---------------------------------------------------------------------------------------

def test_normalize_is_exact():
    rng = np.random.default_rng(1)
    points = torch.from_numpy(rng.normal(size=(500, 3)) * [40.0, 7.0, 3.0] + [100.0, -20.0, 5.0]).float()
    mesh = Mesh(vertices=points, faces=torch.tensor([[0, 1, 2]]))
    out = normalize(mesh).vertices.double()
    center = (out.amin(0) + out.amax(0)) / 2
    assert center.abs().max().item() < 1e-6
    assert out.norm(dim=1).max().item() == pytest.approx(1.0, abs=1e-6)
    c, scale = normalization(points)
    assert torch.allclose(((points.double() - c) * scale), out, atol=1e-6)
    assert torch.equal(normalize(mesh).faces, mesh.faces)


def test_normalize_rejects_a_single_point():
    with pytest.raises(Nst3dError, match="zero extent"):
        normalize(Mesh(vertices=torch.ones(3, 3), faces=torch.tensor([[0, 1, 2]])))


# --- padding and coverage --------------------------------------------------------------------------------

def test_pad_texture_extends_edge_colours_and_keeps_covered_texels():
    texture = torch.rand(3, 12, 20, generator=torch.Generator().manual_seed(0))
    covered = torch.zeros(12, 20, dtype=torch.bool)
    covered[:, :8] = True
    padded = pad_texture(texture, covered, pixels=3)
    assert torch.equal(padded[:, :, :8], texture[:, :, :8])
    for col in (8, 9, 10):
        assert torch.equal(padded[:, :, col], texture[:, :, 7])
    assert torch.equal(padded[:, :, 11:], texture[:, :, 11:])
    assert torch.equal(pad_texture(texture[None], covered, 3)[0], padded)  # batched form


def test_coverage_includes_every_texel_bilinear_sampling_reads():
    uvs = torch.tensor([[0.21, 0.13], [0.83, 0.32], [0.37, 0.91]])
    face = torch.tensor([[0, 1, 2]])
    mesh = Mesh(vertices=torch.eye(3), faces=face, uvs=uvs, face_uvs=face)
    size = 40
    mask = uv_coverage_mask(mesh, (size, size))
    weights = torch.distributions.Dirichlet(torch.ones(3)).sample((4000,))
    uv = weights @ mesh.uvs  # (N, 2) points inside the triangle
    x, y = uv[:, 0] * size - 0.5, (1 - uv[:, 1]) * size - 0.5  # continuous texel coordinates
    for dx in (0, 1):
        for dy in (0, 1):
            assert mask[(y.floor().long() + dy), (x.floor().long() + dx)].all()
    area_texels = uv_areas(mesh).item() * size * size
    assert mask.sum().item() < area_texels * 1.6  # conservative, not wasteful


# --- export ----------------------------------------------------------------------------------------------

def textured_torus() -> tuple[Mesh, torch.Tensor]:
    texture = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2))
    return torus(rows=12, cols=24), texture


def test_obj_round_trip_keeps_faces_uvs_and_texture(tmp_path):
    mesh, texture = textured_torus()
    obj = export_obj(mesh, texture, tmp_path / "mesh.obj", texture_name="texture.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.mtl", "mesh.obj", "texture.png"]
    text = obj.read_text()
    assert "mtllib mesh.mtl\n" in text and "usemtl " in text and "\nvt " in text
    assert "map_Kd texture.png" in (tmp_path / "mesh.mtl").read_text()
    back = load_mesh(obj)
    for field in ("vertices", "faces", "uvs", "face_uvs"):
        assert torch.equal(getattr(back, field), getattr(mesh, field)), field
    assert torch.equal(back.texture, expected_export(mesh, texture))
    covered = uv_coverage_mask(mesh, (64, 64))
    assert (back.texture - texture)[:, covered].abs().max() <= 0.5 / 255 + 1e-6
    plain = trimesh.load(obj, process=False)  # any OBJ reader: same triangles, the texture attached
    assert len(plain.faces) == mesh.num_faces and plain.visual.material.image.size == (64, 64)


def test_glb_round_trip_keeps_faces_uvs_and_embedded_texture(tmp_path):
    mesh, texture = textured_torus()
    back = load_mesh(export_glb(mesh, texture, tmp_path / "mesh.glb"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.glb"]
    for field in ("vertices", "faces", "face_uvs"):
        assert torch.equal(getattr(back, field), getattr(mesh, field)), field
    assert (back.uvs - mesh.uvs).abs().max() < 1e-6
    assert torch.equal(back.texture, expected_export(mesh, texture))


def test_spot_round_trip_through_obj_and_glb(tmp_path):
    spot = load_mesh(shared_data("meshes", "spot", "spot_triangulated.obj"),
                     texture=shared_data("meshes", "spot", "spot_texture.png"))
    expected = expected_export(spot, spot.texture)
    for back in (load_mesh(export_obj(spot, None, tmp_path / "spot.obj")),
                 load_mesh(export_glb(spot, None, tmp_path / "spot.glb"))):
        assert torch.equal(back.faces, spot.faces) and torch.equal(back.face_uvs, spot.face_uvs)
        assert torch.equal(back.vertices, spot.vertices) and (back.uvs - spot.uvs).abs().max() < 1e-6
        assert torch.equal(back.texture, expected)


def test_untextured_export_writes_obj_only(tmp_path):
    sphere = uv_sphere(rows=8, cols=16)
    back = load_mesh(export_obj(sphere, None, tmp_path / "sphere.obj"))
    assert [p.name for p in tmp_path.iterdir()] == ["sphere.obj"]
    assert back.texture is None and torch.equal(back.face_uvs, sphere.face_uvs)
    assert torch.equal(back.uvs, sphere.uvs) and torch.equal(back.faces, sphere.faces)


def test_export_refuses_bad_names_and_leaves_nothing(tmp_path):
    mesh, texture = textured_torus()
    with pytest.raises(Nst3dError, match="plain .png file name"):
        export_obj(mesh, texture, tmp_path / "mesh.obj", texture_name="my texture.png")
    with pytest.raises(Nst3dError, match="without UV"):
        export_glb(Mesh(vertices=mesh.vertices, faces=mesh.faces), texture, tmp_path / "mesh.glb")
    assert list(tmp_path.iterdir()) == []


# --- sample meshes ---------------------------------------------------------------------------------------

def test_sample_meshes_are_small_load_and_regenerate_identically(tmp_path):
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["blob.obj", "rounded_cube.obj", "sphere.obj", "torus.mtl", "torus.obj", "torus.png"]
    for name in names:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
        assert (SAMPLES / name).stat().st_size < 300_000
    torus_mesh = load_mesh(SAMPLES / "torus.obj")
    assert torus_mesh.texture.shape == (3, 256, 256)
    for name in ("blob.obj", "rounded_cube.obj", "sphere.obj"):
        mesh = load_mesh(SAMPLES / name)
        assert mesh.texture is None and mesh.uvs is not None and mesh.num_faces > 1000
