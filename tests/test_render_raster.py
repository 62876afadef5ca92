"""Rasterization against known answers: silhouettes, occlusion, near plane, cracks, batching, chunking."""

import math

import pytest
import torch
from render_meshes import grid, icosphere, quad

from nst3d.mesh import Mesh
from nst3d.render.camera import NEAR, orbit_cameras, pixel_centers, project
from nst3d.render.raster import rasterize


def raster(mesh, cams, size, **kwargs):
    return rasterize(project(mesh.vertices, cams), mesh.faces, size, **kwargs)


def test_sphere_silhouette_matches_the_projected_disk():
    size, distance, fov = 256, 3.0, 40.0
    frags = raster(icosphere(5), orbit_cameras(distance, 20.0, 30.0, fov), size)
    radius_px = math.tan(math.asin(1 / distance)) / math.tan(math.radians(fov / 2)) * size / 2
    area = (frags.face_id >= 0).sum().item()
    assert area == pytest.approx(math.pi * radius_px**2, rel=0.01)
    rows, cols = torch.nonzero(frags.face_id[0] >= 0, as_tuple=True)
    assert rows.float().mean() == pytest.approx(size / 2 - 0.5, abs=0.5)   # centered
    assert cols.float().mean() == pytest.approx(size / 2 - 0.5, abs=0.5)


def test_nearer_triangle_wins_and_face_order_does_not_matter():
    vertices = torch.tensor([[-0.8, -0.6, 0.0], [0.8, -0.6, 0.0], [0.0, 0.9, 0.0],       # far, face 0
                             [-0.9, 0.5, 0.4], [0.7, 0.7, 0.4], [0.1, -0.9, 0.4]])      # near, face 1
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    clip = project(vertices, orbit_cameras(2.5, 0.0, 0.0))
    both = rasterize(clip, faces, 64).face_id
    swapped = rasterize(clip, faces.flip(0), 64).face_id
    far_alone = rasterize(clip, faces[:1], 64).face_id >= 0
    near_alone = rasterize(clip, faces[1:], 64).face_id >= 0
    assert (far_alone & near_alone).sum() > 300                             # they do overlap
    assert (both[near_alone] == 1).all() and (both[far_alone & ~near_alone] == 0).all()
    assert (both[~near_alone & ~far_alone] == -1).all()
    assert torch.equal(torch.where(swapped >= 0, 1 - swapped, -1), both)


def test_equal_depths_go_to_the_lower_face_id():
    mesh = quad()
    faces = torch.cat([mesh.faces, mesh.faces])                             # 0,1 and their twins 2,3
    face_id = rasterize(project(mesh.vertices, orbit_cameras(3.0, 0.0, 0.0)), faces, 32).face_id
    assert set(face_id.unique().tolist()) == {-1, 0, 1}


def _coverage_counts(clip, faces, size):
    """How many faces cover each pixel, rasterizing them one at a time."""
    return sum((rasterize(clip, faces[i:i + 1], size).face_id >= 0).long() for i in range(len(faces)))


def test_edges_through_pixel_centers_are_covered_exactly_once():
    # clip space with w = 1: grid vertices sit exactly on pixel centers, so every edge (horizontal,
    # vertical, diagonal) and every vertex of a fan passes through pixel centers: the top-left rule decides.
    size, ticks = 16, torch.tensor([1, 4, 7, 10, 14])
    ndc = pixel_centers(size, "x")[ticks]
    mesh = grid(len(ticks) - 1)
    n = len(ticks)
    xy = torch.stack(torch.meshgrid(ndc, ndc, indexing="ij")[::-1], -1).reshape(-1, 2)
    clip = torch.cat([xy, torch.zeros(n * n, 1), torch.ones(n * n, 1)], dim=1)[None]
    counts = _coverage_counts(clip, mesh.faces, size)[0]
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[2:14, 2:14] = True                                               # strictly inside the outline
    assert counts.max() == 1                                                 # no double coverage
    assert (counts[inside] == 1).all()                                       # no cracks
    assert torch.equal(rasterize(clip, mesh.faces, size).face_id[0] >= 0, counts == 1)


