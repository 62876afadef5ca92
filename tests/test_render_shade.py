"""Shading against known answers: texture lookup and orientation, gradients, mip-maps, light, compositing."""

import math

import torch
import torch.nn.functional as F
from render_meshes import icosphere, quad

from nst3d.mesh import Mesh
from nst3d.render.camera import orbit_cameras
from nst3d.render.raster import rasterize
from nst3d.render.shade import interpolate, rasterize_mesh, render, sample_texture, shade, uv_derivatives

HEAD_ON_FOV = 2 * math.degrees(math.atan(1 / 3))   # from distance 3 the unit quad exactly fills the image
HEAD_ON = orbit_cameras(3.0, 0.0, 0.0, HEAD_ON_FOV)


def sample_texture_lod(mesh, cams, size, texture):
    """The mip level each pixel's footprint selects (before clamping), for covered pixels."""
    frags = rasterize_mesh(mesh, cams, size)
    uv_da = uv_derivatives(mesh.uvs, mesh.face_uvs, frags)
    scale = torch.tensor(texture.shape[-2:][::-1], dtype=torch.float32)[:, None]
    return (uv_da * scale).norm(dim=-2).amax(dim=-1).log2()[frags.face_id >= 0]


def bilinear_reference(texture, u, v):
    """Independent bilinear lookup (texel centers at (j + 0.5) / T, v up, clamped at the border)."""
    channels, height, width = texture.shape
    col = (u * width - 0.5).clamp(0, width - 1)
    row = ((1 - v) * height - 0.5).clamp(0, height - 1)
    c0, r0 = col.floor().long().clamp(max=width - 2), row.floor().long().clamp(max=height - 2)
    fc, fr = col - c0, row - r0
    t = texture.double()
    return ((1 - fr) * ((1 - fc) * t[:, r0, c0] + fc * t[:, r0, c0 + 1])
            + fr * ((1 - fc) * t[:, r0 + 1, c0] + fc * t[:, r0 + 1, c0 + 1]))


def test_head_on_quad_shows_the_texture_bilinearly():
    texture = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    size = 36
    for mipmap in (False, True):
        rgb, mask = render(quad(texture), HEAD_ON, size, mipmap=mipmap)
        assert (mask == 1).all()
        centers = (torch.arange(size).double() + 0.5) / size
        u, v = centers[None, :], 1 - centers[:, None]                        # pixel (r, c) sees this (u, v)
        expected = bilinear_reference(texture, u.expand(size, size), v.expand(size, size))
        inner = slice(2, size - 2)
        assert (rgb[0][:, inner, inner].double() - expected[:, inner, inner]).abs().max() < 1 / 255


def test_texture_orientation_v_up_and_u_right():
    texture = torch.zeros(3, 4, 4)
    texture[0, 0, :] = 1                    # top texel row red
    texture[1, :, 0] = 1                    # left texel column green
    rgb, _ = render(quad(texture), HEAD_ON, 16, mipmap=False)
    assert (rgb[0, 0, :2, 4:] > 0.99).all() and (rgb[0, 0, -2:] < 0.01).all()     # red on top
    assert (rgb[0, 1, 4:, :2] > 0.99).all() and (rgb[0, 1, :, -2:] < 0.01).all()  # green on the left


def test_render_gradient_wrt_texture_is_exact():
    mesh = quad()
    texture = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                         requires_grad=True)
    near = orbit_cameras(3.0, 20.0, 30.0, HEAD_ON_FOV * 1.3)               # magnified: bilinear
    far = orbit_cameras(torch.tensor([5.0, 6.0]), torch.tensor([50.0, -40.0]), torch.tensor([10.0, 200.0]))
    lod = sample_texture_lod(mesh, far, 6, texture)
    assert ((lod > 0.2) & (lod % 1 > 0.1) & (lod % 1 < 0.9)).sum() > 4     # minified: mip levels are blended
    cases = [(near, False, False, 1), (far, True, True, 1), (far, True, False, 2)]
    for cams, mipmap, lit, supersample in cases:
        frags = rasterize_mesh(mesh, cams, 6, supersample)                 # rasterization has no gradient

        def run(tex, cams=cams, frags=frags, mipmap=mipmap, lit=lit, supersample=supersample):
            return shade(mesh, cams, frags, tex, lit=lit, mipmap=mipmap, supersample=supersample)[0]

        assert torch.autograd.gradcheck(run, (texture,), eps=1e-6, atol=1e-8, fast_mode=True)


def test_mipmapping_averages_a_minified_checkerboard():
    checker = ((torch.arange(256)[:, None] + torch.arange(256)[None, :]) % 2).float()
    texture = checker.expand(3, 256, 256)
    rgb_mip, mask = render(quad(texture), HEAD_ON, 15, mipmap=True)
    rgb_plain, _ = render(quad(texture), HEAD_ON, 15, mipmap=False)
    assert (mask == 1).all()
    assert (rgb_mip - 0.5).abs().max() < 0.02                  # ~17 x 17 texels per pixel -> their mean
    assert (rgb_plain - 0.5).abs().max() > 0.3                  # plain bilinear aliases


