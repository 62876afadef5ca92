"""Every option of every optimizing job, its default and its check, written once.

The Python API and the command line both read these frozen dataclasses: a field is a `--flag` of the
matching command (its help text is the field's `help`), and `__post_init__` raises the one-line
`Nst3dError` the CLI prints. Checks that need the inputs (how many style images, the output's shape)
live in the pipelines, which call the helpers at the bottom of this file.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nst3d.errors import Nst3dError

DEFAULT_STYLE_LAYERS = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
# --style-loss: how features are matched, and the layers each uses unless --style-layers names others
STYLE_LOSS_LAYERS = {"gram": DEFAULT_STYLE_LAYERS, "w2": DEFAULT_STYLE_LAYERS,
                     "nnfm": "relu3_1,relu3_2,relu3_3"}
DEFAULT_CONTENT_LAYERS = "relu4_2"
IMAGE_INITS = ("content", "noise", "style")
MESH_INITS = ("auto", "original", "gray", "noise")
# Adam's default step on a mesh texture, by start: from the mesh's own texture the half step keeps the
# eyes and muzzle of Spot at a lower style distance (bench_losses --only face, three seeds); from gray it
# leaves the style 34% farther after a draft run (blob), so it keeps the full step.
MESH_LR = {"original": 0.025, "other": 0.05}
OPTIMIZERS = ("lbfgs", "adam")
MAX_IMAGE_SIZE = 8192
MAX_STYLE_SCALE = 8.0     # style images larger than 8x the output only cost memory
MIN_TEXTURE_SIZE, MAX_TEXTURE_SIZE = 16, 8192
MIN_RENDER_SIZE, MAX_RENDER_SIZE = 32, 4096
MAX_SUPERSAMPLE = 8       # supersample^2 times the render work and memory
MAX_DISTANCE = 1000.0     # camera distance in mesh radii: farther, the mesh is below a pixel
MAX_ANGLE = 1e6           # degrees; larger values have lost their fractional part in float32
MAX_FRAMES = 3600
MIN_FPS, MAX_FPS = 0.01, 240.0   # the GIF's own limit is checked with the output (io.FRAME_RATES)
PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_HELP = "auto (CUDA if available, else CPU), cpu, cuda or cuda:N."
PRECISION_HELP = ("VGG arithmetic: auto = bf16 where the hardware runs it fast (CUDA GPUs of compute "
                  "capability 8.0 and newer; CPUs with AMX, e.g. Intel Xeon Sapphire Rapids and newer), else "
                  "fp32; fp32; bf16 (features within about 1% of fp32).")
STYLE_LAYERS_HELP = ("Comma-separated layers for the style loss, optionally weighted: "
                     "relu1_1:0.5,relu2_1,... (also conv_N/relu_N naming); auto: the --style-loss's own "
                     "(gram, w2: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1; nnfm: relu3_1,relu3_2,relu3_3).")
STYLE_LOSS_HELP = ("How the style is matched: gram (Gram matrices, Gatys et al.: colours and textures), w2 "
                   "(feature means and covariances, a Wasserstein-2 distance: the same, more faithful "
                   "contrast, more of a mesh's own texture kept), or nnfm (each feature pulled to its "
                   "nearest style feature, ARF: strokes, but colour only from --color-match). Compared in "
                   "the README's Style losses section.")
COLOR_MATCH_HELP = ("Recolour the start (and the content it keeps) to the style's colour mean and "
                    "covariance before optimizing (ARF's colour transfer): on, off, or auto = on for nnfm "
                    "when there is a photo to recolour (nnfm's cosine ignores colour).")
MESH_COLOR_MATCH_HELP = ("Recolour the start texture (and the original that the content loss keeps) to the "
                         "style's colour mean and covariance before optimizing: on, off, or auto = on when "
                         "the mesh has a texture (closer to the style by every measure on Spot, face kept).")
COLOR_MATCH = ("auto", "on", "off")


def option(default: Any, help: str, *flags: str, cli_type: type | None = None) -> Any:
    """A dataclass field with its CLI help text, optional flag names and the type typer parses."""
    return field(default=default, metadata={"help": help, "flags": flags, "cli_type": cli_type})


def is_number(value: Any) -> bool:
    """A real number (int, float, numpy scalar), not a bool and not a numeric string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python number or bool it holds (records stay JSON); a torch.device as its
    name; anything else as it is."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value) if type(value).__name__ == "device" and hasattr(value, "type") else value