def test_jittered_mesh_in_perspective_has_no_cracks_or_overlaps():
    mesh = grid(6, jitter=0.35, seed=1)
    fov = 2 * math.degrees(math.atan(1 / 2.5))
    clip = project(mesh.vertices, orbit_cameras(3.0, 0.0, 0.0, fov))
    size = 48
    counts = _coverage_counts(clip, mesh.faces, size)[0]
    extent = 2.5 / 3.0                                                       # NDC half-width of the square
    x, y = pixel_centers(size, "x"), pixel_centers(size, "y")
    inside = (x.abs()[None, :] < extent - 0.02) & (y.abs()[:, None] < extent - 0.02)
    outside = (x.abs()[None, :] > extent + 0.02) | (y.abs()[:, None] > extent + 0.02)
    assert counts.max() == 1 and (counts[inside] == 1).all() and (counts[outside] == 0).all()


def _ray_cast(triangle, distance, fov, size):
    """Exact coverage and view depth of one triangle for the camera at (0, 0, distance) looking down -Z."""
    tan = math.tan(math.radians(fov / 2))
    x, y = pixel_centers(size, "x").double() * tan, pixel_centers(size, "y").double() * tan
    rays = torch.stack(torch.broadcast_tensors(x[None, :], y[:, None], torch.tensor(-1.0).double()), -1)
    a, b, c = triangle.double()
    eye = torch.tensor([0, 0, distance]).double()
    # solve eye + t ray = a + s (b - a) + r (c - a) per pixel
    system = torch.stack([rays, (a - b).expand_as(rays), (a - c).expand_as(rays)], dim=-1)  # (H, W, 3, 3)
    t, s, r = torch.linalg.solve(system, (a - eye).expand_as(rays)).unbind(-1)
    return (t > 0) & (s >= 0) & (r >= 0) & (s + r <= 1), t


def test_floor_reaching_behind_the_camera_is_rasterized_exactly():
    # a huge floor triangle at y = -0.5 with two corners behind the camera at (0, 0, 3) looking down -Z
    vertices = torch.tensor([[-50.0, -0.5, 50.0], [50.0, -0.5, 50.0], [0.0, -0.5, -50.0]])
    fov, size = 60.0, 48
    frags = raster(Mesh(vertices, torch.tensor([[0, 1, 2]])), orbit_cameras(3.0, 0.0, 0.0, fov), size)
    inside, t = _ray_cast(vertices, 3.0, fov, size)
    assert inside.sum() > 800 and torch.equal(frags.face_id[0] >= 0, inside)
    assert torch.allclose(frags.depth[0][inside].double(), t[inside], rtol=1e-4)
    # perspective-correct barycentrics put the interpolated point on the pixel's ray
    point = torch.einsum("hwk,kc->hwc", frags.bary[0].double(), vertices.double())[inside]
    assert torch.allclose(point[:, 1], torch.full_like(point[:, 1], -0.5), atol=1e-5)
    assert torch.allclose(point[:, 2], 3.0 - t[inside], rtol=1e-4, atol=1e-4)
    behind = raster(Mesh(vertices + torch.tensor([0, 0, 60.0]), torch.tensor([[0, 1, 2]])),
                    orbit_cameras(3.0, 0.0, 0.0, fov), size)
    assert (behind.face_id == -1).all()


def test_the_part_in_front_of_the_near_plane_is_cut_away():
    # a triangle from depth 0.004 (closer than the near plane) to depth 1.5; the cut runs diagonally
    # across the screen, so the bounding box of the part behind the near plane does not do the clipping
    vertices = torch.tensor([[-0.003, -0.002, 3.0 - 0.004], [0.3, -0.25, 1.5], [-0.3, 0.3, 1.5]])
    fov, size = 60.0, 64
    frags = raster(Mesh(vertices, torch.tensor([[0, 1, 2]])), orbit_cameras(3.0, 0.0, 0.0, fov), size)
    inside, t = _ray_cast(vertices, 3.0, fov, size)
    visible = inside & (t >= NEAR)
    assert (inside & ~visible).sum() > 50 and visible.sum() > 50
    assert (frags.face_id[0] >= 0).ne(visible).sum() <= 2   # pixel centers right on the cut may differ
    assert (frags.depth[0][frags.face_id[0] >= 0] >= NEAR * (1 - 1e-5)).all()


