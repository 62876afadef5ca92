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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.io import save_gif, staged_directory, to_uint8
from nst3d.mesh import Mesh, ensure_uvs, export_glb, export_obj, load_mesh, normalize, uv_coverage_mask
from nst3d.mesh.uvraster import nearest_covered
from nst3d.optimize import IterateAverage, LoopSettings, OptimizeResult, optimize
from nst3d.options import MeshOptions, blend_weights, make_options
from nst3d.records import write_record
from nst3d.render.camera import Cameras, orbit_cameras, random_views, turntable_views
from nst3d.render.shade import composite, interpolate, rasterize_mesh, sample_texture, uv_derivatives
from nst3d.runtime import notice, resolve_device, seed_everything
from nst3d.seams import sample_points, seam_points
from nst3d.style import (
    StyleLoss,
    content_features,
    gram_targets,
    keep_content_colors,
    load_feature_net,
    resize_long_side,
    style_distance,
)
from nst3d.texture_param import PyramidTexture
from nst3d.timing import Clock
from nst3d.turntable import turntable_frames

HELDOUT_VIEWS = 8
EVAL_SUPERSAMPLE = 2
MIN_STYLE_SIDE = 32
OUTPUT_FILES = ("mesh.obj", "mesh.mtl", "texture.png", "mesh.glb", "turntable.gif", "progress.gif",
                "run.json")  # everything write_mesh_outputs can write
TURNTABLE_FRAMES = 36
TURNTABLE_SIZE = 384


@dataclass
class ViewBank:
    """Cached rasterization of fixed views: what the texture sampler needs, per view."""

    uv: torch.Tensor       # (N, h, w, 2) at supersampled resolution
    uv_da: torch.Tensor    # (N, h, w, 2, 2) screen-space UV derivatives (mip level selection)
    mask: torch.Tensor     # (N, 1, h, w) float, 1 on the mesh
    faces_seen: torch.Tensor  # (F,) bool, faces visible in at least one view

    def __len__(self) -> int:
        return self.uv.shape[0]


@dataclass
class MeshResult:
    """The stylized texture, the mesh it belongs to, progress frames and a JSON-ready record."""

    texture: torch.Tensor      # (3, T, T) in [0, 1], CPU
    mesh: Mesh                 # the input mesh (original coordinates) with UVs
    frames: list[np.ndarray] = field(default_factory=list)
    record: dict = field(default_factory=dict)
    interrupted: bool = False


def build_view_bank(mesh: Mesh, cameras: Cameras, size: int, supersample: int, chunk: int = 8) -> ViewBank:
    """Rasterize `mesh` (normalized, with UVs) for all cameras, `chunk` views at a time."""
    uvs, uv_das, masks = [], [], []
    seen = torch.zeros(mesh.num_faces, dtype=torch.bool, device=mesh.faces.device)
    for start in range(0, cameras.eye.shape[0], chunk):
        part = Cameras(*(t[start:start + chunk] for t in cameras))
        frags = rasterize_mesh(mesh, part, size, supersample, derivatives=True)
        uvs.append(interpolate(mesh.uvs, mesh.face_uvs, frags))
        uv_das.append(uv_derivatives(mesh.uvs, mesh.face_uvs, frags))
        masks.append((frags.face_id >= 0)[:, None].float())
        seen[frags.face_id[frags.face_id >= 0].unique()] = True
    return ViewBank(torch.cat(uvs), torch.cat(uv_das), torch.cat(masks), seen)