def check_types(options: Any) -> None:
    """One clear error for a value of the wrong kind, as a manifest row or the API can give: a number where
    the default is a number, true or false for a flag, text for text (layers: also a list of names)."""
    for f in fields(options):
        object.__setattr__(options, f.name, plain(getattr(options, f.name)))
        value, default = getattr(options, f.name), f.default
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int | float):
            ok, kind = is_number(value), "a number"
        elif isinstance(default, str):
            names = f.name.endswith("_layers") and isinstance(value, list | tuple)
            ok, kind = isinstance(value, str) or (names and all(isinstance(v, str) for v in value)), "text"
        else:
            continue
        if not ok:
            raise Nst3dError(f"{f.name} must be {kind}, got {value!r}")


def check_choice(label: str, value: Any, choices: Iterable[str]) -> None:
    """One clear error listing the choices unless `value` is one of them."""
    if not isinstance(value, str) or value not in choices:
        raise Nst3dError(f"unknown {label} {value!r}; choose one of {', '.join(choices)}")


def check_positive(name: str, value: float, integer: bool = False, allow_zero: bool = False) -> None:
    """One clear error unless `value` is a finite number > 0 (>= 0 with allow_zero; whole with integer)."""
    number = float(value) if is_number(value) else math.nan
    ok = math.isfinite(number) and (number >= 0 if allow_zero else number > 0)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a whole number" if integer else "a finite number"
        raise Nst3dError(f"{name} must be {kind} {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def parse_floats(text: str | Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    """'0.7,0.3' (or a sequence) -> (0.7, 0.3): finite numbers >= 0."""
    if text is None:
        return None
    try:
        if isinstance(text, str):  # the command line's form
            values = tuple(float(v) for v in text.split(",") if v.strip())
        else:                      # a sequence of numbers: not bools, not numeric strings
            values = tuple(float(v) if is_number(plain(v)) else math.nan for v in text)
    except (TypeError, ValueError):
        raise Nst3dError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise Nst3dError(f"{what} must be finite numbers >= 0, got {text!r}")
    return values


def blend_weights(style_blend: Sequence[float] | None, count: int) -> list[float]:
    """One weight >= 0 per style image (default: equal), not all zero."""
    blend = list(style_blend) if style_blend else [1.0] * count
    if len(blend) != count:
        raise Nst3dError(f"--style-blend has {len(blend)} weights for {count} style images")
    if count and sum(blend) <= 0:
        raise Nst3dError("style blend weights must not all be zero")
    return blend


@dataclass(frozen=True)
class StyleOptions:
    """What both pipelines share: the loss weights and layers, the styles, the network, the seed."""

    steps: int = option(80, "Optimization steps (one VGG forward+backward each).")
    style_weight: float = option(10.0, "Weight of the style loss (the --style-loss distance).")
    content_weight: float = option(1.0, "Weight of the content loss.")
    tv_weight: float = option(0.0, "Total-variation weight (smooths high-frequency noise).")
    style_loss: str = option("gram", STYLE_LOSS_HELP)
    style_layers: str = option("auto", STYLE_LAYERS_HELP)
    content_layers: str = option(DEFAULT_CONTENT_LAYERS, "Comma-separated layers for the content loss.")
    style_blend: tuple[float, ...] | None = option(
        None, "Comma-separated weights for several style images, e.g. 0.7,0.3 (default: equal).",
        cli_type=str)
    style_scale: float = option(1.0, "Style image size relative to the output (larger: bigger brush "
                                "strokes).")
    preserve_colors: bool = option(False, "Keep the content's colors; take only luminance texture from the "
                                   "style.")
    color_match: str = option("auto", COLOR_MATCH_HELP)
    lr: float | None = option(None, "Learning rate.")
    seed: int = option(0, "Random seed: the same seed gives the same result on the same device.")
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP)
    backbone: str = option("auto", "VGG weights: auto (cached vgg19, else offline vgg16-hed, else download "
                           "vgg19), vgg19, vgg16 or vgg16-hed.")
    weights: str | None = option(None, "A torchvision-format VGG16/VGG19 state dict file; overrides "
                                 "--backbone.", cli_type=Path)
    gif_every: int = option(10, "Steps between GIF frames.")

    @property
    def resolved_style_layers(self) -> str:
        """--style-layers, with auto replaced by the --style-loss's default layers."""
        return STYLE_LOSS_LAYERS[self.style_loss] if self.style_layers == "auto" else self.style_layers

    def recolors(self, has_content: bool) -> bool:
        """Whether --color-match applies: on, or auto with nnfm and a content to recolour."""
        if self.color_match == "auto":
            return self.style_loss == "nnfm" and has_content and not self.preserve_colors
        return self.color_match == "on"

    def __post_init__(self) -> None:
        check_types(self)
        if self.weights is not None and not isinstance(self.weights, str | os.PathLike):
            raise Nst3dError(f"weights must be a file path, got {self.weights!r}")
        object.__setattr__(self, "style_blend", parse_floats(self.style_blend, "--style-blend"))
        check_positive("steps", self.steps, integer=True)
        check_choice("style loss", self.style_loss, STYLE_LOSS_LAYERS)
        check_choice("--color-match", self.color_match, COLOR_MATCH)
        check_choice("--precision", self.precision, PRECISIONS)
        if self.color_match == "on" and self.preserve_colors:
            raise Nst3dError("--color-match on and --preserve-colors contradict each other (style colours vs "
                             "the content's): choose one")
        for name in ("style_weight", "content_weight", "tv_weight"):
            check_positive(name, getattr(self, name), allow_zero=True)
        check_positive("style_scale", self.style_scale)
        if self.style_scale > MAX_STYLE_SCALE:
            raise Nst3dError(f"style_scale {self.style_scale} is too large (at most {MAX_STYLE_SCALE})")
        if self.lr is not None:
            check_positive("lr", self.lr)
        check_positive("gif_every", self.gif_every, integer=True, allow_zero=True)
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**63):
            raise Nst3dError(f"--seed must be between 0 and 2**63 - 1, got {self.seed}")