def test_back_faces_are_visible_and_degenerate_faces_skipped():
    nan = float("nan")
    vertices = torch.tensor([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0, 0.5, 0],
                             [0.2, 0.2, 0.1], [0.4, 0.4, 0.1], [0.3, 0.3, 0.1], [nan, 0, 0],
                             [0, -0.3, 0], [0, 0.3, 0], [0, 0, 0.5]])
    faces = torch.tensor([[0, 2, 1],            # clockwise: its back is seen
                          [3, 3, 4],            # a repeated corner
                          [3, 5, 4],            # collinear corners
                          [0, 1, 6],            # a NaN corner
                          [7, 8, 9]])           # in the plane x = 0, which holds the eye: seen edge-on
    clip = project(vertices, orbit_cameras(2.0, 0.0, 0.0))
    frags = rasterize(clip, faces, 32)
    assert set(frags.face_id.unique().tolist()) == {-1, 0}
    front = rasterize(clip, faces[:1, [0, 1, 2]], 32)
    assert torch.equal(front.face_id, frags.face_id)
    empty = rasterize(clip, faces[:0], 8)
    assert (empty.face_id == -1).all() and (empty.depth == 0).all()


def test_batched_views_equal_one_by_one_and_chunking_changes_nothing():
    mesh = icosphere(3)
    cams = orbit_cameras(torch.tensor([2.5, 3.0, 2.2]), torch.tensor([10.0, -30.0, 80.0]),
                         torch.tensor([0.0, 120.0, 250.0]))
    clip = project(mesh.vertices, cams)
    batched = rasterize(clip, mesh.faces, (40, 56), derivatives=True)
    chunked = rasterize(clip, mesh.faces, (40, 56), derivatives=True, max_candidates=200)
    for b in range(3):
        single = rasterize(clip[b:b + 1], mesh.faces, (40, 56), derivatives=True)
        for got, want in zip(batched, single, strict=True):
            assert torch.equal(got[b:b + 1], want)
    for got, want in zip(batched, chunked, strict=True):
        assert torch.equal(got, want)


def test_big_faces_fill_the_screen_in_small_chunks():
    frags = raster(quad(), orbit_cameras(0.5, 0.0, 0.0), 64, max_candidates=100)
    assert (frags.face_id >= 0).all()
    assert torch.allclose(frags.bary.sum(-1), torch.ones(1, 64, 64))
    assert (frags.bary >= 0).all()


def test_barycentric_derivatives_match_finite_differences():
    mesh = quad()
    frags = raster(mesh, orbit_cameras(2.0, 35.0, 50.0, 60.0), 64, derivatives=True)
    face, bary = frags.face_id[0], frags.bary[0].double()
    same = (face[:, 2:] == face[:, :-2]) & (face[:, 1:-1] == face[:, 2:]) & (face[:, 1:-1] >= 0)
    central = (bary[:, 2:] - bary[:, :-2]) / 2                              # d bary / d column
    assert same.sum() > 500
    assert torch.allclose(central[same], frags.bary_da[0, :, 1:-1, :, 0][same].double(), atol=2e-4)
    same = (face[2:] == face[:-2]) & (face[1:-1] == face[2:]) & (face[1:-1] >= 0)
    central = (bary[2:] - bary[:-2]) / 2                                    # d bary / d row
    assert torch.allclose(central[same], frags.bary_da[0, 1:-1, :, :, 1][same].double(), atol=2e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_agrees_with_cpu():
    mesh = icosphere(4)
    cams = orbit_cameras(2.6, torch.tensor([15.0, -20.0]), torch.tensor([30.0, 200.0]))
    clip = project(mesh.vertices, cams)
    cpu = rasterize(clip, mesh.faces, 128, derivatives=True)
    gpu = rasterize(clip.cuda(), mesh.faces.cuda(), 128, derivatives=True)
    same = cpu.face_id == gpu.face_id.cpu()
    assert same.float().mean() > 0.999
    assert torch.allclose(cpu.bary[same], gpu.bary.cpu()[same], atol=1e-5)
    assert torch.allclose(cpu.depth[same], gpu.depth.cpu()[same], rtol=1e-5)
