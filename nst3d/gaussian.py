"""Gaussian statistics: masked feature moments, the squared Wasserstein-2 distance between two Gaussians
(the `w2` style loss), and linear colour matching (`--color-match`).

Moments are per batch item: mean (B, C) and second raw moment E[x xᵀ] (B, C, C), so several styles blend
by mixing both linearly, which mixes the distributions. The W2 trace term takes the eigenvalues of
B^½ A B^½ (eigvalsh, whose backward needs no eigenvalue gaps, so repeated eigenvalues are stable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nst3d.losses import EPS, fit_mask

RIDGE = 1e-4    # ridge added to covariances, relative to the target's mean E|x|² per channel


def position_weights(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, 1, h*w) weights of the positions of (B, C, h, w), summing to one per item (the mask's share)."""
    b, _, h, w = features.shape
    if mask is None:
        return features.new_full((b, 1, h * w), 1.0 / (h * w))
    m = fit_mask(mask, features).reshape(b, 1, h * w)
    return m / m.sum(-1, keepdim=True).clamp_min(EPS)


def moments(features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean (B, C) and covariance (B, C, C) of the positions of (B, C, h, w)."""
    b, c = features.shape[:2]
    flat = features.reshape(b, c, -1)
    weights = position_weights(features, mask)
    mean = (flat * weights).sum(-1)
    centered = flat - mean[..., None]
    return mean, (centered * weights) @ centered.transpose(1, 2)


@dataclass(frozen=True)
class Gaussian:
    """A fixed target distribution: mean (1, C), covariance (1, C, C) plus `ridge` I, the square root of
    that, and the target's E|x|² (which makes the distance relative, like every other loss here)."""

    mean: torch.Tensor
    cov: torch.Tensor
    cov_sqrt: torch.Tensor
    energy: float
    ridge: float


def blend_gaussians(stats: Sequence[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[float]) -> Gaussian:
    """The Gaussian of a mixture: (mean, covariance) pairs blended in (mean, second moment) space."""
    total = float(sum(weights))
    mean = sum(w / total * m.double() for (m, _), w in zip(stats, weights, strict=True))
    second = sum(w / total * (c.double() + m.double()[..., :, None] * m.double()[..., None, :])
                 for (m, c), w in zip(stats, weights, strict=True))
    cov = second - mean[..., :, None] * mean[..., None, :]
    energy = max(float(mean.pow(2).sum() + torch.diagonal(cov, dim1=-2, dim2=-1).sum()), EPS)
    ridge = RIDGE * energy / cov.shape[-1]
    cov = cov + ridge * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    values, vectors = torch.linalg.eigh(cov)
    root = vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.mT
    return Gaussian(mean.float(), cov.float(), root.float(), energy, ridge)


def w2_squared(mean: torch.Tensor, cov: torch.Tensor, target: Gaussian) -> torch.Tensor:
    """Squared W2 distance (B,) from N(mean (B, C), cov (B, C, C)) to the target, over the target's E|x|².

    W2² = |m - mₜ|² + tr(A) + tr(T) - 2 tr((T^½ A T^½)^½), with the target's ridge added to A as to T: it
    keeps the square root's derivative finite where A is rank-deficient (fewer positions than channels).
    """
    cov = cov + target.ridge * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    root = target.cov_sqrt.to(cov)
    inner = root @ cov @ root
    inner = (inner + inner.mT) / 2
    cross = torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum(-1)
    traces = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(
        target.cov.to(cov), dim1=-2, dim2=-1).sum(-1)
    distance = (mean - target.mean.to(mean)).pow(2).sum(-1) + traces - 2 * cross
    return distance.clamp_min(0) / target.energy


def color_stats(images: Sequence[torch.Tensor], weights: Sequence[float]) -> Gaussian:
    """The blended RGB Gaussian of images (1, 3, H, W) in [0, 1]."""
    return blend_gaussians([moments(image) for image in images], weights)


def match_colors(image: torch.Tensor, target: Gaussian, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Map the colours of (B, 3, H, W) linearly so their mean and covariance (over `mask`) become the
    target's: x -> T^½ S^-½ (x - mₛ) + mₜ, clamped to [0, 1]. A flat image becomes the target's mean."""
    mean, cov = moments(image, mask)  # (B, 3), (B, 3, 3)
    values, vectors = torch.linalg.eigh(cov + RIDGE * torch.eye(3, device=cov.device))
    inverse_root = vectors @ torch.diag_embed(values.clamp_min(EPS).rsqrt()) @ vectors.mT
    transform = target.cov_sqrt.to(cov) @ inverse_root                              # (B, 3, 3)
    flat = image.flatten(2) - mean[..., None]                                       # (B, 3, H*W)
    out = transform @ flat + target.mean.to(mean)[..., None]
    return out.view_as(image).clamp(0, 1)
