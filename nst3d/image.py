"""The 2D jobs on one core: style transfer, content reconstruction and texture synthesis (Gatys et al.).

All three are `stylize()` with different terms switched on: reconstruction has only the content term and
starts from noise, texture synthesis has only the style term. Coarse-to-fine (`scales`) optimizes at
growing sizes, each scale initialized from the upsampled result of the previous one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from nst3d import features as feats
from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.io import MIN_IMAGE_SIDE, to_uint8
from nst3d.optimize import OPTIMIZERS, optimize
from nst3d.runtime import fast_bf16, resolve_device, seed_everything

DEFAULT_STYLE_LAYERS = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
DEFAULT_CONTENT_LAYERS = "relu4_2"
INITS = ("content", "noise", "style")
MIN_SCALE_SIDE = 64      # coarser scales than this carry no useful structure for VGG
GIF_MAX_SIDE = 512       # GIF frames are downscaled to keep the file small


@dataclass
class StylizeResult:
    """The output image, the frames of its optimization, and a JSON-ready record of the run."""

    image: torch.Tensor                 # (1, 3, H, W) in [0, 1], on the CPU
    frames: list[np.ndarray] = field(default_factory=list)  # (h, w, 3) uint8 GIF frames
    record: dict = field(default_factory=dict)
    interrupted: bool = False           # stopped by Ctrl-C
    diverged: bool = False              # stopped by a non-finite loss (image: the best one before it)


def parse_weighted_layers(spec: str | Sequence[str], arch: str) -> dict[str, float]:
    """'relu1_1,relu2_1:0.5' -> {layer: weight}; a layer without ':w' has weight 1."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    weighted: dict[str, float] = {}
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise Nst3dError(f"bad layer weight in {item!r}: expected name:number") from None
        if not np.isfinite(value) or value < 0:
            raise Nst3dError(f"bad layer weight in {item!r}: must be a finite number >= 0")
        weighted[feats.canonical_layer(name, arch)] = value
    if not weighted:
        raise Nst3dError("no layers given")
    if sum(weighted.values()) <= 0:
        raise Nst3dError(f"layer weights in {spec!r} are all zero")
    return weighted


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