@dataclass(frozen=True)
class ImageOptions(StyleOptions):
    """`nst3d image` / `nst3d.transfer`: a photo painted in a style, coarse to fine."""

    size: int = option(384, "Long side of the output in pixels.")
    scales: int = option(2, "Coarse-to-fine: optimize at this many sizes, each half the next, each starting "
                         "from the previous result (1: single scale).")
    steps: int = option(80, "Optimization steps at each scale (one VGG forward+backward each).")
    optimizer: str = option("lbfgs", "lbfgs (best quality per step) or adam.")
    lr: float | None = option(None, "Learning rate. Default: 1.0 for lbfgs, 0.02 for adam.")
    init: str = option("content", "Starting image: content, noise or style (the first style image).")
    save_every: int = option(0, "Write the current image to the output every N steps (0: only at the end).")
    gif_every: int = option(10, "Steps between GIF frames (used with --gif).")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("size", self.size, integer=True)
        check_positive("scales", self.scales, integer=True)
        check_positive("save_every", self.save_every, integer=True, allow_zero=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("init", self.init, IMAGE_INITS)
        if self.content_weight == 0 and self.style_weight == 0 and self.tv_weight == 0:
            raise Nst3dError("all loss weights are zero: nothing to optimize")
        if self.size > MAX_IMAGE_SIZE:
            raise Nst3dError(f"size {self.size} is too large (at most {MAX_IMAGE_SIZE})")


@dataclass(frozen=True)
class ExperimentOptions(ImageOptions):
    """The classic single-scale experiments: from white noise, at 256 px, for 300 steps."""

    size: int = option(256, "Long side of the output in pixels.")
    steps: int = option(300, "Optimization steps.")
    scales: int = option(1, "Coarse-to-fine scales (1: single scale, the classic experiment).")
    init: str = option("noise", "Starting image: noise (the classic experiment), content or style.")


@dataclass(frozen=True)
class ReconstructOptions(ExperimentOptions):
    """`nst3d reconstruct` / `nst3d.reconstruct`: white noise optimized to match a photo's features."""

    content_layers: str = option(DEFAULT_CONTENT_LAYERS, "Comma-separated layers to match, e.g. conv_4 or "
                                 "relu1_2,relu2_2. Early layers reproduce the photo; deep layers keep the "
                                 "layout but lose the exact texture.", "--layers")
    style_weight: float = option(0.0, "Weight of the style loss (reconstruction has none).")


@dataclass(frozen=True)
class TextureOptions(ExperimentOptions):
    """`nst3d texture` / `nst3d.synthesize_texture`: white noise optimized to match a style's Grams."""

    style_layers: str = option("auto", STYLE_LAYERS_HELP, "--layers", "--style-layers")
    style_weight: float = option(1.0, "Weight of the style loss (the --style-loss distance).")
    content_weight: float = option(0.0, "Weight of the content loss (synthesis has none).")


@dataclass(frozen=True)
class MeshOptions(StyleOptions):
    """`nst3d mesh` / `nst3d.stylize_mesh`: a mesh's UV texture optimized from random views."""

    steps: int = option(180, "Optimization steps (each renders --views-per-step views).")
    texture_size: int = option(512, f"Side of the square output texture, in texels ({MIN_TEXTURE_SIZE} to "
                               f"{MAX_TEXTURE_SIZE}).")
    render_size: int = option(256, f"Side of each rendered view fed to VGG, in pixels ({MIN_RENDER_SIZE} to "
                              f"{MAX_RENDER_SIZE}).")
    views_per_step: int = option(2, "Random views per step.")
    bank_size: int = option(64, "Random training cameras, rasterized once and drawn from at each step.")
    elevation: tuple[float, float] = option((-15.0, 45.0), "Range of camera elevations in degrees: MIN MAX.")
    distance: float = option(2.7, "Camera distance (the mesh is scaled to fit the unit sphere); jittered by "
                             "+-10%.")
    fov: float = option(40.0, "Vertical field of view in degrees; jittered by +-5.")
    content_weight: float = option(1.0, "Weight of keeping the mesh's own texture (content loss on "
                                   "renders); ignored without one. Higher keeps more of its features "
                                   "(eyes, patches) at less style: on Spot, 2 and 4 bring the content "
                                   "distance down 13% and 24% for a 9% and 33% larger style distance "
                                   "(README: Spot's face).")
    tv_weight: float = option(50.0, "Total-variation weight on the rendered surface (silhouettes excluded): "
                              "removes pixel-level speckle.")
    seam_weight: float = option(1000.0, "Weight of keeping colors equal on both sides of UV seams (0: off).")
    style_scale: float = option(1.0, "Style image size relative to --render-size, for a view from --distance "
                                "with --fov (larger: bigger brush strokes on the mesh).")
    preserve_colors: bool = option(False, "Keep the original texture's colors; take only luminance texture "
                                   "from the style.")
    color_match: str = option("auto", MESH_COLOR_MATCH_HELP)
    init: str = option("auto", "Start texture: original (the mesh's own), gray or noise; auto = original if "
                       "the mesh has a texture, else gray.")
    lr: float | None = option(None, "Adam learning rate (texture in logit space). Default: "
                              f"{MESH_LR['original']} from the mesh's own texture (its small features, "
                              f"such as eyes, outlast the first steps), {MESH_LR['other']} from gray or "
                              "noise (everything is still to paint).")
    supersample: int = option(1, "Render at this many times the size and box-filter down (antialiasing; "
                              "denser texture gradients).")
    coarse_fraction: float = option(0.5556, "Fraction of the steps rendered at half --render-size, before "
                                    "the rest at full size (the network costs about a quarter there; 0: all "
                                    "at full size).")
    crop: bool = option(True, "Run the network only on the part of each training view that the object "
                        "covers (same pixel density, so the same strokes; background pixels cost nothing).",
                        "--crop/--no-crop")
    surface_strokes: bool = option(True, "Scale the style per training view by how large the surface "
                                   "appears in it (camera distance and field of view), so strokes keep one "
                                   "size on the surface; --screen-strokes: one size in every render.",
                                   "--surface-strokes/--screen-strokes")
    mipmap: bool = option(True, "Trilinear mip-mapped texture sampling (antialiasing for minified "
                          "textures).", "--mipmap/--no-mipmap")
    levels: int = option(4, "Laplacian-pyramid levels of the texture parameterization (1: plain texels).")
    average_decay: float = option(0.9, "Export the exponential moving average of the texture over the steps, "
                                  "with this decay (iterate averaging cancels the jitter of random views; 0: "
                                  "the last step's texture).")
    gif_every: int = option(10, "Steps between progress.gif frames (0: none).")
    seed: int = option(0, "Random seed (views, noise init): the same seed gives the same result on the CPU, "
                       "and nearly the same on CUDA, where texture gradients are summed atomically.")

    def resolved_lr(self, init: str) -> float:
        """--lr, or its default for the start texture `init` ('original', 'gray' or 'noise')."""
        if self.lr is not None:
            return self.lr
        return MESH_LR["original" if init == "original" else "other"]

    def recolors(self, has_content: bool) -> bool:
        """Whether --color-match applies: on, or auto with a texture to recolour (any loss)."""
        if self.color_match == "auto":
            return has_content and not self.preserve_colors
        return self.color_match == "on"

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            elevation = () if isinstance(self.elevation, str) else tuple(plain(v) for v in self.elevation)
        except TypeError:  # not a sequence
            elevation = ()
        if len(elevation) != 2 or not all(is_number(v) for v in elevation):
            raise Nst3dError(f"elevation must be two numbers, MIN MAX, got {self.elevation!r}")
        object.__setattr__(self, "elevation", elevation)
        for name in ("texture_size", "render_size", "views_per_step", "supersample", "levels", "bank_size"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("seam_weight", self.seam_weight, allow_zero=True)
        if not any((self.style_weight, self.content_weight, self.tv_weight, self.seam_weight)):
            raise Nst3dError("all loss weights are zero: nothing to optimize")
        for name in ("distance", "fov"):
            check_positive(name, getattr(self, name))
        self._check_ranges()

    def _check_ranges(self) -> None:
        """Bounds that keep a run meaningful and within memory."""
        if not MIN_TEXTURE_SIZE <= self.texture_size <= MAX_TEXTURE_SIZE:
            raise Nst3dError(f"texture size {self.texture_size} must be between {MIN_TEXTURE_SIZE} and "
                             f"{MAX_TEXTURE_SIZE}")
        if not 0 <= self.coarse_fraction < 1:
            raise Nst3dError(f"coarse fraction {self.coarse_fraction} must be >= 0 and < 1")
        if not 0 <= self.average_decay < 1:
            raise Nst3dError(f"average decay {self.average_decay} must be >= 0 and < 1")
        if self.supersample > MAX_SUPERSAMPLE:
            raise Nst3dError(f"supersample {self.supersample} is too large (at most {MAX_SUPERSAMPLE}: it "
                             f"costs supersample^2 times the render work and memory)")
        if not MIN_RENDER_SIZE <= self.render_size <= MAX_RENDER_SIZE:
            raise Nst3dError(f"render size {self.render_size} must be between {MIN_RENDER_SIZE} and "
                             f"{MAX_RENDER_SIZE}")
        if not 10 <= self.fov <= 150:
            raise Nst3dError(f"fov {self.fov} must be between 10 and 150 degrees (it is jittered by +-5)")
        low, high = self.elevation
        if not (-90 <= low <= high <= 90):
            raise Nst3dError(f"elevation range {self.elevation} must be MIN <= MAX within -90..90 degrees")
        check_choice("init", self.init, MESH_INITS)


# `nst3d mesh --preset`: starting points that the other flags then change (minutes on this 2-core CPU,
# Spot with a 512² texture; see the README's Performance section)
MESH_PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"steps": 100, "coarse_fraction": 0.6667, "texture_size": 256},
    "default": {},
    "high": {"steps": 400, "coarse_fraction": 0.5, "texture_size": 1024},
}


