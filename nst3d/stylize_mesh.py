"""3D style transfer: optimize a mesh's UV texture so renders from random viewpoints carry a style.

One step: draw `views_per_step` views from a bank rasterized once (geometry is fixed, so per-pixel UVs
and their screen-space derivatives are cached), sample the current texture there (mip-mapped, at
`supersample` x the render size, then box-filtered), and take the same losses as the 2D pipeline on the
renders: a masked Gram style loss (background positions excluded from the statistics) and, when the mesh
has a texture, a content loss against renders of the original texture from the same cameras. The texture
is a Laplacian pyramid in logit space (see texture_param.py); Adam updates it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.gaussian import color_stats, match_colors
from nst3d.io import save_gif, save_image, staged_directory, to_uint8
from nst3d.mesh import Mesh, ensure_uvs, export_glb, export_obj, load_mesh, normalize, uv_coverage_mask
from nst3d.mesh.uvraster import nearest_covered
from nst3d.optimize import IterateAverage, LoopSettings, OptimizeResult, optimize
from nst3d.options import MeshOptions, blend_weights, make_options
from nst3d.records import write_record
from nst3d.render.camera import Cameras, orbit_cameras, random_views, turntable_views
from nst3d.render.shade import mip_pyramid
from nst3d.report.run import write_mesh_report
from nst3d.runtime import interrupt_held, notice, resolve_device, seed_everything
from nst3d.seams import sample_points, seam_points
from nst3d.style import (
    FeatureSetup,
    StyleLoss,
    content_features,
    keep_content_colors,
    load_feature_net,
    resize_long_side,
    style_distance,
    style_targets,
)
from nst3d.texture_param import PyramidTexture
from nst3d.timing import Clock
from nst3d.turntable import save_view_grids, turntable_frames
from nst3d.views import ViewBank, apparent_scale, build_view_bank, object_boxes, select_views, shade_views

HELDOUT_VIEWS = 8
EVAL_SUPERSAMPLE = 2
MIN_STYLE_SIDE = 32
MIN_COARSE_SIZE = 64     # no coarse stage below this: VGG's deeper layers would see a few positions
CROP_MARGIN = 8          # pixels kept around the silhouette at 256² (VGG sees the edge as in a full view)
STROKE_STEPS = 4         # --surface-strokes rounds each view's style scale to quarter octaves
OUTPUT_FILES = ("mesh.obj", "mesh.mtl", "texture.png", "mesh.glb", "turntable.gif", "progress.gif",
                "original_texture.png", "heldout_before.png", "heldout_after.png", "run.json",
                "report.html")  # everything write_mesh_outputs can write
TURNTABLE_FRAMES = 36
TURNTABLE_SIZE = 384


@dataclass
class MeshResult:
    """The stylized texture, the mesh it belongs to, progress frames and a JSON-ready record."""

    texture: torch.Tensor      # (3, T, T) in [0, 1], CPU
    mesh: Mesh                 # the input mesh (original coordinates) with UVs
    frames: list[np.ndarray] = field(default_factory=list)
    record: dict = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C stopped the steps
    stop_requested: bool = False  # Ctrl-C came after the last step: the result is whole, the caller stops


def island_fill_index(mesh: Mesh, size: int) -> torch.Tensor:
    """(T*T,) index of the nearest texel inside a UV island, for every texel (inside ones map to themselves).

    Rendering through this gather means lookups at island borders, and coarse mip levels, never read
    texels outside the islands: no dark fringes or color bleeding at seams.
    """
    coverage = uv_coverage_mask(mesh, (size, size)).cpu()
    if not coverage.any():
        raise Nst3dError("the mesh's UVs cover no texel of [0, 1]^2 (tiled or out-of-range UVs are not "
                         "supported); remove them from the file to get a fresh atlas")
    _, rows, cols = nearest_covered(coverage)
    return (rows * size + cols).flatten().to(mesh.vertices.device)


def heldout_cameras(distance: float, fov: float, device: torch.device) -> Cameras:
    """Fixed evaluation views at two elevations around the mesh, not among the (random) training views."""
    azimuth = torch.arange(HELDOUT_VIEWS, dtype=torch.float32) * (360.0 / HELDOUT_VIEWS) + 22.5
    elevation = torch.tensor([5.0, 30.0]).repeat(HELDOUT_VIEWS // 2)
    return orbit_cameras(distance, elevation, azimuth, fov, device=device)


def report_cameras(distance: float, fov: float, device: torch.device) -> Cameras:
    """Four of the held-out views for the report's before/after (two sides, both elevations): half the
    rasterization of all eight, which is most of what the report costs on a large mesh."""
    cameras = heldout_cameras(distance, fov, device)
    pick = torch.tensor([0, 1, 4, 5], device=device)
    return Cameras(*(t[pick] for t in cameras))


def prepare_mesh(mesh: str | Path | Mesh, texture: str | Path | None = None) -> Mesh:
    """Load (if a path) and make sure the mesh has UVs; coordinates stay as the user gave them."""
    if not isinstance(mesh, Mesh):
        mesh = load_mesh(mesh, texture)
    elif texture is not None:
        raise Nst3dError("give a texture path only with a mesh path; set Mesh.texture instead")
    if mesh.num_faces == 0:
        raise Nst3dError("the mesh has no faces")
    return ensure_uvs(mesh)


@dataclass
class MeshScene:
    """What is fixed over a run: the mesh (as given, and normalized on the device) and its cameras."""

    source: Mesh                # as given (original coordinates), with UVs
    mesh: Mesh                  # normalized to the unit sphere, on the device
    cameras: Cameras            # the random training cameras (every stage renders these)
    heldout: ViewBank           # fixed evaluation views (reference renderer)
    front: ViewBank             # the progress GIF's view
    background: torch.Tensor    # (3,) the styles' mean color behind the object
    original: torch.Tensor | None  # (1, 3, H, W) the mesh's own texture (colour-matched), on the device
    strokes: list[float]        # style scale factors the training views use (1.0 first: held-out views)
    stroke_of: torch.Tensor     # (N,) index into `strokes` of each training camera


@dataclass
class Stage:
    """One render size of the schedule: its (cropped) training views, style targets and content cache."""

    size: int                   # render size, pixels
    steps: int                  # how many steps render at this size
    bank: ViewBank
    losses: list[StyleLoss]     # one per scene.strokes factor: style targets at that scale
    boxes: torch.Tensor | None = None   # (N, 4) object boxes of the bank's views (with --crop)
    content_cache: dict[tuple, dict[str, torch.Tensor]] = field(default_factory=dict)


def build_scene(source: Mesh, styles: Sequence[torch.Tensor], blend: Sequence[float], opts: MeshOptions,
                device: torch.device, generator: torch.Generator) -> MeshScene:
    """Normalize the mesh, draw the training cameras (and their stroke scales), rasterize the held-out and
    progress views."""
    mesh = normalize(source).to(device)
    distances = (0.9 * opts.distance, 1.1 * opts.distance)
    cameras = random_views(opts.bank_size, generator, opts.elevation, distances, (opts.fov - 5, opts.fov + 5))
    # Held-out views always use the reference renderer (mip-mapped, 2x supersampled), whatever the
    # training renders use, so that antialiasing choices are judged by what a good viewer shows.
    heldout = build_view_bank(mesh, heldout_cameras(opts.distance, opts.fov, device), opts.render_size,
                              EVAL_SUPERSAMPLE)
    front = build_view_bank(mesh, orbit_cameras(opts.distance, 15.0, 0.0, opts.fov, device=device),
                            opts.render_size, opts.supersample)
    if not opts.mipmap:
        front.uv_da = None
    background = torch.stack([s.mean((0, 2, 3)) for s in styles]).mean(0).to(device)  # (3,)
    original = None if source.texture is None else source.texture[None].to(device)
    if original is not None and opts.recolors(True):
        original = recolor(original, mesh, styles, blend)
    cameras = Cameras(*(t.to(device) for t in cameras))
    strokes, stroke_of = stroke_scales(cameras, opts)
    return MeshScene(source, mesh, cameras, heldout, front, background, original, strokes, stroke_of)


def stroke_scales(cameras: Cameras, opts: MeshOptions) -> tuple[list[float], torch.Tensor]:
    """With --surface-strokes, each training view's style is scaled by how large the surface appears in it
    (nearer or narrower views: larger strokes in pixels, so the same size on the surface), rounded to
    quarter octaves -> (the factors, 1.0 first; (N,) factor index per camera). Without: all 1.0."""
    count = len(cameras.eye)
    if not opts.surface_strokes:
        return [1.0], torch.zeros(count, dtype=torch.long, device=cameras.eye.device)
    steps = torch.round(torch.log2(apparent_scale(cameras, opts.distance, opts.fov)) * STROKE_STEPS)
    used = [0, *sorted(set(steps.long().tolist()) - {0})]          # quarter octaves, 1.0 (step 0) first
    index = torch.tensor([used.index(step) for step in steps.long().tolist()], device=cameras.eye.device)
    return [2.0 ** (step / STROKE_STEPS) for step in used], index


def recolor(image: torch.Tensor, mesh: Mesh, styles: Sequence[torch.Tensor], blend: Sequence[float]
            ) -> torch.Tensor:
    """--color-match: a texture (1, 3, H, W) mapped to the styles' colour statistics, measured over the
    texels inside the UV islands."""
    inside = uv_coverage_mask(mesh, tuple(image.shape[-2:])).to(image.device)[None, None].float()
    return match_colors(image, color_stats(styles, blend), inside)


def schedule(opts: MeshOptions) -> list[tuple[int, int]]:
    """(render size, steps) per stage: --coarse-fraction of the steps at half --render-size, then full."""
    coarse_steps = round(opts.steps * opts.coarse_fraction)
    if coarse_steps == 0 or opts.render_size // 2 < MIN_COARSE_SIZE:
        return [(opts.render_size, opts.steps)]
    return [(opts.render_size // 2, coarse_steps), (opts.render_size, opts.steps - coarse_steps)]


def build_stage(scene: MeshScene, styles: Sequence[torch.Tensor], size: int, steps: int, opts: MeshOptions,
                setup: FeatureSetup, blend: Sequence[float]) -> Stage:
    """Rasterize the training views at `size` (cut to the object with --crop) and the style targets there."""
    bank = build_view_bank(scene.mesh, scene.cameras, size, opts.supersample)
    if not bank.faces_seen.any():
        raise Nst3dError("the mesh is not visible from any view; check --distance and --fov")
    margin = max(1, round(CROP_MARGIN * size / 256)) * opts.supersample
    boxes = object_boxes(bank, margin, opts.supersample).cpu() if opts.crop else None
    if not opts.mipmap:
        bank.uv_da = None
    device = scene.mesh.vertices.device
    per_stroke = []
    for factor in scene.strokes:
        side = max(MIN_STYLE_SIDE, round(size * opts.style_scale * factor))
        targets = style_targets(setup.net, [resize_long_side(s, side).to(device) for s in styles],
                                setup.style_layers, blend, opts.style_loss, opts.seed)
        per_stroke.append(StyleLoss(setup, targets, opts.style_weight, opts.content_weight))
    return Stage(size, steps, bank, per_stroke, boxes)


def resolve_init(opts: MeshOptions, source: Mesh) -> str:
    """'auto' -> original for a textured mesh, else gray; 'original' needs a texture."""
    if opts.init == "auto":
        return "original" if source.texture is not None else "gray"
    if opts.init == "original" and source.texture is None:
        raise Nst3dError("--init original needs a textured mesh (this one has no texture); use gray or noise")
    return opts.init


def start_texture(init: str, size: int, original: torch.Tensor | None,
                  generator: torch.Generator) -> torch.Tensor:
    """The first texture (1, 3, size, size): the original resized, flat gray, or noise."""
    if init == "original":
        return F.interpolate(original.cpu(), size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False)
    if init == "gray":
        return torch.full((1, 3, size, size), 0.5)
    return torch.rand((1, 3, size, size), generator=generator)


class MeshObjective:
    """One step's loss: random training views of the current texture at the current stage's size, scored
    by the style core, plus the seam and TV terms. It runs its own backward, split at the renders so the
    clock can tell the network's share from the renderer's."""

    def __init__(self, scene: MeshScene, stages: list[Stage], param: PyramidTexture, opts: MeshOptions,
                 generator: torch.Generator, clock: Clock):
        self.scene, self.stages, self.param, self.opts = scene, stages, param, opts
        self.generator, self.clock = generator, clock
        self.stage = stages[0]
        self.setup = stages[0].losses[0].setup
        self.fill = island_fill_index(scene.mesh, opts.texture_size)
        self.seam_one, self.seam_two = (p.to(scene.mesh.vertices.device) for p in seam_points(scene.mesh))
        self.use_content = scene.original is not None and opts.content_weight > 0
        self.original_mip: list[torch.Tensor] | None = None  # the original's mip_pyramid, once needed
        self.deck: list[int] = []  # training views still to draw before the bank is reshuffled

    def texture(self) -> torch.Tensor:
        """The optimized texture (1, 3, T, T); texels outside the islands are copies of the nearest inside."""
        size = self.opts.texture_size
        return self.param().flatten(2)[:, :, self.fill].view(1, 3, size, size)

    def render(self, texture: torch.Tensor, views: ViewBank, index: torch.Tensor, supersample: int,
               mip: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Unlit renders (B, 3, H, W) of `texture` (its `mip_pyramid`: `mip`) for `views[index]` over the
        background, and masks."""
        return shade_views(texture, views, index, self.scene.background, supersample, mip)

    def draw(self, count: int) -> torch.Tensor:
        """The next `count` training views (bank indices): the bank in a shuffled order, reshuffled once all
        were drawn, so every view trains equally often (independent draws leave some views for a stage)."""
        picks = []
        while len(picks) < count:
            if not self.deck:
                self.deck = torch.randperm(len(self.scene.cameras.eye), generator=self.generator).tolist()
            picks.append(self.deck.pop())
        return torch.tensor(picks, device=self.scene.mesh.vertices.device)

    def after_step(self, step: int) -> None:
        """Move to the next stage of the schedule when this one's steps are done."""
        done = 0
        for stage in self.stages:
            done += stage.steps
            if step < done:
                self.stage = stage
                return

    def content_targets(self, index: torch.Tensor, window: tuple[int, int] | None) -> dict[str, torch.Tensor]:
        """Features of the original texture's renders for these views, in the same windows (computed once
        per view, window size and stage)."""
        if not self.use_content:
            return {}
        layers, cache, stage = self.setup.content_layers, self.stage.content_cache, self.stage
        missing = [i for i in index.tolist() if (i, window) not in cache]
        if missing:
            wanted = torch.tensor(missing, device=index.device)
            if window is None:
                views, where = stage.bank, wanted
            else:  # each missing view alone, in a window of this size
                views, where, _ = select_views(stage.bank, wanted, _sized(stage.boxes, wanted, window),
                                               self.opts.supersample)
            if self.original_mip is None and views.uv_da is not None:
                self.original_mip = mip_pyramid(self.scene.original)
            rgb, _ = self.render(self.scene.original, views, where, self.opts.supersample, self.original_mip)
            found = content_features(self.setup.net, rgb, layers)
            for j, i in enumerate(missing):
                cache[(i, window)] = {k: found[k][j:j + 1] for k in layers}
        return {k: torch.cat([cache[(i, window)][k] for i in index.tolist()]) for k in layers}

    def __call__(self) -> tuple[torch.Tensor, dict[str, float]]:
        opts, stage = self.opts, self.stage
        with self.clock("render"):
            index = self.draw(opts.views_per_step)
            texture = self.texture()
            mip = None if stage.bank.uv_da is None else mip_pyramid(texture)  # once for the step's views
        # Cropped views go through the network one by one on the CPU (each in its own window: the least
        # pixels); on a GPU, and uncropped, the step's views go together, one group per stroke scale.
        alone = stage.boxes is not None and index.device.type == "cpu"
        stroke = self.scene.stroke_of[index]
        groups = [index[j:j + 1] for j in range(len(index))] if alone else [
            index[stroke == k] for k in torch.unique(stroke).tolist()]
        total, named, renders = texture.new_zeros(()), {}, []
        for group in groups:
            part, terms, rgb, grad = self.score(texture, mip, group, len(group) / len(index))
            total = total + part
            named = {k: named.get(k, 0) + v for k, v in terms.items()}
            if grad is not None:
                renders.append((rgb, grad))
        with self.clock("render"):
            seam = self.seam_backward(texture, named, renders)
        terms = {k: float(v.detach()) for k, v in named.items() if "/" not in k}
        return (total + seam).detach(), terms

    def score(self, texture: torch.Tensor, mip: list[torch.Tensor] | None, index: torch.Tensor, share: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Render views `index` of `texture` (mip-mapped with `mip`), score them and backpropagate through
        the network (weighted by their `share` of the step) -> (weighted loss, weighted terms, renders,
        the renders' gradient)."""
        opts, stage = self.opts, self.stage
        with self.clock("render"):
            views, where, window = select_views(stage.bank, index, stage.boxes, opts.supersample)
            rgb, mask = self.render(texture, views, where, opts.supersample, mip)
        pixels = rgb.detach().requires_grad_(True)
        with self.clock("network"):
            loss = stage.losses[int(self.scene.stroke_of[index[0]])]
            total, named = loss(self.setup.net(pixels), self.content_targets(index, window), mask)
            if opts.tv_weight > 0:
                named["tv"] = losses.tv_loss(pixels, mask).mean()
                total = total + opts.tv_weight * named["tv"]
            if share != 1:
                total, named = total * share, {k: v * share for k, v in named.items()}
            if total.requires_grad:
                total.backward()
        return total.detach(), {k: v.detach() for k, v in named.items()}, rgb, pixels.grad

    def seam_backward(self, texture: torch.Tensor, named: dict[str, torch.Tensor],
                      renders: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Add the seam term, then one backward through the renderer for the renders' gradients and the
        seam term together -> the weighted seam loss."""
        seam = texture.new_zeros(())
        outputs, grads = [rgb for rgb, _ in renders], [grad for _, grad in renders]
        if self.opts.seam_weight > 0 and len(self.seam_one):  # a mesh without UV seams has no seam term
            named["seam"] = (sample_points(texture, self.seam_one) -
                             sample_points(texture, self.seam_two)).pow(2).sum(1).mean()
            seam = self.opts.seam_weight * named["seam"]
            outputs, grads = [*outputs, seam], [*grads, None]
        if outputs:
            torch.autograd.backward(outputs, grads)
        return seam.detach()

    @torch.no_grad()
    def evaluate(self, texture: torch.Tensor) -> float:
        """Mean masked style distance (the run's --style-loss) over the held-out views, at full size."""
        views = self.scene.heldout
        rgb, mask = self.render(texture, views, torch.arange(len(views), device=texture.device),
                                EVAL_SUPERSAMPLE)
        targets = self.stages[-1].losses[0].style_targets  # held-out views are at the nominal scale
        return float(style_distance(self.setup.net(rgb), targets, mask)[0])

    @torch.no_grad()
    def frame(self, texture: torch.Tensor) -> np.ndarray:
        """The progress GIF's view of `texture`, as uint8 (h, w, 3)."""
        index = torch.zeros(1, dtype=torch.long, device=texture.device)
        return to_uint8(self.render(texture, self.scene.front, index, self.opts.supersample)[0])


Monitor = Callable[[int, "MeshObjective", torch.Tensor], None]


@dataclass
class TextureRecorder:
    """After each step: fold the texture into the iterate average, a progress frame when due, the next
    stage of the schedule, and the caller's monitor (e.g. a benchmark's quality curve)."""

    objective: MeshObjective
    average: IterateAverage
    monitor: Monitor | None = None
    frames: list[np.ndarray] = field(default_factory=list)

    def __call__(self, step: int) -> None:
        with torch.no_grad():
            texture = self.objective.texture()
            self.average.update(texture)  # decay 0 keeps just the last step's texture
        every = self.objective.opts.gif_every
        if every and step % every == 0 and step < self.objective.opts.steps:
            self.frames.append(self.objective.frame(texture))
        self.objective.after_step(step)
        if self.monitor is not None:
            self.monitor(step, self.objective, self.average.value)


def _set_up(mesh: str | Path | Mesh, styles: Sequence[torch.Tensor], texture: str | Path | None,
            opts: MeshOptions, device: torch.device) -> tuple[MeshObjective, str]:
    """Mesh, network, cameras, schedule stages and texture parameters -> the objective and the init used."""
    blend = blend_weights(opts.style_blend, len(styles))
    generator = seed_everything(opts.seed)
    torch.backends.cudnn.benchmark = False
    source = prepare_mesh(mesh, texture)
    init = resolve_init(opts, source)
    if opts.preserve_colors and source.texture is None:
        notice("--preserve-colors has no effect: the mesh has no texture whose colors could be kept")
    setup = load_feature_net(opts, device, use_content=source.texture is not None and opts.content_weight > 0)
    scene = build_scene(source, styles, blend, opts, device, generator)
    stages = [build_stage(scene, styles, size, steps, opts, setup, blend) for size, steps in schedule(opts)]
    start = start_texture(init, opts.texture_size, scene.original, generator).to(device)
    if opts.recolors(source.texture is not None) and init != "original":  # the original: with the scene
        start = recolor(start, scene.mesh, styles, blend)
    param = PyramidTexture(start, opts.levels)
    return MeshObjective(scene, stages, param, opts, generator, Clock(device)), init


def stylize_mesh(mesh: str | Path | Mesh, styles: Sequence[torch.Tensor], options: MeshOptions | None = None,
                 *, texture: str | Path | None = None, progress: bool = True, monitor: Monitor | None = None,
                 **overrides) -> MeshResult:
    """Stylize the UV texture of `mesh` (a path or a Mesh) with one or more style images (1, 3, H, W).

    `options` (or keyword overrides of its fields) are `nst3d mesh`'s flags; `texture` replaces the
    mesh's own; `monitor(step, objective, averaged texture)` runs after every step. Returns the new texture
    (texture_size square), the mesh with UVs (unwrapped if it had none), progress frames (a fixed front
    view every `gif_every` steps) and a record with parameters, backbone, seed, timings, loss history and
    the held-out style distance before and after.
    """
    opts = make_options(MeshOptions, options, **overrides)
    if not styles:
        raise Nst3dError("at least one style image is needed")
    started = time.perf_counter()
    device = resolve_device(opts.device)
    objective, init = _set_up(mesh, styles, texture, opts, device)
    clock = objective.clock
    clock.seconds["setup"] = time.perf_counter() - started
    with clock("evaluation"):
        heldout_initial = objective.evaluate(objective.texture().detach())
    recorder = TextureRecorder(objective, IterateAverage(opts.average_decay), monitor)
    if opts.gif_every:
        recorder.frames.append(objective.frame(objective.texture()))
    loop = LoopSettings(opts.steps, "adam", opts.resolved_lr(init), keep_best=False,
                        description="stylizing texture", progress=progress)
    run = optimize(list(objective.param.parameters()), objective, loop, callback=recorder)
    with interrupt_held(already=run.interrupted) as held:  # a Ctrl-C from here on still delivers it
        with torch.no_grad():
            final = objective.texture().detach() if recorder.average.value is None else recorder.average.value
            if opts.preserve_colors and objective.scene.original is not None:
                final = keep_content_colors(final, objective.scene.original)
        with clock("evaluation"):
            heldout = {"initial": heldout_initial, "final": objective.evaluate(final)}
        if opts.gif_every:
            recorder.frames.append(objective.frame(final))
    if run.diverged:
        notice("the optimization diverged; the exported texture is the one before that (try a lower --lr)")
    record = _record(objective, init, run, heldout, started)
    return MeshResult(final[0].cpu(), objective.scene.source, recorder.frames, record, run.interrupted,
                      bool(held))


def _sized(boxes: torch.Tensor, index: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """The boxes of `index` with their size set to `window`, so each view alone is cut to that window."""
    sized = boxes.clone()
    sized[index.cpu(), 2], sized[index.cpu(), 3] = window
    return sized


def _cropped_area(stage: Stage) -> float:
    """Mean share of a full view that the network sees for one view (1.0 without --crop)."""
    if stage.boxes is None:
        return 1.0
    h, w = stage.bank.mask.shape[-2:]
    return float((stage.boxes[:, 2] * stage.boxes[:, 3]).float().mean() / (h * w))


def _record(objective: MeshObjective, init: str, run: OptimizeResult, heldout: dict[str, float],
            started: float) -> dict:
    """The JSON-ready record of a mesh run: parameters, network, mesh facts, quality, timings, history."""
    scene, setup, clock = objective.scene, objective.setup, objective.clock
    timings = {name: clock.seconds.get(name, 0.0) for name in ("render", "network", "setup", "evaluation")}
    timings["optimizer"] = run.seconds - run.eval_seconds - run.callback_seconds
    return {
        "parameters": dataclasses.asdict(objective.opts),
        "backbone": setup.net.backbone_name, "arch": setup.net.arch,
        "precision": setup.net.precision,
        "device": str(scene.mesh.vertices.device),
        "style_loss": objective.opts.style_loss,
        "layers": {"style": setup.style_layers, "content": setup.content_layers},
        "stroke_scales": objective.scene.strokes,
        "mesh": {"faces": scene.source.num_faces, "vertices": scene.source.num_vertices,
                 "had_texture": scene.original is not None, "init": init,
                 "lr": objective.opts.resolved_lr(init),
                 "faces_visible": int(objective.stages[-1].bank.faces_seen.sum())},
        "schedule": [{"render_size": s.size, "steps": s.steps, "cropped_area": _cropped_area(s)}
                     for s in objective.stages],
        "pyramid_levels": len(objective.param.levels),  # --levels, capped: the coarsest level keeps 4 texels
        "heldout_style_distance": {**heldout, "ratio": heldout["final"] / max(heldout["initial"], 1e-12)},
        "timings": {**timings, "optimization_seconds": run.seconds,
                    "seconds_per_step": run.seconds / max(1, len(run.history)),
                    "total_seconds": time.perf_counter() - started},
        "history": [{k: round(v, 6) for k, v in h.items()} for h in run.history],
        "interrupted": run.interrupted,
        "diverged": run.diverged,
    }


def write_mesh_outputs(result: MeshResult, outdir: str | Path, force: bool = False,
                       inputs: dict | None = None) -> list[str]:
    """Write OUTPUT_FILES into `outdir` (progress.gif only if the result has frames, original_texture.png
    only if the mesh had a texture; report.html last, from the others) -> the names written."""
    started = time.perf_counter()
    with staged_directory(outdir, force, owned=OUTPUT_FILES) as stage:
        export_obj(result.mesh, result.texture, stage / "mesh.obj", mtl_name="mesh.mtl",
                   texture_name="texture.png")
        export_glb(result.mesh, result.texture, stage / "mesh.glb")
        dev = torch.device(result.record["device"])  # render the turntable where the run ran
        camera = {k: result.record["parameters"][k] for k in ("distance", "fov")}  # framed as in training
        views = turntable_views(TURNTABLE_FRAMES, device=dev, **camera)
        shown, texture = normalize(result.mesh).to(dev), result.texture[None].to(dev)
        frames = turntable_frames(shown, views, TURNTABLE_SIZE, lit=True, texture=texture)
        save_gif(frames, stage / "turntable.gif", fps=12, final_hold=0)
        heldout = report_cameras(camera["distance"], camera["fov"], dev)  # the report's before / after:
        save_view_grids(shown, heldout, {stage / "heldout_before.png": None,  # own texture, or none
                                         stage / "heldout_after.png": texture})
        if result.mesh.texture is not None:
            save_image(result.mesh.texture[None], stage / "original_texture.png")
        if result.frames:
            save_gif(result.frames, stage / "progress.gif", fps=8)
        timings = {**result.record["timings"], "export_seconds": time.perf_counter() - started}
        timings["end_to_end_seconds"] = timings["total_seconds"] + timings["export_seconds"]
        record = {"inputs": inputs or {}, **result.record, "timings": timings}
        write_record(record, stage / "run.json")
        write_mesh_report(stage)
        written = [name for name in OUTPUT_FILES if (stage / name).exists()]
    return written
