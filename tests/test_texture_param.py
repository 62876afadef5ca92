"""The texture's Laplacian-pyramid parameterization: it starts at the given texture, and a coarse level
reaches the texture through successive 2x bilinear upsamplings (smooth, no creases at its texel grid)."""

import torch
import torch.nn.functional as F

from nst3d.texture_param import LOGIT_EPS, PyramidTexture


def test_pyramid_starts_at_the_given_texture_clamped():
    init = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    init[0, 0, 0, 0], init[0, 1, 0, 0] = 0.0, 1.0
    texture = PyramidTexture(init, levels=3)()
    assert torch.allclose(texture, init.clamp(LOGIT_EPS, 1 - LOGIT_EPS), atol=1e-6)


def test_a_coarse_level_reaches_the_texture_through_cascaded_2x_upsampling():
    param = PyramidTexture(torch.full((1, 3, 32, 32), 0.5), levels=4)
    assert [tuple(level.shape[-2:]) for level in param.levels] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    coarse = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        param.levels[3].copy_(coarse)
    expected = coarse
    for size in (8, 16, 32):
        expected = F.interpolate(expected, size=(size, size), mode="bilinear", align_corners=False)
    assert torch.allclose(param(), torch.sigmoid(expected), atol=1e-6)
    param().sum().backward()
    assert all(level.grad is not None and level.grad.abs().sum() > 0 for level in param.levels)
