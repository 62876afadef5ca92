"""Texture parameterizations for optimizing a UV texture from renders.

A texel is hit by few pixels of a few views, so per-texel parameters get sparse, noisy gradients and
barely move. A Laplacian-pyramid parameterization (levels each half the size of the previous; from the
coarsest, each partial sum is upsampled 2x and added to the next finer level) lets coarse levels move
whole regions at once while fine levels add detail; `levels=1` is the plain per-texel parameterization.
The cascade costs one full-size upsampling a step instead of one per level (its backward was the
largest part of the texture's own cost at 512²), and a coarse texel spreads as a smooth bump rather
than a bilinear tent with creases on its grid. Values live in logit space so the texture stays in (0, 1)
with no clamping that would zero gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_EPS = 1e-2   # a start texel at 0 or 1 sits where sigmoid is still 1% steep: it can move


class PyramidTexture(nn.Module):
    """A (1, 3, H, W) texture = sigmoid(the pyramid levels, summed coarse to fine through 2x bilinear
    upsamplings)."""

    def __init__(self, init: torch.Tensor, levels: int = 4):
        super().__init__()
        if init.dim() == 3:
            init = init[None]
        h, w = init.shape[-2:]
        levels = max(1, min(levels, 1 + int(torch.log2(torch.tensor(min(h, w) / 4.0)))))
        finest = torch.logit(init.float().clamp(LOGIT_EPS, 1 - LOGIT_EPS))  # (1, 3, H, W)
        self.levels = nn.ParameterList(
            [nn.Parameter(finest)] +
            [nn.Parameter(finest.new_zeros(1, 3, max(1, h >> i), max(1, w >> i))) for i in range(1, levels)])

    def forward(self) -> torch.Tensor:
        total = self.levels[-1]
        for level in reversed(self.levels[:-1]):  # cascaded: each sum upsampled 2x onto the next finer level
            total = level + F.interpolate(total, size=level.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(total)
