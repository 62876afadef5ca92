"""The style core both pipelines use: the feature net, style targets, and the weighted loss terms.

`load_feature_net` builds VGG for the layers an options object asks for; `style_targets` turns one or
more style images into blended targets of the chosen loss (gram, w2 or nnfm); `StyleLoss` scores features
against those targets (and against content targets) and returns the weighted total with every named
term. Images are (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from nst3d import features as feats
from nst3d import losses, prepacked
from nst3d.errors import Nst3dError
from nst3d.gaussian import Gaussian, blend_gaussians, moments, w2_squared
from nst3d.nnfm import nnfm_distance, stack_layers, style_pool
from nst3d.options import StyleOptions
from nst3d.runtime import use_bf16

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
    style_w = parse_weighted_layers(options.resolved_style_layers, bone.arch) if use_style else {}
    check_style_layers(options.style_loss, style_w)
    content_w = parse_weighted_layers(options.content_layers, bone.arch) if use_content else {}
    bf16 = use_bf16(options.precision, device)
    net = feats.FeatureNet(bone, list(style_w) + list(content_w), bf16=bf16).to(device)
    if bf16 and device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
        if prepacked.available():  # weights reordered once for oneDNN, not at every call (same numbers)
            prepacked.prepack(net.net)
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


@dataclass(frozen=True)
class StyleTargets:
    """What the style loss compares features with, for the run's layers: blended Gram matrices (gram,
    {layer: (1, C, C)}), blended Gaussians (w2) or one pool of unit style vectors (nnfm, (M, C))."""

    kind: str
    layers: LayerWeights
    grams: dict[str, torch.Tensor] = field(default_factory=dict)
    gaussians: dict[str, Gaussian] = field(default_factory=dict)
    pool: torch.Tensor | None = None


@torch.no_grad()
def style_targets(net: feats.FeatureNet, styles: Sequence[torch.Tensor], layers: LayerWeights,
                  blend: Sequence[float], kind: str = "gram", seed: int = 0) -> StyleTargets:
    """The targets of style images (already at their working size) for the loss `kind`; `seed` picks the
    nnfm pool's subset when the styles have more positions than it holds."""
    found = [net(style) for style in styles]
    if kind == "gram":
        return StyleTargets(kind, layers, grams=losses.blend_grams(
            [{k: losses.gram(f[k]) for k in layers} for f in found], blend))
    if kind == "w2":
        return StyleTargets(kind, layers, gaussians={
            k: blend_gaussians([moments(f[k]) for f in found], blend) for k in layers})
    generator = torch.Generator().manual_seed(seed)
    return StyleTargets(kind, layers, pool=style_pool([stack_layers(f, layers) for f in found], blend,
                                                      generator))


def check_style_layers(kind: str, layers: LayerWeights) -> None:
    """nnfm concatenates its layers' maps, so they must share one resolution (one VGG block)."""
    if kind != "nnfm":
        return
    resolutions = {int(name[4]) + (name.startswith("pool")) for name in layers}
    if len(resolutions) > 1:
        raise Nst3dError(f"nnfm concatenates its layers, so they must have one resolution (one block, e.g. "
                         f"relu3_1,relu3_2,relu3_3 or relu4_1,relu4_2,relu4_3); got {','.join(layers)}")


@torch.no_grad()
def content_features(net: feats.FeatureNet, images: torch.Tensor,
                     layers: LayerWeights) -> dict[str, torch.Tensor]:
    """Content targets {layer: (B, C, h, w)} of images (B, 3, H, W); VGG runs only as deep as they are."""
    return net(images, layers)


def style_distance(found: Mapping[str, torch.Tensor], targets: StyleTargets,
                   mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The style distance of features to the targets, averaged over the batch (the layer-weighted mean of
    relative errors: Gram, W2 over the target's E|x|², or nnfm's mean 1 - cos), and its parts (B,): per
    layer, or one for nnfm's concatenated layers."""
    layers = targets.layers
    if targets.kind == "nnfm":
        distance = nnfm_distance(stack_layers(found, layers), targets.pool, mask)
        return distance.mean(), {"+".join(layers): distance}
    if targets.kind == "w2":
        parts = {k: w2_squared(*moments(found[k], mask), targets.gaussians[k]) for k in layers}
    else:
        parts = losses.style_loss(found, targets.grams, mask)
    total = sum(layers[k] * v.mean() for k, v in parts.items()) / sum(layers.values())
    return total, parts


class StyleLoss:
    """Weighted style and content terms of features against fixed targets.

    Calling it on features (and, where they change per step, content targets) returns the weighted total
    and the named, unweighted terms: 'style', 'content', and per layer 'style/relu1_1', ...
    """

    def __init__(self, setup: FeatureSetup, style_targets: StyleTargets | None,
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
        if self.style_targets is not None:
            named["style"], per_layer = style_distance(found, self.style_targets, mask)
            named.update({f"style/{k}": v.mean() for k, v in per_layer.items()})
            total = total + self.style_weight * named["style"]
        return total, named