def scale_sizes(size: int, scales: int) -> list[int]:
    """Long sides of the coarse-to-fine schedule: halving from `size`, none below MIN_SCALE_SIDE."""
    sizes = [size]
    while len(sizes) < scales and sizes[0] // 2 >= MIN_SCALE_SIDE:
        sizes.insert(0, sizes[0] // 2)
    return sizes


MAX_STYLE_SCALE = 8.0  # style images larger than 8x the output only cost memory


def check_style_scale(style_scale: float) -> None:
    """Style images are resized to output size x style_scale: positive and bounded."""
    check_positive("style_scale", style_scale)
    if style_scale > MAX_STYLE_SCALE:
        raise Nst3dError(f"style_scale {style_scale} is too large (at most {MAX_STYLE_SCALE})")


def blend_weights(style_blend: Sequence[float] | None, count: int) -> list[float]:
    """One weight >= 0 per style image (default: equal), not all zero."""
    blend = list(style_blend) if style_blend else [1.0] * count
    if len(blend) != count:
        raise Nst3dError(f"--style-blend has {len(blend)} weights for {count} style images")
    for b in blend:
        check_positive("style blend weight", b, allow_zero=True)
    if count and sum(blend) <= 0:
        raise Nst3dError("style blend weights must not all be zero")
    return blend


def check_positive(name: str, value: float, integer: bool = False, allow_zero: bool = False) -> None:
    """One clear error unless `value` is a finite number > 0 (>= 0 with allow_zero; whole with integer)."""
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a whole number" if integer else "a finite number"
        raise Nst3dError(f"{name} must be {kind} {'>= 0' if allow_zero else '> 0'}, got {value}")


class StyleObjective:
    """Targets computed once per scale, and the weighted loss of an image against them."""

    def __init__(self, net: feats.FeatureNet, content: torch.Tensor | None, styles: Sequence[torch.Tensor],
                 content_layers: dict[str, float], style_layers: dict[str, float], blend: Sequence[float],
                 content_weight: float, style_weight: float, tv_weight: float):
        self.net, self.style_layers = net, style_layers
        self.weights = (content_weight, style_weight, tv_weight)
        self.content_layers = content_layers if content is not None and content_weight > 0 else {}
        with torch.no_grad():
            self.content_targets = {}
            if self.content_layers:
                found = net(content)
                self.content_targets = {k: found[k] for k in self.content_layers}
            self.style_targets = {}
            if styles and style_weight > 0:
                per_style = []
                for style in styles:
                    found = net(style)
                    per_style.append({k: losses.gram(found[k]) for k in style_layers})
                self.style_targets = losses.blend_grams(per_style, blend)

    def terms(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and every named term (per layer, unweighted) for one image (1, 3, H, W)."""
        found = self.net(image)
        cw, sw, tw = self.weights
        named: dict[str, torch.Tensor] = {}
        total = image.new_zeros(())
        if self.content_targets:
            per_layer = losses.content_loss(found, self.content_targets)
            norm = sum(self.content_layers.values())
            content = sum(self.content_layers[k] * v.sum() for k, v in per_layer.items()) / norm
            total = total + cw * content
            named["content"] = content
            named.update({f"content/{k}": v.sum() for k, v in per_layer.items()})
        if self.style_targets:
            per_layer = losses.style_loss(found, self.style_targets, self.style_layers)
            style = sum(v.sum() for v in per_layer.values()) / sum(self.style_layers.values())
            total = total + sw * style
            named["style"] = style
            named.update({f"style/{k}": v.sum() / self.style_layers[k] if self.style_layers[k] else v.sum()
                          for k, v in per_layer.items()})
        if tw > 0:
            named["tv"] = losses.tv_loss(image).sum()
            total = total + tw * named["tv"]
        return total, named


def stylize(content: torch.Tensor | None = None, styles: Sequence[torch.Tensor] = (), *,
            content_layers: str | Sequence[str] = DEFAULT_CONTENT_LAYERS,
            style_layers: str | Sequence[str] = DEFAULT_STYLE_LAYERS,
            content_weight: float = 1.0, style_weight: float = 10.0, tv_weight: float = 0.0,
            style_blend: Sequence[float] | None = None, size: int = 384, style_scale: float = 1.0,
            steps: int = 80, optimizer: str = "lbfgs", lr: float | None = None, init: str = "content",
            scales: int = 2, preserve_colors: bool = False, seed: int = 0, device: str = "auto",
            backbone: str = "auto", weights: str | None = None, gif_every: int = 0,
            save_every: int = 0, snapshot: Callable[[torch.Tensor], None] | None = None,
            progress: bool = True) -> StylizeResult:
    """Optimize an image so its VGG features match `content` and its Gram matrices match `styles`.

    Images are (1, 3, H, W) floats in [0, 1]. `size` is the output's long side (the content's aspect
    ratio is kept; texture synthesis without content makes a square). Returns the image, GIF frames
    (every `gif_every` steps) and a record of parameters, backbone, seed, timings and final losses.
    """
    params = dict(content_layers=content_layers, style_layers=style_layers, content_weight=content_weight,
                  style_weight=style_weight, tv_weight=tv_weight, style_blend=style_blend, size=size,
                  style_scale=style_scale, steps=steps, optimizer=optimizer, lr=lr, init=init,
                  scales=scales, preserve_colors=preserve_colors, seed=seed, device=device)
    for name in ("size", "steps", "scales"):
        check_positive(name, params[name], integer=True)
    for name in ("content_weight", "style_weight", "tv_weight"):
        check_positive(name, params[name], allow_zero=True)
    for name, value in (("gif_every", gif_every), ("save_every", save_every)):
        check_positive(name, value, integer=True, allow_zero=True)
    check_style_scale(style_scale)
    if lr is not None:
        check_positive("lr", lr)
    if optimizer not in OPTIMIZERS:
        raise Nst3dError(f"unknown optimizer {optimizer!r}; choose {' or '.join(OPTIMIZERS)}")
    if init not in INITS:
        raise Nst3dError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if content is None and init == "content":
        raise Nst3dError("init 'content' needs a content image")
    if not styles and init == "style":
        raise Nst3dError("init 'style' needs a style image")
    blend = blend_weights(style_blend, len(styles))
    if content_weight == 0 and style_weight == 0 and tv_weight == 0:
        raise Nst3dError("all loss weights are zero: nothing to optimize")
    if size > 8192:
        raise Nst3dError(f"size {size} is too large (at most 8192)")

    started = time.perf_counter()
    dev = resolve_device(device)
    generator = seed_everything(seed)
    torch.backends.cudnn.benchmark = False  # autotuning picks huge workspaces for VGG at large sizes
    bone = feats.load_backbone(backbone, weights)
    content_w = parse_weighted_layers(content_layers, bone.arch)
    style_w = parse_weighted_layers(style_layers, bone.arch)
    net = feats.FeatureNet(bone, list(content_w) + list(style_w), bf16=fast_bf16(dev)).to(dev)
    load_seconds = time.perf_counter() - started

    aspect = (content.shape[-2] / content.shape[-1]) if content is not None else 1.0

    def shape_at(long_side: int) -> tuple[int, int]:
        """(H, W) with this long side and the content's aspect ratio."""
        return (max(1, round(long_side * min(1.0, aspect))), max(1, round(long_side * min(1.0, 1 / aspect))))

    def content_at(hw: tuple[int, int]) -> torch.Tensor | None:
        return None if content is None else F.interpolate(
            content, size=hw, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1).to(dev)

    final_hw = shape_at(size)
    if min(final_hw) < MIN_IMAGE_SIDE:
        raise Nst3dError(f"size {size} gives a {final_hw[1]}x{final_hw[0]} output; its short side must be at "
                         f"least {MIN_IMAGE_SIDE} px (raise --size)")
    gif_hw = final_hw if max(final_hw) <= GIF_MAX_SIDE else tuple(
        round(s * GIF_MAX_SIDE / max(final_hw)) for s in final_hw)
    frames: list[np.ndarray] = []
    history: list[dict[str, float]] = []
    scale_records = []
    image: torch.Tensor | None = None
    interrupted = diverged = False

    def finish(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().clamp(0, 1)
        return keep_content_colors(x, content_s) if preserve_colors and content is not None else x

    # coarse scales whose short side would drop below the minimum are skipped (very wide or tall images)
    sizes = [s for s in scale_sizes(size, scales) if min(shape_at(s)) >= MIN_IMAGE_SIDE]
    for index, long_side in enumerate(sizes):
        hw = shape_at(long_side)
        content_s = content_at(hw)
        styles_s = [resize_long_side(s, max(MIN_SCALE_SIDE, round(long_side * style_scale))).to(dev)
                    for s in styles]
        objective = StyleObjective(net, content_s, styles_s, content_w, style_w, blend,
                                   content_weight, style_weight, tv_weight)
        if image is not None:
            start = F.interpolate(image, size=hw, mode="bicubic", align_corners=False)
        elif init == "content":
            start = content_s
        elif init == "style":
            start = F.interpolate(styles_s[0], size=hw, mode="bicubic", align_corners=False)
        else:
            start = torch.rand((1, 3, *hw), generator=generator).to(dev)
        x = start.detach().clamp(0, 1).clone().requires_grad_(True)

        def closure(x=x, objective=objective):
            total, named = objective.terms(x)
            return total, {k: float(v.detach()) for k, v in named.items() if "/" not in k}

        def on_step(step: int, x=x, offset=len(history)) -> None:
            global_step = offset + step
            if gif_every and global_step % gif_every == 0:
                frame = F.interpolate(finish(x), size=gif_hw, mode="bilinear", antialias=True,
                                      align_corners=False)
                frames.append(to_uint8(frame))
            if snapshot is not None and save_every and global_step % save_every == 0:
                snapshot(finish(x).cpu())

        run = optimize([x], closure, steps, optimizer=optimizer, lr=lr, project=lambda x=x: x.clamp_(0, 1),
                       callback=on_step, description=f"scale {index + 1} {hw[1]}x{hw[0]}", progress=progress)
        image = run.params[0]
        offset = time.perf_counter() - started - run.seconds
        history += [{**h, "t": h["t"] + offset} for h in run.history]
        scale_records.append({"size": [hw[1], hw[0]], "steps": len(run.history), "seconds": run.seconds,
                              "seconds_per_step": run.seconds / max(1, len(run.history))})
        interrupted, diverged = run.interrupted, run.diverged
        if interrupted or diverged:
            break

    if image.shape[-2:] != final_hw:  # stopped at a coarse scale: still deliver the asked-for size
        image = F.interpolate(image, size=final_hw, mode="bicubic", align_corners=False)
        content_s = content_at(final_hw)
        named = {}
    else:
        with torch.no_grad():
            _, named = objective.terms(image)
    result_image = finish(image).cpu()
    if gif_every and (not frames or interrupted or diverged or len(history) % gif_every):
        frames.append(to_uint8(F.interpolate(result_image, size=gif_hw, mode="bilinear", antialias=True,
                                             align_corners=False)))
    record = {
        "parameters": params,
        "backbone": net.backbone_name,
        "arch": net.arch,
        "layers": {"content": content_w, "style": style_w},
        "device": str(dev),
        "output_size": [result_image.shape[-1], result_image.shape[-2]],
        "final_losses": {k: float(v) for k, v in named.items()},
        "timings": {"total_seconds": time.perf_counter() - started, "load_seconds": load_seconds,
                    "scales": scale_records},
        "history": [{k: round(v, 6) for k, v in h.items()} for h in history],
        "interrupted": interrupted,
        "diverged": diverged,
    }
    return StylizeResult(result_image, frames, record, interrupted, diverged)


def transfer(content: torch.Tensor, styles: Sequence[torch.Tensor], **options) -> StylizeResult:
    """Style transfer: `content` painted with the textures of `styles`; options as `stylize` (CLI flags)."""
    return stylize(content, styles, **options)


def reconstruct(content: torch.Tensor, layers: str | Sequence[str] = DEFAULT_CONTENT_LAYERS,
                **options) -> StylizeResult:
    """Content reconstruction: white noise optimized until its features at `layers` match `content`."""
    return stylize(content, (), content_layers=layers, style_weight=0.0,
                   **{"init": "noise", "scales": 1, **options})


def synthesize_texture(styles: Sequence[torch.Tensor], layers: str | Sequence[str] = DEFAULT_STYLE_LAYERS,
                       **options) -> StylizeResult:
    """Texture synthesis: white noise optimized until its Gram matrices match those of `styles`."""
    return stylize(None, styles, style_layers=layers, content_weight=0.0,
                   **{"style_weight": 1.0, "init": "noise", "scales": 1, **options})
