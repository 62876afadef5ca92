"""Losses of neural style transfer: content (feature MSE), style (Gram matrices), total variation.

Content and style terms are *relative* errors: squared error divided by the target's squared norm. They
are therefore independent of the backbone's activation scale (Caffe 0-255 vs torchvision normalized
inputs) and of the image size, so one set of default weights works everywhere, and a value of 0.1 means
"10% off". Gram matrices are normalized by the number of (foreground) positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

EPS = 1e-8


def fit_mask(mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Resize a (B, 1, H, W) mask in [0, 1] to a feature map's spatial size by area averaging."""
    if mask.shape[-2:] != features.shape[-2:]:
        mask = F.adaptive_avg_pool2d(mask, features.shape[-2:])
    return mask.to(features.dtype)


class _Gram(torch.autograd.Function):
    """G = X Xᵀ / count for flattened features: (B, C, N) channels first, or (B, N, C) positions first
    (channels-last maps flatten so without a copy). Its backward is one product, dX = (dG + dGᵀ) X / count,
    in the layout X came in: autograd's own takes two products and adds a transposed copy of one to the
    other, slow on a CPU and a third of a mesh step's network time at 256² (measured)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, count: torch.Tensor, positions_first: bool) -> torch.Tensor:
        ctx.save_for_backward(flat, count)
        ctx.positions_first = positions_first
        return (flat.mT @ flat if positions_first else flat @ flat.mT) / count

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        flat, count = ctx.saved_tensors
        both = (grad + grad.mT) / count                                           # (B, C, C)
        return (flat @ both if ctx.positions_first else both @ flat), None, None


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix (B, C, C) of features (B, C, H, W), averaged over the (masked) positions."""
    b, c, h, w = features.shape
    if mask is None:
        count = features.new_full((b, 1, 1), float(h * w))
    else:
        m = fit_mask(mask, features)  # (B, 1, h, w)
        # Weighting by m on both sides keeps soft mask edges from dominating; m is 0/1 almost everywhere.
        features = features * m
        count = m.reshape(b, -1).sum(1).clamp_min(1.0).view(b, 1, 1)
    if c > 1 and features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        return _Gram.apply(features.permute(0, 2, 3, 1).reshape(b, h * w, c), count, True)
    return _Gram.apply(features.reshape(b, c, h * w), count, False)


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error over the target's squared norm, per batch item -> (B,)."""
    dims = tuple(range(1, value.dim()))
    return (value - target).pow(2).sum(dims) / target.pow(2).sum(dims).clamp_min(EPS)


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-layer relative feature error, each (B,); a mask restricts it to the foreground."""
    losses = {}
    for name, target in targets.items():
        value = features[name]
        if mask is not None:
            m = fit_mask(mask, value)
            value, target = value * m, target * m
        losses[name] = relative_error(value, target)
    return losses


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-layer relative Gram error, each (B,), optionally masked (style_distance weighs the layers)."""
    losses = {}
    for name, target in target_grams.items():
        losses[name] = relative_error(gram(features[name], mask), target.expand(
            features[name].shape[0], -1, -1))
    return losses


def tv_loss(image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels of (B, C, H, W), per batch item -> (B,).

    With a `mask` (B, 1, H, W) in [0, 1], only pairs of fully covered pixels count, so on renders the
    silhouette (object against background, fractional when supersampled) is not smoothed, only the surface.
    """
    total = image.new_zeros(image.shape[0])
    inside = None if mask is None else (mask > 0.999).to(image.dtype)                # (B, 1, H, W)
    for dim in (-1, -2):
        length = image.shape[dim] - 1
        diff = (image.narrow(dim, 1, length) - image.narrow(dim, 0, length)).pow(2)
        if inside is None:
            total = total + diff.mean((1, 2, 3))
        else:
            pairs = inside.narrow(dim, 1, length) * inside.narrow(dim, 0, length)  # (B, 1, h, w)
            count = pairs.sum((1, 2, 3)).clamp(min=1e-8) * image.shape[1]
            total = total + (diff * pairs).sum((1, 2, 3)) / count
    return total


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]],
                weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Mix several styles' Gram targets with blend weights (normalized to sum to one)."""
    total = float(sum(weights))
    return {name: sum(w / total * g[name] for g, w in zip(grams, weights, strict=True))
            for name in grams[0]}
