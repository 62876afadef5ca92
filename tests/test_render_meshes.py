"""Real meshes from ../shared/data render to non-empty, centered silhouettes (skipped without the data)."""

import pytest
import torch
from conftest import shared_data

from nst3d.mesh import load_mesh, normalize
from nst3d.render import render, turntable_views


@pytest.mark.parametrize(("folder", "name", "texture"), [
    ("spot", "spot_triangulated.obj", "spot_texture.png"),   # textured, no .mtl: texture given
    ("teapot", "teapot.obj", None),                          # quads, texture from its .mtl
    ("blub", "fish.obj", None),                              # no UVs: atlas from xatlas, no texture
])
def test_real_meshes_render_to_centered_silhouettes(folder, name, texture):
    texture_path = shared_data("meshes", folder, texture) if texture else None
    mesh = normalize(load_mesh(shared_data("meshes", folder, name), texture=texture_path))
    size = 96
    rgb, mask = render(mesh, turntable_views(4), size, lit=True, supersample=2)
    assert rgb.shape == (4, 3, size, size) and torch.isfinite(rgb).all()
    assert ((rgb >= 0) & (rgb <= 1)).all()
    coverage = mask.mean(dim=(1, 2, 3))
    assert ((coverage > 0.05) & (coverage < 0.8)).all()
    grid = (torch.arange(size) + 0.5) / size
    weight = mask[:, 0] / mask[:, 0].sum(dim=(1, 2), keepdim=True)
    center_x = (weight * grid[None, None, :]).sum(dim=(1, 2))
    center_y = (weight * grid[None, :, None]).sum(dim=(1, 2))
    assert ((center_x - 0.5).abs() < 0.15).all() and ((center_y - 0.5).abs() < 0.15).all()
    foreground = rgb.permute(0, 2, 3, 1)[mask[:, 0] == 1]
    assert foreground.std(dim=0).max() > 0.05                # shading and texture show, not a flat fill