def mesh_preset(name: str) -> MeshOptions:
    """The MeshOptions of a preset: draft (a first look), default, or high (a final)."""
    check_choice("preset", name, MESH_PRESETS)
    return MeshOptions(**MESH_PRESETS[name])


Options = TypeVar("Options", bound=StyleOptions)


def make_options(kind: type[Options], base: Options | None = None, **overrides: Any) -> Options:
    """`base` (default: kind's defaults) with `overrides`; an unknown name is a one-line error."""
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise Nst3dError(f"unknown option {unknown[0]!r}; known options: {', '.join(sorted(known))}")
    if base is None:
        return kind(**overrides)
    return replace(base, **overrides)


@dataclass(frozen=True)
class RenderOptions:
    """`nst3d render`: one view as an image, or a turntable as a GIF or MP4."""

    size: int = option(512, "Width and height of the output in pixels.")
    distance: float = option(2.8, "Camera distance from the mesh center, in mesh radii.")
    elevation: float = option(15.0, "Camera height angle in degrees (0: level, 90: from straight above).")
    azimuth: float = option(30.0, "Single view only: camera angle around the vertical axis in degrees (0: "
                            "seen from +Z, 90: from +X).")
    fov: float = option(40.0, "Vertical field of view in degrees.")
    frames: int = option(36, "Turntable only: number of frames in one turn.")
    fps: float = option(12.0, f"Turntable only: frames per second ({MIN_FPS:g} to {MAX_FPS:g}; GIF at most "
                        "50: its frame delays are whole 1/100 s).")
    lit: bool = option(True, "Lit: ambient light plus a light from the upper left. Unlit: the plain texture "
                       "colors.", "--lit/--unlit")
    background: str = option("white", "Background color: a name, #rrggbb or r,g,b; 'none' for a transparent "
                             "PNG.")
    supersample: int = option(1, "Render N times larger and average down: smoother edges, N^2 times the "
                              "work.")
    device: str = option("auto", DEVICE_HELP)

    def __post_init__(self) -> None:
        check_types(self)
        checks = [(_between(self.size, 16, 4096, integer=True), f"--size {self.size}: use 16 to 4096 pixels"),
                  (_between(self.distance, 0, MAX_DISTANCE) and self.distance > 0,
                   f"--distance {self.distance}: use a number > 0 and <= {MAX_DISTANCE:g} (the mesh fits the "
                   "unit sphere)"),
                  (_between(self.elevation, -90, 90), f"--elevation {self.elevation}: use -90 to 90 degrees"),
                  (_between(self.azimuth, -MAX_ANGLE, MAX_ANGLE),
                   f"--azimuth {self.azimuth}: use a finite number of degrees within +-{MAX_ANGLE:g}"),
                  (_between(self.fov, 0, 180) and 0 < self.fov < 180,
                   f"--fov {self.fov}: use a vertical field of view between 0 and 180 degrees"),
                  (_between(self.frames, 1, MAX_FRAMES, integer=True), f"--frames {self.frames}: use 1 to "
                   f"{MAX_FRAMES}"),
                  (_between(self.fps, MIN_FPS, MAX_FPS), f"--fps {self.fps}: use {MIN_FPS:g} to {MAX_FPS:g}"),
                  (_between(self.supersample, 1, MAX_SUPERSAMPLE, integer=True),
                   f"--supersample {self.supersample}: use 1 to {MAX_SUPERSAMPLE}")]
        for ok, message in checks:
            if not ok:
                raise Nst3dError(message)


def _between(value: float, low: float, high: float, integer: bool = False) -> bool:
    """A finite number within [low, high] (and whole, with integer)."""
    if not is_number(value):
        return False
    number = float(value)
    return math.isfinite(number) and low <= number <= high and (not integer or number.is_integer())