def test_supersampling_antialiases_the_silhouette():
    texture = torch.ones(3, 4, 4)
    _, hard = render(quad(texture), orbit_cameras(6.0, 0.0, 0.0, HEAD_ON_FOV), 15)
    _, soft = render(quad(texture), orbit_cameras(6.0, 0.0, 0.0, HEAD_ON_FOV), 15, supersample=4)
    # the quad spans half the image width: 7.5 pixels, edges through pixel middles
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    assert soft.sum() == torch.tensor(7.5 * 7.5) and ((soft > 0) & (soft < 1)).any()


def test_background_color_and_transparency():
    mesh = quad(torch.full((3, 4, 4), 0.25))
    cams = orbit_cameras(6.0, 0.0, 0.0, HEAD_ON_FOV)
    rgb, mask = render(mesh, cams, 16, background=(0.0, 1.0, 0.0))
    clear, clear_mask = render(mesh, cams, 16, background=None)
    assert torch.equal(mask, clear_mask)
    assert torch.allclose(rgb[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(rgb[0, :, 8, 8], torch.full((3,), 0.25))
    assert (clear[mask.expand_as(clear) == 0] == 0).all()
    assert torch.allclose(clear * mask + torch.tensor([0.0, 1.0, 0.0])[:, None, None] * (1 - mask), rgb)


def test_lit_sphere_is_brightest_toward_the_upper_left_light():
    rgb, mask = render(icosphere(3), orbit_cameras(3.0, 0.0, 0.0), 64, lit=True, background=(0, 0, 0))
    gray = rgb[0, 0]
    row, col = divmod(gray.argmax().item(), 64)
    assert row < 28 and col < 28                                  # upper left of the center
    lit = gray[mask[0, 0] > 0]
    assert lit.min() >= 0.3 * 0.75 - 1e-4 and lit.max() <= 0.75 + 1e-4  # ambient..full times gray albedo


def test_back_faces_are_lit_like_front_faces():
    mesh = quad(torch.ones(3, 4, 4))
    flipped = Mesh(mesh.vertices, mesh.faces.flip(1), mesh.uvs, mesh.face_uvs.flip(1), mesh.texture)
    cams = orbit_cameras(4.0, 10.0, 20.0)
    front, _ = render(mesh, cams, 24, lit=True)
    back, _ = render(flipped, cams, 24, lit=True)
    assert torch.allclose(front, back, atol=1e-6)
    behind, _ = render(mesh, orbit_cameras(4.0, 10.0, 200.0), 24, lit=True)
    assert behind.min() < 0.9                                      # the back is drawn, lit


def test_batched_views_equal_one_by_one_renders():
    texture = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    mesh = quad()
    cams = orbit_cameras(torch.tensor([3.0, 5.0, 4.0]), torch.tensor([0.0, 30.0, -50.0]),
                         torch.tensor([0.0, 45.0, 160.0]))
    rgb, mask = render(mesh, cams, 20, texture=texture, lit=True, supersample=2)
    for b in range(3):
        single_cam = type(cams)(cams.world_to_clip[b:b + 1], cams.eye[b:b + 1])
        one, one_mask = render(mesh, single_cam, 20, texture=texture, lit=True, supersample=2)
        assert torch.allclose(rgb[b:b + 1], one, atol=1e-6) and torch.equal(mask[b:b + 1], one_mask)
    per_view = render(mesh, cams, 20, texture=texture.expand(3, -1, -1, -1), lit=True, supersample=2)[0]
    assert torch.allclose(per_view, rgb, atol=1e-6)


def test_interpolate_handles_per_view_attributes():
    mesh = quad()
    clip = torch.tensor([[-1, -1, 0, 1], [1, -1, 0, 1], [1, 1, 0, 1], [-1, 1, 0, 1.0]]).expand(2, 4, 4)
    frags = rasterize(clip, mesh.faces, 8)
    attr = torch.arange(2 * 4 * 2, dtype=torch.float32).view(2, 4, 2)
    out = interpolate(attr, mesh.faces, frags)
    assert torch.allclose(out[1], interpolate(attr[1], mesh.faces, frags)[1])
    assert torch.allclose(out[0], interpolate(attr[0], mesh.faces, frags)[0])


def test_sample_texture_follows_the_grid_sample_convention():
    gen = torch.Generator().manual_seed(4)
    texture = torch.rand(2, 3, 5, 7, generator=gen)
    uv = torch.rand(2, 4, 6, 2, generator=gen) * 1.4 - 0.2                  # also outside [0, 1]: border
    grid = torch.stack([2 * uv[..., 0] - 1, 1 - 2 * uv[..., 1]], dim=-1)
    options = {"mode": "bilinear", "padding_mode": "border", "align_corners": False}
    assert torch.allclose(sample_texture(texture, uv), F.grid_sample(texture, grid, **options), atol=1e-6)
    shared = F.grid_sample(texture[:1].expand(2, -1, -1, -1), grid, **options)
    assert torch.allclose(sample_texture(texture[:1], uv), shared, atol=1e-6)
