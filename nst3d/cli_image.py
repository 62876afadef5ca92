"""`nst3d image`, `nst3d reconstruct`, `nst3d texture`: the 2D commands."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from nst3d import image as img
from nst3d.cli import app
from nst3d.errors import Nst3dError
from nst3d.io import IMAGE_SUFFIXES, check_output_path, load_image, save_gif, save_image
from nst3d.records import write_record

# Options shared by several commands (one definition each, so help texts never drift apart).
OUTPUT = typer.Option(None, "--output", "-o", help="Output image (.png/.jpg/...). A .json record of the "
                      "run is written next to it. Default: a name made from the inputs, in this folder.")
SIZE = typer.Option(384, "--size", help="Long side of the output in pixels.")
STEPS = typer.Option(80, "--steps", help="Optimization steps at each scale (one VGG forward+backward each).")
OPTIMIZER = typer.Option("lbfgs", "--optimizer", help="lbfgs (best quality per step) or adam.")
LR = typer.Option(None, "--lr", help="Learning rate. Default: 1.0 for lbfgs, 0.02 for adam.")
SEED = typer.Option(0, "--seed", help="Random seed: the same seed gives the same result on the same "
                    "device.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N.")
BACKBONE = typer.Option("auto", "--backbone", help="VGG weights: auto (cached vgg19, else offline "
                        "vgg16-hed, else download vgg19), vgg19, vgg16 or vgg16-hed.")
WEIGHTS = typer.Option(None, "--weights", help="A torchvision-format VGG16/VGG19 state dict file; "
                       "overrides --backbone.")
GIF = typer.Option(None, "--gif", help="Also write an animated GIF of the optimization here.")
GIF_EVERY = typer.Option(10, "--gif-every", help="Steps between GIF frames (used with --gif).")
SAVE_EVERY = typer.Option(0, "--save-every", help="Write the current image to the output every N steps "
                          "(0: only at the end).")
SCALES = typer.Option(2, "--scales", help="Coarse-to-fine: optimize at this many sizes, each half the "
                      "next, each starting from the previous result (1: single scale).")
STYLE_WEIGHT = typer.Option(10.0, "--style-weight", help="Weight of the style (Gram) loss.")
STYLE_LAYERS_HELP = ("Comma-separated layers for the style loss, optionally weighted: "
                     "relu1_1:0.5,relu2_1,... (also conv_N/relu_N naming).")
STYLE_LAYERS = typer.Option(img.DEFAULT_STYLE_LAYERS, "--style-layers", help=STYLE_LAYERS_HELP)
STYLE_BLEND = typer.Option(None, "--style-blend", help="Comma-separated weights for several style "
                           "images, e.g. 0.7,0.3 (default: equal).")
STYLE_SCALE = typer.Option(1.0, "--style-scale", help="Style image size relative to the output "
                           "(larger: bigger brush strokes).")
TV_WEIGHT = typer.Option(0.0, "--tv-weight", help="Total-variation weight (smooths high-frequency noise).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def parse_floats(text: str | None, what: str) -> list[float] | None:
    """'0.7,0.3' -> [0.7, 0.3]."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise Nst3dError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise Nst3dError(f"{what} must be finite numbers >= 0, got {text!r}")
    return values


def run_and_write(job: Callable[..., img.StylizeResult], output: Path, gif: Path | None, save_every: int,
                  inputs: dict, **kwargs) -> None:
    """Check outputs first, run the job, then write image, GIF and JSON record (also after Ctrl-C)."""
    output = check_output_path(output, IMAGE_SUFFIXES)
    check_output_path(output.with_suffix(".json"))
    if gif is not None:
        check_output_path(gif, [".gif"])
        if kwargs["gif_every"] <= 0:
            raise Nst3dError(f"--gif-every must be > 0 to write {gif}")
    result = job(save_every=save_every, snapshot=lambda x: save_image(x, output), **kwargs)
    save_image(result.image, output)
    written = [str(output)]
    if gif is not None:
        save_gif(result.frames, gif, fps=8)
        written.append(str(gif))
    record = {"command": sys.argv[1] if len(sys.argv) > 1 else None, "inputs": inputs,
              "outputs": written + [str(output.with_suffix(".json"))], **result.record}
    write_record(record, output.with_suffix(".json"))
    losses = result.record["final_losses"]
    summary = ", ".join(f"{k} {losses[k]:.4g}" for k in ("content", "style", "tv") if k in losses)
    print(f"wrote {', '.join(written)} ({result.image.shape[-1]}x{result.image.shape[-2]}, "
          f"{result.record['timings']['total_seconds']:.1f} s, backbone {result.record['backbone']}; "
          f"{summary})")
    per_layer = "  ".join(f"{k} {v:.4g}" for k, v in losses.items() if "/" in k)
    if per_layer:
        print(f"final losses per layer: {per_layer}")
    if result.interrupted:
        raise KeyboardInterrupt