def shade_views(texture: torch.Tensor, bank: ViewBank, index: torch.Tensor, background: torch.Tensor,
                supersample: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unlit renders (B, 3, H, W) of `texture` (1, 3, T, T) for bank views `index`, and their masks.

    Only covered pixels are sampled (the texture lookup and its backward dominate the render cost).
    """
    mask = bank.mask[index]                                                    # (B, 1, h, w)
    covered = mask[:, 0] > 0                                                   # (B, h, w)
    uv = bank.uv[index][covered].view(1, 1, -1, 2)                            # (1, 1, P, 2)
    uv_da = None if bank.uv_da is None else bank.uv_da[index][covered].view(1, 1, -1, 2, 2)
    colors = sample_texture(texture, uv, uv_da)[0, :, 0]                       # (3, P)
    return composite(colors.T, covered, background, supersample)


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
    """What is fixed over a run: the mesh (as given, and normalized on the device) and its view banks."""

    source: Mesh                # as given (original coordinates), with UVs
    mesh: Mesh                  # normalized to the unit sphere, on the device
    bank: ViewBank              # random training views
    heldout: ViewBank           # fixed evaluation views (reference renderer)
    front: ViewBank             # the progress GIF's view
    background: torch.Tensor    # (3,) the styles' mean color behind the object
    original: torch.Tensor | None  # (1, 3, H, W) the mesh's own texture, on the device


def build_scene(source: Mesh, styles: Sequence[torch.Tensor], opts: MeshOptions, device: torch.device,
                generator: torch.Generator) -> MeshScene:
    """Normalize the mesh and rasterize its training, held-out and progress views once."""
    mesh = normalize(source).to(device)
    distances = (0.9 * opts.distance, 1.1 * opts.distance)
    cameras = random_views(opts.bank_size, generator, opts.elevation, distances, (opts.fov - 5, opts.fov + 5))
    bank = build_view_bank(mesh, cameras, opts.render_size, opts.supersample)
    # Held-out views always use the reference renderer (mip-mapped, 2x supersampled), whatever the
    # training renders use, so that antialiasing choices are judged by what a good viewer shows.
    heldout = build_view_bank(mesh, heldout_cameras(opts.distance, opts.fov, device), opts.render_size,
                              EVAL_SUPERSAMPLE)
    front = build_view_bank(mesh, orbit_cameras(opts.distance, 15.0, 0.0, opts.fov, device=device),
                            opts.render_size, opts.supersample)
    if not bank.faces_seen.any():
        raise Nst3dError("the mesh is not visible from any view; check --distance and --fov")
    if not opts.mipmap:
        bank.uv_da = front.uv_da = None
    background = torch.stack([s.mean((0, 2, 3)) for s in styles]).mean(0).to(device)  # (3,)
    original = None if source.texture is None else source.texture[None].to(device)
    return MeshScene(source, mesh, bank, heldout, front, background, original)


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
    """One step's loss: random bank views of the current texture, scored by the style core, plus the
    seam and TV terms. It runs its own backward, split at the renders so the clock can tell the network's
    share from the renderer's."""

    def __init__(self, scene: MeshScene, param: PyramidTexture, loss: StyleLoss, opts: MeshOptions,
                 generator: torch.Generator, clock: Clock):
        self.scene, self.param, self.loss, self.opts = scene, param, loss, opts
        self.generator, self.clock = generator, clock
        self.fill = island_fill_index(scene.mesh, opts.texture_size)
        self.seam_one, self.seam_two = (p.to(scene.mesh.vertices.device) for p in seam_points(scene.mesh))
        self.use_content = scene.original is not None and opts.content_weight > 0
        self.content_cache: dict[int, dict[str, torch.Tensor]] = {}

    def texture(self) -> torch.Tensor:
        """The optimized texture (1, 3, T, T); texels outside the islands are copies of the nearest inside."""
        size = self.opts.texture_size
        return self.param().flatten(2)[:, :, self.fill].view(1, 3, size, size)

    def render(self, texture: torch.Tensor, views: ViewBank, index: torch.Tensor,
               supersample: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Unlit renders (B, 3, H, W) of `texture` for `views[index]` over the background, and masks."""
        return shade_views(texture, views, index, self.scene.background, supersample)

    def content_targets(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of the original texture's renders for these bank views (computed once per view)."""
        if not self.use_content:
            return {}
        layers = self.loss.setup.content_layers
        missing = [i for i in index.tolist() if i not in self.content_cache]
        if missing:
            views = torch.tensor(missing, device=index.device)
            rgb, _ = self.render(self.scene.original, self.scene.bank, views, self.opts.supersample)
            found = content_features(self.loss.setup.net, rgb, layers)
            for j, i in enumerate(missing):
                self.content_cache[i] = {k: found[k][j:j + 1] for k in layers}
        return {k: torch.cat([self.content_cache[i][k] for i in index.tolist()]) for k in layers}

    def __call__(self) -> tuple[torch.Tensor, dict[str, float]]:
        opts, device = self.opts, self.scene.mesh.vertices.device
        with self.clock("render"):
            index = torch.randint(len(self.scene.bank), (opts.views_per_step,), generator=self.generator)
            index = index.to(device)
            texture = self.texture()
            rgb, mask = self.render(texture, self.scene.bank, index, opts.supersample)
        pixels = rgb.detach().requires_grad_(True)
        with self.clock("network"):
            total, named = self.loss(self.loss.setup.net(pixels), self.content_targets(index), mask)
            if opts.tv_weight > 0:
                named["tv"] = losses.tv_loss(pixels, mask).mean()
                total = total + opts.tv_weight * named["tv"]
            if total.requires_grad:
                total.backward()
        with self.clock("render"):
            seam = texture.new_zeros(())
            outputs, grads = ([rgb], [pixels.grad]) if pixels.grad is not None else ([], [])
            if opts.seam_weight > 0 and len(self.seam_one):  # a mesh without UV seams has no seam term
                named["seam"] = (sample_points(texture, self.seam_one) -
                                 sample_points(texture, self.seam_two)).pow(2).sum(1).mean()
                seam = opts.seam_weight * named["seam"]
                outputs, grads = [*outputs, seam], [*grads, None]
            if outputs:
                torch.autograd.backward(outputs, grads)
        terms = {k: float(v.detach()) for k, v in named.items() if "/" not in k}
        return (total + seam).detach(), terms

    @torch.no_grad()
    def evaluate(self, texture: torch.Tensor) -> float:
        """Mean masked Gram style distance over the held-out views (the quality measure)."""
        views = self.scene.heldout
        rgb, mask = self.render(texture, views, torch.arange(len(views), device=texture.device),
                                EVAL_SUPERSAMPLE)
        setup = self.loss.setup
        return float(style_distance(setup.net(rgb), self.loss.style_targets, setup.style_layers, mask)[0])

    @torch.no_grad()
    def frame(self, texture: torch.Tensor) -> np.ndarray:
        """The progress GIF's view of `texture`, as uint8 (h, w, 3)."""
        index = torch.zeros(1, dtype=torch.long, device=texture.device)
        return to_uint8(self.render(texture, self.scene.front, index, self.opts.supersample)[0])


@dataclass
class TextureRecorder:
    """After each step: fold the texture into the iterate average, and a progress frame when due."""

    objective: MeshObjective
    average: IterateAverage
    frames: list[np.ndarray] = field(default_factory=list)

    def __call__(self, step: int) -> None:
        with torch.no_grad():
            texture = self.objective.texture()
            self.average.update(texture)  # decay 0 keeps just the last step's texture
        every = self.objective.opts.gif_every
        if every and step % every == 0 and step < self.objective.opts.steps:
            self.frames.append(self.objective.frame(texture))


def stylize_mesh(mesh: str | Path | Mesh, styles: Sequence[torch.Tensor], options: MeshOptions | None = None,
                 *, texture: str | Path | None = None, progress: bool = True, **overrides) -> MeshResult:
    """Stylize the UV texture of `mesh` (a path or a Mesh) with one or more style images (1, 3, H, W).

    `options` (or keyword overrides of its fields) are `nst3d mesh`'s flags; `texture` replaces the
    mesh's own. Returns the new texture (texture_size square), the mesh with UVs (unwrapped if it had
    none), progress frames (a fixed front view every `gif_every` steps) and a record with parameters,
    backbone, seed, timings, loss history and the held-out style distance before and after.
    """
    opts = make_options(MeshOptions, options, **overrides)
    if not styles:
        raise Nst3dError("at least one style image is needed")
    blend = blend_weights(opts.style_blend, len(styles))
    started = time.perf_counter()
    device = resolve_device(opts.device)
    clock = Clock(device)
    with clock("setup"):
        generator = seed_everything(opts.seed)
        torch.backends.cudnn.benchmark = False
        source = prepare_mesh(mesh, texture)
        init = resolve_init(opts, source)
        if opts.preserve_colors and source.texture is None:
            notice("--preserve-colors has no effect: the mesh has no texture whose colors could be kept")
        use_content = source.texture is not None and opts.content_weight > 0
        setup = load_feature_net(opts, device, use_content=use_content)
        side = max(MIN_STYLE_SIDE, round(opts.render_size * opts.style_scale))
        targets = gram_targets(setup.net, [resize_long_side(s, side).to(device) for s in styles],
                               setup.style_layers, blend)
        scene = build_scene(source, styles, opts, device, generator)
        param = PyramidTexture(start_texture(init, opts.texture_size, scene.original, generator).to(device),
                               opts.levels)
        loss = StyleLoss(setup, targets, opts.style_weight, opts.content_weight)
        objective = MeshObjective(scene, param, loss, opts, generator, clock)
    with clock("evaluation"):
        heldout_initial = objective.evaluate(objective.texture().detach())
    recorder = TextureRecorder(objective, IterateAverage(opts.average_decay))
    if opts.gif_every:
        recorder.frames.append(objective.frame(objective.texture()))
    loop = LoopSettings(opts.steps, "adam", opts.lr, keep_best=False, description="stylizing texture",
                        progress=progress)
    run = optimize(list(param.parameters()), objective, loop, callback=recorder)
    with torch.no_grad():
        final = objective.texture().detach() if recorder.average.value is None else recorder.average.value
        if opts.preserve_colors and scene.original is not None:
            final = keep_content_colors(final, scene.original)
    with clock("evaluation"):
        heldout = {"initial": heldout_initial, "final": objective.evaluate(final)}
    if opts.gif_every:
        recorder.frames.append(objective.frame(final))
    if run.diverged:
        notice("the optimization diverged; the exported texture is the one before that (try a lower --lr)")
    record = _record(objective, init, run, heldout, clock, started)
    return MeshResult(final[0].cpu(), source, recorder.frames, record, run.interrupted)


def _record(objective: MeshObjective, init: str, run: OptimizeResult, heldout: dict[str, float],
            clock: Clock, started: float) -> dict:
    """The JSON-ready record of a mesh run: parameters, network, mesh facts, quality, timings, history."""
    scene, setup = objective.scene, objective.loss.setup
    timings = {name: clock.seconds.get(name, 0.0) for name in ("render", "network", "setup", "evaluation")}
    timings["optimizer"] = run.seconds - run.eval_seconds - run.callback_seconds
    return {
        "parameters": dataclasses.asdict(objective.opts),
        "backbone": setup.net.backbone_name, "arch": setup.net.arch,
        "device": str(scene.mesh.vertices.device),
        "layers": {"style": setup.style_layers, "content": setup.content_layers},
        "mesh": {"faces": scene.source.num_faces, "vertices": scene.source.num_vertices,
                 "had_texture": scene.original is not None, "init": init,
                 "faces_visible": int(scene.bank.faces_seen.sum())},
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
    """Write OUTPUT_FILES into `outdir` (progress.gif only if the result has frames) -> the names written."""
    started = time.perf_counter()
    with staged_directory(outdir, force, owned=OUTPUT_FILES) as stage:
        export_obj(result.mesh, result.texture, stage / "mesh.obj", mtl_name="mesh.mtl",
                   texture_name="texture.png")
        export_glb(result.mesh, result.texture, stage / "mesh.glb")
        dev = torch.device(result.record["device"])  # render the turntable where the run ran
        camera = {k: result.record["parameters"][k] for k in ("distance", "fov")}  # framed as in training
        views = turntable_views(TURNTABLE_FRAMES, device=dev, **camera)
        frames = turntable_frames(normalize(result.mesh).to(dev), views, TURNTABLE_SIZE, lit=True,
                                  texture=result.texture[None].to(dev))
        save_gif(frames, stage / "turntable.gif", fps=12, final_hold=0)
        if result.frames:
            save_gif(result.frames, stage / "progress.gif", fps=8)
        timings = {**result.record["timings"], "export_seconds": time.perf_counter() - started}
        timings["end_to_end_seconds"] = timings["total_seconds"] + timings["export_seconds"]
        record = {"inputs": inputs or {}, **result.record, "timings": timings}
        write_record(record, stage / "run.json")
        written = [name for name in OUTPUT_FILES if (stage / name).exists()]
    return written
