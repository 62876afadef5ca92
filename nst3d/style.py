"""The style core both pipelines use: the feature net, style targets, and the weighted loss terms.

`load_feature_net` builds VGG for the layers an options object asks for; `gram_targets` turns one or more
style images into blended Gram targets; `StyleLoss` scores features against those targets (and against
content targets) and returns the weighted total with every named term. Images are (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nst3d import features as feats
from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.options import StyleOptions
from nst3d.runtime import fast_bf16

LayerWeights = dict[str, float]


def parse_weighted_layers(spec: str | Sequence[str], arch: str) -> LayerWeights:
    """'relu1_1,relu2_1:0.5' -> {layer: weight}; a layer without ':w' has weight 1."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    weighted: LayerWeights = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise Nst3dError(f"bad layer weight in {item!r}: expected name:number") from None
        if not math.isfinite(value) or value < 0:
            raise Nst3dError(f"bad layer weight in {item!r}: must be a finite number >= 0")
        weighted[feats.canonical_layer(name, arch)] = value
    if not weighted:
        raise Nst3dError("no layers given")
    if sum(weighted.values()) <= 0:
        raise Nst3dError(f"layer weights in {spec!r} are all zero")
    return weighted


@dataclass(frozen=True)
class FeatureSetup:
    """The feature net and the parsed layer weights of a run (content layers empty when unused)."""

    net: feats.FeatureNet
    style_layers: LayerWeights
    content_layers: LayerWeights


def load_feature_net(options: StyleOptions, device: torch.device, use_content: bool,
                     use_style: bool = True) -> FeatureSetup:
    """Load the backbone, parse the layers and cut VGG after the deepest one any term needs."""
    bone = feats.load_backbone(options.backbone, options.weights)
    style_w = parse_weighted_layers(options.style_layers, bone.arch) if use_style else {}
    content_w = parse_weighted_layers(options.content_layers, bone.arch) if use_content else {}
    net = feats.FeatureNet(bone, list(style_w) + list(content_w), bf16=fast_bf16(device)).to(device)
    return FeatureSetup(net, style_w, content_w)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize (B, 3, H, W) so max(H, W) == long_side, keeping the aspect ratio (antialiased)."""
    h, w = image.shape[-2:]
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return image
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def keep_content_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the stylized luminance, take the chroma from the content (YUV, BT.601)."""
    to_yuv = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]],
                          device=stylized.device)
    to_rgb = torch.linalg.inv(to_yuv)
    content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    y = torch.einsum("ij,bjhw->bihw", to_yuv[:1], stylized)
    uv = torch.einsum("ij,bjhw->bihw", to_yuv[1:], content)
    return torch.einsum("ij,bjhw->bihw", to_rgb, torch.cat([y, uv], 1)).clamp(0, 1)


@torch.no_grad()
def gram_targets(net: feats.FeatureNet, styles: Sequence[torch.Tensor], layers: LayerWeights,
                 blend: Sequence[float]) -> dict[str, torch.Tensor]:
    """Blended Gram targets {layer: (1, C, C)} of style images (already at their working size)."""
    per_style = []
    for style in styles:
        found = net(style)
        per_style.append({k: losses.gram(found[k]) for k in layers})
    return losses.blend_grams(per_style, blend)


@torch.no_grad()
def content_features(net: feats.FeatureNet, images: torch.Tensor,
                     layers: LayerWeights) -> dict[str, torch.Tensor]:
    """Content targets {layer: (B, C, h, w)} of images (B, 3, H, W)."""
    found = net(images)
    return {k: found[k] for k in layers}


def style_distance(found: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                   layers: LayerWeights, mask: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The layer-weighted relative Gram error averaged over the batch (the style distance every pipeline
    reports), and its weighted per-layer parts (B,)."""
    per_layer = losses.style_loss(found, targets, layers, mask)
    return sum(v.mean() for v in per_layer.values()) / sum(layers.values()), per_layer


class StyleLoss:
    """Weighted style and content terms of features against fixed targets.

    Calling it on features (and, where they change per step, content targets) returns the weighted total
    and the named, unweighted terms: 'style', 'content', and per layer 'style/relu1_1', ...
    """

    def __init__(self, setup: FeatureSetup, style_targets: Mapping[str, torch.Tensor],
                 style_weight: float, content_weight: float):
        self.setup, self.style_targets = setup, style_targets
        self.style_weight, self.content_weight = style_weight, content_weight

    def __call__(self, found: Mapping[str, torch.Tensor], content_targets: Mapping[str, torch.Tensor] | None,
                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        named: dict[str, torch.Tensor] = {}
        total = next(iter(found.values())).new_zeros(())
        if content_targets:
            weights = self.setup.content_layers
            per_layer = losses.content_loss(found, content_targets, mask)
            content = sum(weights[k] * v.mean() for k, v in per_layer.items())
            named["content"] = content / sum(weights.values())
            named.update({f"content/{k}": v.mean() for k, v in per_layer.items()})
            total = total + self.content_weight * named["content"]
        if self.style_targets:
            weights = self.setup.style_layers
            named["style"], per_layer = style_distance(found, self.style_targets, weights, mask)
            named.update({f"style/{k}": v.mean() / weights[k] if weights[k] else v.mean()
                          for k, v in per_layer.items()})
            total = total + self.style_weight * named["style"]
        return total, named
