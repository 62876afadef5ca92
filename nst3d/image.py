"""The 2D jobs on one core: style transfer, content reconstruction and texture synthesis (Gatys et al.).

All three are `stylize()` with different terms switched on (their options classes hold the defaults):
reconstruction has only the content term and starts from noise, texture synthesis has only the style
term. Coarse-to-fine (`scales`) optimizes at growing sizes, each scale initialized from the upsampled
result of the previous one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.gaussian import color_stats, match_colors
from nst3d.io import MIN_IMAGE_SIDE, to_uint8
from nst3d.optimize import LoopSettings, OptimizeResult, optimize
from nst3d.options import (
    ImageOptions,
    ReconstructOptions,
    TextureOptions,
    blend_weights,
    make_options,
)
from nst3d.runtime import interrupt_held, resolve_device, seed_everything
from nst3d.style import FeatureSetup, StyleLoss, content_features, load_feature_net, style_targets
from nst3d.style import keep_content_colors as keep_colors
from nst3d.style import resize_long_side as resize

MIN_SCALE_SIDE = 64      # coarser scales than this carry no useful structure for VGG
GIF_MAX_SIDE = 512       # GIF frames are downscaled to keep the file small
RUN_KEYWORDS = ("snapshot", "progress")  # stylize()'s keywords that are not options


@dataclass
class StylizeResult:
    """The output image, the frames of its optimization, and a JSON-ready record of the run."""

    image: torch.Tensor                 # (1, 3, H, W) in [0, 1], on the CPU
    frames: list[np.ndarray] = field(default_factory=list)  # (h, w, 3) uint8 GIF frames
    record: dict = field(default_factory=dict)
    interrupted: bool = False           # stopped by Ctrl-C
    diverged: bool = False              # stopped by a non-finite loss (image: the best one before it)
    stop_requested: bool = False        # Ctrl-C came after the last step: whole result, the caller stops


def scale_sizes(size: int, scales: int) -> list[int]:
    """Long sides of the coarse-to-fine schedule: halving from `size`, none below MIN_SCALE_SIDE."""
    sizes = [size]
    while len(sizes) < scales and sizes[0] // 2 >= MIN_SCALE_SIDE:
        sizes.insert(0, sizes[0] // 2)
    return sizes


class ImageObjective:
    """The loss of the image `x` at one scale: style and content against this scale's targets, plus TV."""

    def __init__(self, loss: StyleLoss, x: torch.Tensor, content: torch.Tensor | None,
                 content_targets: dict[str, torch.Tensor], tv_weight: float):
        self.loss, self.x, self.content, self.tv_weight = loss, x, content, tv_weight
        self.content_targets = content_targets

    def project(self) -> None:
        """Keep pixels in [0, 1] after each update."""
        self.x.clamp_(0, 1)

    def terms(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and every named term (per layer, unweighted) for one image (1, 3, H, W)."""
        total, named = self.loss(self.loss.setup.net(image), self.content_targets)
        if self.tv_weight > 0:
            named["tv"] = losses.tv_loss(image).sum()
            total = total + self.tv_weight * named["tv"]
        return total, named

    def __call__(self) -> tuple[torch.Tensor, dict[str, float]]:
        total, named = self.terms(self.x)
        return total, {k: float(v.detach()) for k, v in named.items() if "/" not in k}


@dataclass
class ImageJob:
    """What stays fixed over the scales of one 2D run."""

    options: ImageOptions
    device: torch.device
    generator: torch.Generator
    setup: FeatureSetup
    content: torch.Tensor | None                     # (1, 3, H, W) on the CPU
    styles: Sequence[torch.Tensor]
    blend: list[float]
    started: float                                   # perf_counter() at the start of the run
    history: list[dict[str, float]] = field(default_factory=list)  # terms per step, all scales
    scales: list[dict] = field(default_factory=list)               # size, steps, seconds per scale

    def shape_at(self, long_side: int) -> tuple[int, int]:
        """(H, W) with this long side and the content's aspect ratio (square without content)."""
        aspect = 1.0 if self.content is None else self.content.shape[-2] / self.content.shape[-1]
        return (max(1, round(long_side * min(1.0, aspect))), max(1, round(long_side * min(1.0, 1 / aspect))))

    def content_at(self, hw: tuple[int, int]) -> torch.Tensor | None:
        """The content resized to `hw` (1, 3, h, w) on the device, or None without one."""
        return None if self.content is None else F.interpolate(
            self.content, size=hw, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1).to(
            self.device)

    def finish(self, x: torch.Tensor, content: torch.Tensor | None) -> torch.Tensor:
        """The image as delivered: clamped, with the content's colors when asked for."""
        x = x.detach().clamp(0, 1)
        return keep_colors(x, content) if self.options.preserve_colors and content is not None else x


@dataclass
class FrameRecorder:
    """GIF frames and snapshots every N steps, counted over all scales."""

    job: ImageJob
    gif_hw: tuple[int, int]
    snapshot: Callable[[torch.Tensor], None] | None
    frames: list[np.ndarray] = field(default_factory=list)
    objective: ImageObjective | None = None          # the scale being optimized


    def frame(self, image: torch.Tensor) -> None:
        """Add `image` (1, 3, H, W) as a GIF frame at the GIF's size."""
        self.frames.append(to_uint8(F.interpolate(image, size=self.gif_hw, mode="bilinear", antialias=True,
                                                  align_corners=False)))

    def __call__(self, step: int) -> None:
        """After `step` of the current scale: a frame and a snapshot when due."""
        done, opts, now = len(self.job.history) + step, self.job.options, self.objective
        if opts.gif_every and done % opts.gif_every == 0:
            self.frame(self.job.finish(now.x, now.content))
        if self.snapshot is not None and opts.save_every and done % opts.save_every == 0:
            self.snapshot(self.job.finish(now.x, now.content).cpu())


def _check_inputs(content: torch.Tensor | None, styles: Sequence[torch.Tensor], opts: ImageOptions) -> None:
    """Checks that need the inputs as well as the options."""
    if content is None and opts.init == "content":
        raise Nst3dError("init 'content' needs a content image")
    if not styles and opts.init == "style":
        raise Nst3dError("init 'style' needs a style image")


def _start_image(job: ImageJob, hw: tuple[int, int], previous: torch.Tensor | None,
                 content: torch.Tensor | None, styles: list[torch.Tensor]) -> torch.Tensor:
    """The first image of a scale: the previous scale's result upsampled, else the init."""
    if previous is not None:
        start = F.interpolate(previous, size=hw, mode="bicubic", align_corners=False)
    elif job.options.init == "content":
        start = content
    elif job.options.init == "style":
        start = F.interpolate(styles[0], size=hw, mode="bicubic", align_corners=False)
    else:
        start = torch.rand((1, 3, *hw), generator=job.generator).to(job.device)
    return start.detach().clamp(0, 1).clone().requires_grad_(True)


def _objective_at(job: ImageJob, long_side: int, previous: torch.Tensor | None) -> ImageObjective:
    """Targets at one scale (content resized to it, styles to its size x style_scale) and its start."""
    opts, setup = job.options, job.setup
    hw = job.shape_at(long_side)
    content = job.content_at(hw)
    styles = [resize(s, max(MIN_SCALE_SIDE, round(long_side * opts.style_scale))).to(job.device)
              for s in job.styles]
    use_content = content is not None and opts.content_weight > 0
    content_targets = content_features(setup.net, content, setup.content_layers) if use_content else {}
    use_style = bool(styles) and opts.style_weight > 0
    targets = style_targets(setup.net, styles, setup.style_layers, job.blend, opts.style_loss,
                            opts.seed) if use_style else None
    loss = StyleLoss(setup, targets, opts.style_weight, opts.content_weight)
    return ImageObjective(loss, _start_image(job, hw, previous, content, styles), content, content_targets,
                          opts.tv_weight)


def stylize(content: torch.Tensor | None = None, styles: Sequence[torch.Tensor] = (),
            options: ImageOptions | None = None, *, snapshot: Callable[[torch.Tensor], None] | None = None,
            progress: bool = True, **overrides) -> StylizeResult:
    """Optimize an image so its VGG features match `content` and its Gram matrices match `styles`.

    Images are (1, 3, H, W) floats in [0, 1]. `options` (or keyword overrides of its fields) are the
    CLI's flags; `size` is the output's long side (the content's aspect ratio is kept; texture
    synthesis without content makes a square). Returns the image, GIF frames (every `gif_every` steps)
    and a record of parameters, backbone, seed, timings and final losses.
    """
    opts = make_options(ImageOptions, options, **overrides)
    _check_inputs(content, styles, opts)
    blend = blend_weights(opts.style_blend, len(styles))
    started = time.perf_counter()
    device = resolve_device(opts.device)
    generator = seed_everything(opts.seed)
    torch.backends.cudnn.benchmark = False  # autotuning picks huge workspaces for VGG at large sizes
    setup = load_feature_net(opts, device, use_content=content is not None, use_style=bool(styles))
    if opts.recolors(content is not None) and content is not None and styles:
        content = match_colors(content, color_stats(styles, blend))  # the start and the content to keep
    job = ImageJob(opts, device, generator, setup, content, styles, blend, started)
    final_hw = job.shape_at(opts.size)
    if min(final_hw) < MIN_IMAGE_SIDE:
        raise Nst3dError(f"size {opts.size} gives a {final_hw[1]}x{final_hw[0]} output; its short side must "
                         f"be at least {MIN_IMAGE_SIDE} px (raise --size)")
    gif_hw = final_hw if max(final_hw) <= GIF_MAX_SIDE else tuple(
        round(s * GIF_MAX_SIDE / max(final_hw)) for s in final_hw)
    recorder = FrameRecorder(job, gif_hw, snapshot)
    image, run = None, None
    # coarse scales whose short side would drop below the minimum are skipped (very wide or tall images)
    sizes = [s for s in scale_sizes(opts.size, opts.scales) if min(job.shape_at(s)) >= MIN_IMAGE_SIDE]
    for index, long_side in enumerate(sizes):
        # a Ctrl-C while the next scale is set up keeps this one's image (before the first: nothing to keep)
        with interrupt_held() if run is not None else nullcontext([]) as held:
            objective = _objective_at(job, long_side, image)
        if held:
            run = dataclasses.replace(run, interrupted=True)
            break
        recorder.objective = objective
        height, width = objective.x.shape[-2:]
        loop = LoopSettings(opts.steps, opts.optimizer, opts.lr, progress=progress,
                            description=f"scale {index + 1} {width}x{height}")
        run = optimize([objective.x], objective, loop, project=objective.project, callback=recorder)
        image = run.params[0]
        offset = time.perf_counter() - started - run.seconds
        job.history += [{**h, "t": h["t"] + offset} for h in run.history]
        job.scales.append({"size": [width, height], "steps": len(run.history), "seconds": run.seconds,
                           "seconds_per_step": run.seconds / max(1, len(run.history))})
        if run.interrupted or run.diverged:
            break
    with interrupt_held(already=run.interrupted) as held:
        result = _result(job, image, recorder, run, final_hw)
    result.stop_requested = bool(held)  # after the last step: the result is whole, the caller stops
    return result


def _result(job: ImageJob, image: torch.Tensor, recorder: FrameRecorder, run: OptimizeResult,
            final_hw: tuple[int, int]) -> StylizeResult:
    """The delivered image at the asked-for size, its final losses, the last GIF frame and the record."""
    if image.shape[-2:] != final_hw:  # stopped at a coarse scale: still deliver the asked-for size
        image = F.interpolate(image, size=final_hw, mode="bicubic", align_corners=False)
        named = {}
    else:
        with torch.no_grad():
            _, named = recorder.objective.terms(image)
    result_image = job.finish(image, job.content_at(final_hw)).cpu()
    gif_every = job.options.gif_every
    if gif_every and (not recorder.frames or run.interrupted or run.diverged or len(job.history) % gif_every):
        recorder.frame(result_image)
    net = job.setup.net
    record = {
        "parameters": dataclasses.asdict(job.options),
        "backbone": net.backbone_name,
        "arch": net.arch,
        "precision": net.precision,
        "style_loss": job.options.style_loss,
        "layers": {"content": job.setup.content_layers, "style": job.setup.style_layers},
        "device": str(job.device),
        "output_size": [result_image.shape[-1], result_image.shape[-2]],
        "final_losses": {k: float(v) for k, v in named.items()},
        "timings": {"total_seconds": time.perf_counter() - job.started, "scales": job.scales},
        "history": [{k: round(v, 6) for k, v in h.items()} for h in job.history],
        "interrupted": run.interrupted,
        "diverged": run.diverged,
    }
    return StylizeResult(result_image, recorder.frames, record, run.interrupted, run.diverged)


def transfer(content: torch.Tensor, styles: Sequence[torch.Tensor], options: ImageOptions | None = None,
             **overrides) -> StylizeResult:
    """Style transfer: `content` painted with the textures of `styles` (ImageOptions: the CLI's flags)."""
    return stylize(content, styles, options, **overrides)


def reconstruct(content: torch.Tensor, options: ReconstructOptions | None = None, *,
                layers: str | Sequence[str] | None = None, **overrides) -> StylizeResult:
    """Content reconstruction: white noise optimized until its features at `layers` match `content`.

    Keywords other than ReconstructOptions' fields (snapshot, progress) go to `stylize`.
    """
    if layers is not None:
        overrides["content_layers"] = layers
    opts, run = _split(ReconstructOptions, options, overrides)
    return stylize(content, (), opts, **run)


def synthesize_texture(styles: Sequence[torch.Tensor], options: TextureOptions | None = None, *,
                       layers: str | Sequence[str] | None = None, **overrides) -> StylizeResult:
    """Texture synthesis: white noise optimized until its Gram matrices match those of `styles`."""
    if layers is not None:
        overrides["style_layers"] = layers
    opts, run = _split(TextureOptions, options, overrides)
    return stylize(None, styles, opts, **run)


def _split(kind: type[ImageOptions], options: ImageOptions | None,
           overrides: dict) -> tuple[ImageOptions, dict]:
    """Options of `kind` from the overrides that name its fields; the rest are stylize()'s own keywords."""
    run = {k: overrides.pop(k) for k in RUN_KEYWORDS if k in overrides}
    return make_options(kind, options, **overrides), run