@app.command("image")
def image_command(
    content: Path = typer.Argument(..., metavar="CONTENT", help="Content image: its layout is kept."),
    styles: list[Path] = typer.Argument(..., metavar="STYLE", help="One or more style images: their textures "
                                        "are copied."),
    output: Path = OUTPUT,
    init: str = typer.Option("content", "--init", help="Starting image: content, noise or style (the "
                             "first style image)."),
    content_weight: float = typer.Option(1.0, "--content-weight", help="Weight of the content loss."),
    style_weight: float = STYLE_WEIGHT,
    tv_weight: float = TV_WEIGHT,
    style_blend: str = STYLE_BLEND,
    content_layers: str = typer.Option(img.DEFAULT_CONTENT_LAYERS, "--content-layers",
                                       help="Comma-separated layers for the content loss."),
    style_layers: str = STYLE_LAYERS,
    size: int = SIZE,
    style_scale: float = STYLE_SCALE,
    steps: int = STEPS,
    scales: int = SCALES,
    optimizer: str = OPTIMIZER,
    lr: float = LR,
    preserve_colors: bool = typer.Option(False, "--preserve-colors", help="Keep the content image's "
                                         "colors; take only luminance texture from the style."),
    seed: int = SEED,
    device: str = DEVICE,
    backbone: str = BACKBONE,
    weights: Path = WEIGHTS,
    gif: Path = GIF,
    gif_every: int = GIF_EVERY,
    save_every: int = SAVE_EVERY,
    quiet: bool = QUIET,
) -> None:
    """Style transfer: paint CONTENT in the style of STYLE (Gatys et al.), coarse to fine.

    Example: nst3d image photo.jpg styles/waves.jpg -o out.png --gif out.gif
    """
    output = output or Path(f"{content.stem}_{styles[0].stem}.png")
    content_image = load_image(content, "content image")
    style_images = [load_image(s, "style image") for s in styles]
    run_and_write(img.transfer, output, gif, save_every,
                  {"content": str(content), "styles": [str(s) for s in styles]},
                  content=content_image, styles=style_images, init=init, content_weight=content_weight,
                  style_weight=style_weight, tv_weight=tv_weight,
                  style_blend=parse_floats(style_blend, "--style-blend"), content_layers=content_layers,
                  style_layers=style_layers, size=size, style_scale=style_scale, steps=steps,
                  scales=scales, optimizer=optimizer, lr=lr, preserve_colors=preserve_colors, seed=seed,
                  device=device, backbone=backbone, weights=weights, gif_every=gif_every if gif else 0,
                  progress=not quiet)


@app.command("reconstruct")
def reconstruct_command(
    content: Path = typer.Argument(..., metavar="CONTENT", help="Image whose features are matched."),
    layers: str = typer.Option("relu4_2", "--layers", help="Comma-separated layers to match, e.g. conv_4 "
                               "or relu1_2,relu2_2. Early layers reproduce the photo; deep layers keep "
                               "the layout but lose the exact texture."),
    output: Path = OUTPUT,
    size: int = typer.Option(256, "--size", help="Long side of the output in pixels."),
    steps: int = typer.Option(300, "--steps", help="Optimization steps."),
    scales: int = typer.Option(1, "--scales", help="Coarse-to-fine scales (1: single scale, the classic "
                               "experiment)."),
    optimizer: str = OPTIMIZER,
    lr: float = LR,
    seed: int = SEED,
    device: str = DEVICE,
    backbone: str = BACKBONE,
    weights: Path = WEIGHTS,
    gif: Path = GIF,
    gif_every: int = GIF_EVERY,
    save_every: int = SAVE_EVERY,
    quiet: bool = QUIET,
) -> None:
    """Content reconstruction: optimize white noise until its features at --layers match CONTENT's."""
    output = output or Path(f"{content.stem}_reconstruct_{layers.replace(',', '+').replace(':', '')}.png")
    run_and_write(img.reconstruct, output, gif, save_every, {"content": str(content)},
                  content=load_image(content, "content image"), layers=layers, size=size, steps=steps,
                  scales=scales, optimizer=optimizer, lr=lr, seed=seed, device=device, backbone=backbone,
                  weights=weights, gif_every=gif_every if gif else 0, progress=not quiet)


@app.command("texture")
def texture_command(
    styles: list[Path] = typer.Argument(..., metavar="STYLE", help="Style image(s) whose texture statistics "
                                        "are matched."),
    layers: str = typer.Option(img.DEFAULT_STYLE_LAYERS, "--layers", "--style-layers",
                               help=STYLE_LAYERS_HELP),
    output: Path = OUTPUT,
    size: int = typer.Option(256, "--size", help="Side of the square output in pixels."),
    style_blend: str = STYLE_BLEND,
    style_scale: float = STYLE_SCALE,
    steps: int = typer.Option(300, "--steps", help="Optimization steps at each scale."),
    scales: int = typer.Option(1, "--scales", help="Coarse-to-fine scales (1: single scale)."),
    tv_weight: float = TV_WEIGHT,
    optimizer: str = OPTIMIZER,
    lr: float = LR,
    seed: int = SEED,
    device: str = DEVICE,
    backbone: str = BACKBONE,
    weights: Path = WEIGHTS,
    gif: Path = GIF,
    gif_every: int = GIF_EVERY,
    save_every: int = SAVE_EVERY,
    quiet: bool = QUIET,
) -> None:
    """Texture synthesis: optimize white noise until its Gram matrices match the style's."""
    output = output or Path(f"{styles[0].stem}_texture.png")
    run_and_write(img.synthesize_texture, output, gif, save_every, {"styles": [str(s) for s in styles]},
                  styles=[load_image(s, "style image") for s in styles], layers=layers, tv_weight=tv_weight,
                  style_blend=parse_floats(style_blend, "--style-blend"), style_scale=style_scale,
                  size=size, steps=steps, scales=scales, optimizer=optimizer, lr=lr,
                  seed=seed, device=device, backbone=backbone, weights=weights,
                  gif_every=gif_every if gif else 0, progress=not quiet)
