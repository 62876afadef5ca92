"""3D style transfer: optimize a mesh's UV texture so renders from random viewpoints carry a style.

One step: draw `views_per_step` views from a bank rasterized once (geometry is fixed, so per-pixel UVs
and their screen-space derivatives are cached), sample the current texture there (mip-mapped, at
`supersample` x the render size, then box-filtered), and take the same losses as the 2D pipeline on the
renders: a masked Gram style loss (background positions excluded from the statistics) and, when the mesh
has a texture, a content loss against renders of the original texture from the same cameras. The texture
is a Laplacian pyramid in logit space (see texture_param.py); Adam updates it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nst3d import features as feats
from nst3d import losses
from nst3d.errors import Nst3dError
from nst3d.image import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    blend_weights,
    check_positive,
    check_style_scale,
    keep_content_colors,
    parse_weighted_layers,
    resize_long_side,
)
from nst3d.io import save_gif, staged_directory, to_uint8
from nst3d.mesh import Mesh, ensure_uvs, export_glb, export_obj, load_mesh, normalize, uv_coverage_mask
from nst3d.mesh.uvraster import nearest_covered
from nst3d.optimize import IterateAverage, optimize
from nst3d.records import write_record
from nst3d.render.camera import Cameras, orbit_cameras, random_views
from nst3d.render.shade import composite, interpolate, rasterize_mesh, sample_texture, uv_derivatives
from nst3d.runtime import fast_bf16, notice, resolve_device, seed_everything, synchronize
from nst3d.seams import sample_points, seam_points
from nst3d.texture_param import PyramidTexture
from nst3d.turntable import turntable_frames

MESH_INITS = ("auto", "original", "gray", "noise")
HELDOUT_VIEWS = 8
EVAL_SUPERSAMPLE = 2
MIN_TEXTURE_SIZE = 16
OUTPUT_FILES = ("mesh.obj", "mesh.mtl", "texture.png", "mesh.glb", "turntable.gif", "progress.gif",
                "run.json")  # everything write_mesh_outputs can write
MAX_TEXTURE_SIZE = 8192
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


def stylize_mesh(mesh: str | Path | Mesh, styles: Sequence[torch.Tensor], *,
                 texture: str | Path | None = None, steps: int = 300, texture_size: int = 512,
                 render_size: int = 256, views_per_step: int = 2,
                 elevation: tuple[float, float] = (-15.0, 45.0), distance: float = 2.7, fov: float = 40.0,
                 style_weight: float = 10.0, content_weight: float = 1.0, tv_weight: float = 50.0,
                 seam_weight: float = 1000.0,
                 style_blend: Sequence[float] | None = None, style_scale: float = 1.0,
                 preserve_colors: bool = False, init: str = "auto", lr: float = 0.05, seed: int = 0,
                 device: str = "auto", backbone: str = "auto", weights: str | None = None,
                 style_layers: str | Sequence[str] = DEFAULT_STYLE_LAYERS,
                 content_layers: str | Sequence[str] = DEFAULT_CONTENT_LAYERS, gif_every: int = 10,
                 supersample: int = 1, mipmap: bool = True, levels: int = 4, bank_size: int = 64,
                 average_decay: float = 0.9, progress: bool = True) -> MeshResult:
    """Stylize the UV texture of `mesh` (a path or a Mesh) with one or more style images (1, 3, H, W).

    Returns the new texture (texture_size square), the mesh with UVs (unwrapped if it had none),
    progress frames (a fixed front view every `gif_every` steps) and a record with parameters, backbone,
    seed, timings, loss history and the held-out style distance before and after.
    """
    params = {k: v for k, v in locals().items() if k not in ("mesh", "styles")}
    for name in ("steps", "texture_size", "render_size", "views_per_step", "supersample", "levels",
                 "bank_size"):
        check_positive(name, params[name], integer=True)
    for name in ("style_weight", "content_weight", "tv_weight", "seam_weight"):
        check_positive(name, params[name], allow_zero=True)
    for name in ("lr", "distance", "fov"):
        check_positive(name, params[name])
    check_style_scale(style_scale)
    check_positive("gif_every", gif_every, integer=True, allow_zero=True)
    if not MIN_TEXTURE_SIZE <= texture_size <= MAX_TEXTURE_SIZE:
        raise Nst3dError(f"texture size {texture_size} must be between {MIN_TEXTURE_SIZE} and "
                         f"{MAX_TEXTURE_SIZE}")
    if not 0 <= average_decay < 1:
        raise Nst3dError(f"average decay {average_decay} must be >= 0 and < 1")
    if supersample > 8:
        raise Nst3dError(f"supersample {supersample} is too large (at most 8: it costs supersample^2 times "
                         f"the render work and memory)")
    if render_size > 4096 or render_size < 32:
        raise Nst3dError(f"render size {render_size} must be between 32 and 4096")
    if not 10 <= fov <= 150:
        raise Nst3dError(f"fov {fov} must be between 10 and 150 degrees (it is jittered by +-5)")
    if not (-90 <= elevation[0] <= elevation[1] <= 90):
        raise Nst3dError(f"elevation range {elevation} must be MIN <= MAX within -90..90 degrees")
    if init not in MESH_INITS:
        raise Nst3dError(f"unknown init {init!r}; choose one of {', '.join(MESH_INITS)}")
    if not styles:
        raise Nst3dError("at least one style image is needed")
    blend = blend_weights(style_blend, len(styles))

    started = time.perf_counter()
    timer = {"render": 0.0, "network": 0.0, "optimizer": 0.0, "setup": 0.0, "evaluation": 0.0}
    dev = resolve_device(device)
    generator = seed_everything(seed)
    torch.backends.cudnn.benchmark = False
    source = prepare_mesh(mesh, texture)
    original = source.texture
    if init == "auto":
        init = "original" if original is not None else "gray"
    if init == "original" and original is None:
        raise Nst3dError("--init original needs a textured mesh (this one has no texture); use gray or noise")
    use_content = original is not None and content_weight > 0
    if preserve_colors and original is None:
        notice("--preserve-colors has no effect: the mesh has no texture whose colors could be kept")
    view_mesh = normalize(source).to(dev)

    bone = feats.load_backbone(backbone, weights)
    style_w = parse_weighted_layers(style_layers, bone.arch)
    content_w = parse_weighted_layers(content_layers, bone.arch) if use_content else {}
    net = feats.FeatureNet(bone, list(style_w) + list(content_w), bf16=fast_bf16(dev)).to(dev)

    with torch.no_grad():
        grams = []
        for style in styles:
            found = net(resize_long_side(style, max(32, round(render_size * style_scale))).to(dev))
            grams.append({k: losses.gram(found[k]) for k in style_w})
        style_targets = losses.blend_grams(grams, blend)
        background = torch.stack([s.mean((0, 2, 3)) for s in styles]).mean(0).to(dev)  # (3,)

    distances = (0.9 * distance, 1.1 * distance)
    bank = build_view_bank(view_mesh, random_views(bank_size, generator, elevation, distances,
                                                   (fov - 5, fov + 5)), render_size, supersample)
    # Held-out views always use the reference renderer (mip-mapped, 2x supersampled), whatever the
    # training renders use, so that antialiasing choices are judged by what a good viewer shows.
    heldout = build_view_bank(view_mesh, heldout_cameras(distance, fov, dev), render_size, EVAL_SUPERSAMPLE)
    front = build_view_bank(view_mesh, orbit_cameras(distance, 15.0, 0.0, fov, device=dev), render_size,
                            supersample)
    if not bank.faces_seen.any():
        raise Nst3dError("the mesh is not visible from any view; check --distance and --fov")
    if not mipmap:
        bank.uv_da = front.uv_da = None

    if init == "original":
        start = F.interpolate(original[None], size=(texture_size, texture_size), mode="bilinear",
                              antialias=True, align_corners=False)
    elif init == "gray":
        start = torch.full((1, 3, texture_size, texture_size), 0.5)
    else:
        start = torch.rand((1, 3, texture_size, texture_size), generator=generator)
    param = PyramidTexture(start.to(dev), levels)
    fill = island_fill_index(view_mesh, texture_size)
    seam_one, seam_two = (p.to(dev) for p in seam_points(view_mesh))

    def current_texture() -> torch.Tensor:
        """The optimized texture with every texel outside the islands copied from the nearest inside."""
        return param().flatten(2)[:, :, fill].view(1, 3, texture_size, texture_size)
    original_tex = None if original is None else original[None].to(dev)
    content_cache: dict[int, dict[str, torch.Tensor]] = {}

    def content_targets(index: torch.Tensor) -> dict[str, torch.Tensor]:
        missing = [i for i in index.tolist() if i not in content_cache]
        if missing:
            with torch.no_grad():
                rgb, _ = shade_views(original_tex, bank, torch.tensor(missing, device=dev), background,
                                     supersample)
                found = net(rgb)
            for j, i in enumerate(missing):
                content_cache[i] = {k: found[k][j:j + 1] for k in content_w}
        return {k: torch.cat([content_cache[i][k] for i in index.tolist()]) for k in content_w}

    def evaluate(views: ViewBank, texture: torch.Tensor) -> float:
        """Mean masked Gram style distance over views (the held-out quality measure)."""
        with torch.no_grad():
            rgb, mask = shade_views(texture, views, torch.arange(len(views), device=dev), background,
                                    EVAL_SUPERSAMPLE)
            per_layer = losses.style_loss(net(rgb), style_targets, style_w, mask)
        return float(sum(v.mean() for v in per_layer.values()) / sum(style_w.values()))

    timer["setup"] = time.perf_counter() - started
    t0 = time.perf_counter()
    heldout_initial = evaluate(heldout, current_texture().detach())
    timer["evaluation"] += time.perf_counter() - t0

    def objective() -> tuple[torch.Tensor, dict[str, float]]:
        t_start = time.perf_counter()
        index = torch.randint(len(bank), (views_per_step,), generator=generator).to(dev)
        texture = current_texture()
        rgb, mask = shade_views(texture, bank, index, background, supersample)
        synchronize(dev)
        t_rendered = time.perf_counter()
        found = net(rgb)
        style = sum(v.mean() for v in losses.style_loss(found, style_targets, style_w, mask).values())
        total = style_weight * style / sum(style_w.values())
        terms = {"style": float(style.detach()) / sum(style_w.values())}
        if use_content:
            per_layer = losses.content_loss(found, content_targets(index), mask)
            content = sum(content_w[k] * v.mean() for k, v in per_layer.items()) / sum(content_w.values())
            total = total + content_weight * content
            terms["content"] = float(content.detach())
        if seam_weight > 0 and len(seam_one):
            seam = (sample_points(texture, seam_one) - sample_points(texture, seam_two)).pow(2).sum(1).mean()
            total = total + seam_weight * seam
            terms["seam"] = float(seam.detach())
        if tv_weight > 0:
            tv = losses.tv_loss(rgb, mask).mean()
            total = total + tv_weight * tv
            terms["tv"] = float(tv.detach())
        synchronize(dev)
        t_network = time.perf_counter()
        timer["render"] += t_rendered - t_start
        timer["network"] += t_network - t_rendered
        def backward_reached_render(grad: torch.Tensor) -> None:
            synchronize(dev)
            timer["_hook"] = time.perf_counter()

        rgb.register_hook(backward_reached_render)
        timer["_fwd_end"] = t_network
        return total, terms

    def front_frame(texture: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            rgb, _ = shade_views(texture, front, torch.zeros(1, dtype=torch.long, device=dev), background,
                                 supersample)
        return to_uint8(rgb)

    frames = [front_frame(current_texture())] if gif_every else []

    average = IterateAverage(average_decay)

    def on_step(step: int) -> None:
        with torch.no_grad():
            average.update(current_texture())  # decay 0 keeps just the last step's texture
        # backward ran between the end of objective() and now: network part until the hook on rgb fired
        timer["network"] += timer["_hook"] - timer["_fwd_end"]
        if gif_every and step % gif_every == 0 and step < steps:
            frames.append(front_frame(current_texture()))

    run = optimize(list(param.parameters()), objective, steps, optimizer="adam", lr=lr, callback=on_step,
                   keep_best=False, description="stylizing texture", progress=progress)
    timer["render"] += run.eval_seconds - (timer["render"] + timer["network"])  # sampling's backward
    timer["optimizer"] = run.seconds - run.eval_seconds - run.callback_seconds
    with torch.no_grad():
        final = current_texture().detach() if average.value is None else average.value
        if preserve_colors and original_tex is not None:
            final = keep_content_colors(final, original_tex)
    t0 = time.perf_counter()
    heldout_final = evaluate(heldout, final)
    timer["evaluation"] += time.perf_counter() - t0
    if gif_every:
        frames.append(front_frame(final))

    record = {
        "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "backbone": net.backbone_name, "arch": net.arch, "device": str(dev),
        "layers": {"style": style_w, "content": content_w},
        "mesh": {"faces": source.num_faces, "vertices": source.num_vertices,
                 "had_texture": original is not None, "init": init,
                 "faces_visible": int(bank.faces_seen.sum())},
        "pyramid_levels": len(param.levels),  # --levels, capped so the coarsest level keeps 4 texels
        "heldout_style_distance": {"initial": heldout_initial, "final": heldout_final,
                                   "ratio": heldout_final / max(heldout_initial, 1e-12)},
        "timings": {**{k: v for k, v in timer.items() if not k.startswith("_")},
                    "optimization_seconds": run.seconds, "seconds_per_step": run.seconds / max(1, len(
                        run.history)), "total_seconds": time.perf_counter() - started},
        "history": [{k: round(v, 6) for k, v in h.items()} for h in run.history],
        "interrupted": run.interrupted,
        "diverged": run.diverged,
    }
    if run.diverged:
        notice("the optimization diverged; the exported texture is the one before that (try a lower --lr)")
    return MeshResult(final[0].cpu(), source, frames, record, run.interrupted)


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
        frames = turntable_frames(normalize(result.mesh).to(dev), frames=TURNTABLE_FRAMES,
                                  size=TURNTABLE_SIZE, lit=True, texture=result.texture[None].to(dev),
                                  **camera)
        save_gif(frames, stage / "turntable.gif", fps=12, final_hold=0)
        if result.frames:
            save_gif(result.frames, stage / "progress.gif", fps=8)
        timings = {**result.record["timings"], "export_seconds": time.perf_counter() - started}
        timings["end_to_end_seconds"] = timings["total_seconds"] + timings["export_seconds"]
        record = {"inputs": inputs or {}, **result.record, "timings": timings}
        write_record(record, stage / "run.json")
        written = [name for name in OUTPUT_FILES if (stage / name).exists()]
    return written
