"""Cameras: look-at geometry, conventions (+Y up, azimuth 0 on +Z, NDC x right / y up), view samplers."""

import math

import pytest
import torch

from nst3d.render.camera import (
    NEAR,
    camera_axes,
    orbit_cameras,
    pixel_centers,
    project,
    random_views,
    turntable_views,
)


def test_eye_positions_follow_the_documented_formula():
    cams = orbit_cameras(2.0, torch.tensor([0.0, 0.0, 90.0, 30.0]), torch.tensor([0.0, 90.0, 0.0, 45.0]))
    el, az = math.radians(30), math.radians(45)
    last = [2 * math.cos(el) * math.sin(az), 2 * math.sin(el), 2 * math.cos(el) * math.cos(az)]
    expected = torch.tensor([[0, 0, 2.0], [2.0, 0, 0], [0, 2.0, 0], last])
    assert torch.allclose(cams.eye, expected, atol=1e-6)
    assert cams.world_to_clip.shape == (4, 4, 4) and torch.isfinite(cams.world_to_clip).all()


def test_projection_axes_and_depth():
    cams = orbit_cameras(3.0, 0.0, 0.0, fov=90.0)
    points = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 2.0]])
    clip = project(points, cams)[0]                                         # (4, 4)
    ndc = clip[:, :2] / clip[:, 3:]
    assert torch.allclose(clip[:, 3], torch.tensor([3.0, 3.0, 3.0, 1.0]))  # w = depth along the view axis
    assert torch.allclose(ndc[0], torch.zeros(2), atol=1e-6)
    assert torch.allclose(ndc[1], torch.tensor([1 / 3, 0.0]), atol=1e-6)   # +X is to the right
    assert torch.allclose(ndc[2], torch.tensor([0.0, 1 / 3]), atol=1e-6)   # +Y is up
    near_point = project(torch.tensor([[0, 0, 3.0 - NEAR]]), cams)[0, 0]
    assert near_point[2] / near_point[3] == pytest.approx(-1.0, abs=1e-4)  # near plane at z_ndc = -1


def test_camera_axes_are_orthonormal_and_look_at_the_origin():
    cams = orbit_cameras(2.5, torch.tensor([-89.0, 0.0, 45.0, 90.0]), torch.tensor([10.0, 200.0, 300.0, 0.0]))
    right, up, forward = camera_axes(cams)
    for u, v in [(right, up), (up, forward), (right, forward)]:
        assert torch.allclose((u * v).sum(-1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(forward, -cams.eye / cams.eye.norm(dim=-1, keepdim=True), atol=1e-5)
    assert (up[:3, 1] > 0).all()                                            # +Y up unless straight above


def test_pixel_centers_row_zero_is_the_top():
    assert torch.allclose(pixel_centers(4, "x"), torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(pixel_centers(4, "y"), torch.tensor([0.75, 0.25, -0.25, -0.75]))


def test_random_views_are_reproducible_and_in_range():
    a = random_views(64, torch.Generator().manual_seed(3))
    b = random_views(64, torch.Generator().manual_seed(3))
    assert torch.equal(a.world_to_clip, b.world_to_clip)
    distance = a.eye.norm(dim=-1)
    elevation = torch.rad2deg(torch.asin(a.eye[:, 1] / distance))
    assert ((distance >= 2.5 - 1e-5) & (distance <= 3.0 + 1e-5)).all()
    assert ((elevation >= -15.0 - 1e-3) & (elevation <= 45.0 + 1e-3)).all()
    azimuth = torch.rad2deg(torch.atan2(a.eye[:, 0], a.eye[:, 2])) % 360
    # a Latin hypercube: exactly one view in each 1/64 slice of the turn, of the elevations, of the distances
    for values, low, high in ((azimuth, 0.0, 360.0), (elevation, -15.0, 45.0), (distance, 2.5, 3.0)):
        slices = ((values - low) / (high - low) * 64).floor().long().clamp(0, 63)
        assert torch.equal(slices.sort().values, torch.arange(64))


def test_turntable_views_turn_once_from_the_front():
    cams = turntable_views(8, elevation=0.0, distance=2.0)
    assert torch.allclose(cams.eye[0], torch.tensor([0.0, 0.0, 2.0]), atol=1e-6)
    azimuth = torch.rad2deg(torch.atan2(cams.eye[:, 0], cams.eye[:, 2])) % 360
    assert torch.allclose(azimuth, torch.arange(8) * 45.0, atol=1e-3)
