"""3D benchmark: `nst3d mesh` end to end on Spot, and the measurements behind its default choices.

    python benchmarks/bench_mesh.py                  # everything (~50 min on a 2-core CPU)
    python benchmarks/bench_mesh.py --only speed     # today's schedule vs the new one: quality over time
    python benchmarks/bench_mesh.py --only seeds     # final quality over seeds (~15 min)
    python benchmarks/bench_mesh.py --only ablations # parameterization / antialiasing / seam choices
    python benchmarks/bench_mesh.py --only layout    # VGG on a CPU: fp32 / bf16, NCHW / channels_last

The end-to-end case runs the CLI at its defaults three times (the same result each time) and reports
the median run's time split from run.json, the quality measures below, the content distance to the
original texture on held-out views (relative relu4_2 error between renders of the result and of the
original texture) and how many visible texels end where they started. The speed section runs the
previous schedule (300 steps of 2 full 256² views) and the new defaults in one run, and prints the
held-out style distance against wall-clock seconds every 10% of each run (evaluation time excluded),
and the visible texels that never moved; then the new defaults on a thin ring, whose views are mostly
background. The seeds section scores both schedules' final texture over four seeds (cameras and views
are random: one seed is one draw).
The ablations run shorter optimizations (100 steps, 256² texture, 128² renders) that differ in one
choice each, and report the held-out style distance (fixed cameras never used during optimization; final
/ initial), the seam contrast (seam / ordinary edge color jumps) and the speckle ratio (pixel-level noise
of the held-out renders over that of the painting at the same size).
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import time
from pathlib import Path

import torch
from harness import cpu_ticks, in_subprocess, parse_args, steal_share

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def inputs() -> tuple[Path, Path | None, Path]:
    """Spot (+ its texture) and Starry Night when ../shared/data exists, else the repo's torus and swirls."""
    if SHARED.exists():
        spot = SHARED / "meshes" / "spot"
        style = SHARED / "styles" / "starry_night.jpg"
        return spot / "spot_triangulated.obj", spot / "spot_texture.png", style
    return ROOT / "meshes" / "torus.obj", None, ROOT / "styles" / "swirls.jpg"


# the schedule before #11 (and before #12's colour matching and surface strokes)
PREVIOUS = {"steps": 300, "coarse_fraction": 0.0, "crop": False, "lr": 0.05, "color_match": "off",
            "surface_strokes": False}


def original_distance(device: str) -> float:
    """Held-out style distance of the mesh's own texture: the start of the #11 target's ratio (the
    default run starts from a colour-matched copy, whose distance is lower)."""
    from nst3d.io import load_image
    from nst3d.stylize_mesh import stylize_mesh

    mesh, texture, style = inputs()
    record = stylize_mesh(mesh, [load_image(style)], texture=texture, steps=1, color_match="off",
                          gif_every=0, progress=False, device=device).record
    return record["heldout_style_distance"]["initial"]


def content_distance(mesh, texture: torch.Tensor, original: torch.Tensor | None,
                     size: int = 256) -> float | None:
    """Relative relu4_2 error between held-out renders of `texture` and of the original texture."""
    if original is None:
        return None
    from nst3d import features
    from nst3d.losses import content_loss
    from nst3d.mesh import normalize
    from nst3d.render import render
    from nst3d.stylize_mesh import heldout_cameras

    net = features.FeatureNet(features.load_backbone("vgg16-hed"), ["relu4_2"])
    cameras, surface = heldout_cameras(2.7, 40.0, texture.device), normalize(mesh)
    new, mask = render(surface, cameras, size, texture=texture[None], supersample=2, lit=False)
    old, _ = render(surface, cameras, size, texture=original[None], supersample=2, lit=False)
    with torch.no_grad():
        return float(content_loss(net(new), {"relu4_2": net(old)["relu4_2"]}, mask)["relu4_2"].mean())


def visible_texels(mesh, size: int) -> torch.Tensor:
    """(size, size) bool: texels that some pixel shows, over 3 elevations x 24 azimuths at 512² (the
    training cameras' range and distance)."""
    from nst3d.mesh import normalize
    from nst3d.render import orbit_cameras
    from nst3d.render.shade import interpolate, rasterize_mesh

    surface, seen = normalize(mesh), torch.zeros(size * size, dtype=torch.bool)
    for elevation in (-15.0, 15.0, 45.0):
        cameras = orbit_cameras(2.7, elevation, torch.arange(24.0) * 15, 40.0)
        frags = rasterize_mesh(surface, cameras, 512, derivatives=False)
        uv = interpolate(surface.uvs, surface.face_uvs, frags)[frags.face_id >= 0]        # (P, 2)
        col = (uv[:, 0] * size).long().clamp(0, size - 1)
        row = ((1 - uv[:, 1]) * size).long().clamp(0, size - 1)
        seen[row * size + col] = True
    return seen.view(size, size)


def color_matched_start(mesh, original: torch.Tensor, style: torch.Tensor, size: int) -> torch.Tensor:
    """The texture a default run starts from (3, size, size): the original colour-matched to the style,
    resized, clamped as the logit parameterization clamps it."""
    from nst3d.stylize_mesh import recolor
    from nst3d.texture_param import LOGIT_EPS

    start = torch.nn.functional.interpolate(recolor(original[None], mesh, [style], [1.0]), size=(size, size),
                                            mode="bilinear", antialias=True, align_corners=False)[0]
    return start.clamp(LOGIT_EPS, 1 - LOGIT_EPS)


def untouched(mesh, texture: torch.Tensor, original: torch.Tensor | None,
              style: torch.Tensor) -> dict | None:
    """Visible texels whose final colour is within 1/255 (and 2/255) of the colour-matched start, in every
    channel. Moved texels land that close by chance too: about 1/8 of the 2/255 count (three channels,
    each ending near its start with a density that is flat at that scale); far more than that means a
    patch the optimization did not reach. Whether a texel moved at all is the speed section's count."""
    if original is None:
        return None
    size = texture.shape[-1]
    start, visible = color_matched_start(mesh, original, style, size), visible_texels(mesh, size)
    gap = (texture - start).abs().amax(0)[visible]
    return {"visible": int(visible.sum()), "within_1": int((gap < 1 / 255).sum()),
            "within_2": int((gap < 2 / 255).sum())}


def curve(name: str, device: str) -> dict:
    """Held-out style distance every 10% of a run against its wall-clock seconds (monitor time excluded)."""
    from nst3d.io import load_image
    from nst3d.mesh import load_mesh
    from nst3d.options import MeshOptions
    from nst3d.stylize_mesh import stylize_mesh

    mesh_path, texture, style = inputs()
    mesh = thin_ring() if name == "thin" else load_mesh(mesh_path, texture)
    options = PREVIOUS if name == "previous" else {}
    points, spent, started = [], [0.0], time.perf_counter()
    painting = load_image(style)
    track = name == "new" and mesh.texture is not None  # which texels ever move, for the untouched target
    if track:
        start = color_matched_start(mesh, mesh.texture, painting, MeshOptions().texture_size)
        moved = torch.zeros(start.shape[1:], dtype=torch.bool)

    def monitor(step: int, objective, average: torch.Tensor) -> None:
        begin = time.perf_counter()
        if track:
            moved.logical_or_((objective.texture().detach()[0].cpu() - start).abs().amax(0) >= 1 / 255)
        if step % max(1, objective.opts.steps // 10) == 0 or step == objective.opts.steps:
            points.append((step, begin - started - spent[0], objective.evaluate(average)))
        spent[0] += time.perf_counter() - begin

    result = stylize_mesh(mesh, [painting], progress=False, device=device, gif_every=0, monitor=monitor,
                          **options)
    record = result.record
    never = None
    if track:
        visible = visible_texels(result.mesh, moved.shape[-1])
        never = {"visible": int(visible.sum()), "never_moved": int((visible & ~moved).sum())}
    return {"points": points, "initial": record["heldout_style_distance"]["initial"],
            "timings": record["timings"], "schedule": record["schedule"],
            "faces": record["mesh"]["faces"], "never_moved": never}


SEEDS = {"previous": (0, 1), "new": (0, 1, 2, 3)}  # the previous schedule's runs take twice as long


def seeded(name: str, seed: int, device: str) -> dict:
    """One run of a schedule ('previous' or 'new') with its own seed (cameras, views): its final held-out
    style distance, so a schedule is judged by several draws rather than one."""
    from nst3d.io import load_image
    from nst3d.stylize_mesh import stylize_mesh

    mesh, texture, style = inputs()
    options = PREVIOUS if name == "previous" else {}
    record = stylize_mesh(mesh, [load_image(style)], texture=texture, seed=seed, gif_every=0, progress=False,
                          device=device, **options).record
    return {"final": record["heldout_style_distance"]["final"], "seconds": record["timings"]["total_seconds"]}


def seeds(device: str) -> None:
    """The previous schedule and the new defaults over their SEEDS: final held-out distance / the
    original texture's."""
    original = original_distance(device)
    print(f"Held-out style distance, final / the original texture's ({original:.3f}), per seed "
          "(the #11 target: <= 0.064)\n")
    print("| schedule | seeds | final / original, per seed | mean | seconds per run |\n|---|---|---|---|---|")
    for name, draws in SEEDS.items():
        runs = [in_subprocess(__file__, "seeded", name, str(k), "--device", device) for k in draws]
        ratios = [r["final"] / original for r in runs]
        seconds = ", ".join(f"{r['seconds']:.0f}" for r in runs)
        print(f"| {name} | {', '.join(map(str, draws))} | {', '.join(f'{r:.4f}' for r in ratios)} "
              f"| {sum(ratios) / len(ratios):.4f} | {seconds} |", flush=True)
    print()


def thin_ring():
    """A generated thin ring (minor radius 1/18 of the major) with a checker texture: mostly background."""
    from nst3d.mesh.shapes import torus

    checker = ((torch.arange(256)[:, None] // 32 + torch.arange(256)[None] // 32) % 2).float()
    return torus(major=0.9, minor=0.05, rows=12, cols=96).replace(
        texture=torch.stack([0.2 + 0.6 * checker, 0.5 + 0 * checker, 0.8 - 0.6 * checker]))


E2E_RUNS = 3


def end_to_end(device: str) -> dict:
    from nst3d.io import load_image
    from nst3d.mesh import load_mesh
    from nst3d.seams import seam_contrast

    mesh, texture, style = inputs()
    out = ROOT / "benchmarks" / "out" / mesh.stem  # kept (ignored by git) to look at the result
    out.parent.mkdir(parents=True, exist_ok=True)
    command = ["nst3d", "mesh", str(mesh), str(style), "-o", str(out), "--quiet", "--force",
               "--device", device]
    if texture is not None:
        command += ["--texture", str(texture)]
    runs, used = [], 0.0
    for _ in range(E2E_RUNS):  # the same command (same result) each time: the median of the seconds
        began, ticks = time.perf_counter(), cpu_ticks()
        subprocess.run(command, check=True)
        wall, steal = time.perf_counter() - began, steal_share(ticks, cpu_ticks())
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        record = json.loads((out / "run.json").read_text())
        runs.append({"timings": record["timings"], "wall": wall, "steal": steal,
                     "cpu": children.ru_utime + children.ru_stime - used})
        used += runs[-1]["cpu"]
    result = load_mesh(out / "mesh.obj")
    seams = seam_contrast(result, load_image(out / "texture.png")[0])
    original = None if texture is None else load_image(texture)[0]
    runs.sort(key=lambda r: r["timings"]["end_to_end_seconds"])
    return {**runs[len(runs) // 2], "all": [(r["timings"]["end_to_end_seconds"], r["steal"]) for r in runs],
            "heldout": record["heldout_style_distance"],
            "original": original_distance(device) if texture is not None else None, "seams": seams,
            "speckle": speckle_ratio(result, result.texture, load_image(style), 256),
            "content": content_distance(result, result.texture, original),
            "untouched": untouched(result, result.texture, original, load_image(style)),
            "steps": len(record["history"]),
            "peak_mib": children.ru_maxrss / 1024}


ABLATIONS = {
    "default (pyramid 4 levels, mip-mapping, seam loss, TV 50, averaging 0.9)": {},
    "2x supersampling on top of mip-mapping": {"supersample": 2},
    "plain texels (levels=1), same lr": {"levels": 1},
    "plain texels (levels=1), lr 0.2": {"levels": 1, "lr": 0.2},
    "2x supersampling instead of mip-mapping": {"mipmap": False, "supersample": 2},
    "neither mip-mapping nor supersampling": {"mipmap": False},
    "seam loss weight 10 instead of 1000": {"seam_weight": 10.0},
    "no seam loss": {"seam_weight": 0.0},
    "no TV loss": {"tv_weight": 0.0},
    "no iterate averaging": {"average_decay": 0.0},
    "neither TV nor averaging (the first default)": {"tv_weight": 0.0, "average_decay": 0.0},
    "iterate averaging with decay 0.97": {"average_decay": 0.97},
}


def speckle(image: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean squared distance of (B, 3, H, W) pixels from their 3x3 median, over the mask's interior.

    A median keeps edges and brush strokes but removes isolated pixels, so this measures pixel noise.
    """
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1), mode="replicate")
    median = padded.unfold(2, 3, 1).unfold(3, 3, 1).flatten(-2).median(-1).values
    noise = (image - median).pow(2).sum(1, keepdim=True)                          # (B, 1, H, W)
    if mask is None:
        return float(noise.mean())
    inside = (-torch.nn.functional.max_pool2d(-mask, 3, 1, 1) > 0.999).float()  # no silhouette pixels
    return float((noise * inside).sum() / inside.sum())


def speckle_ratio(mesh, texture: torch.Tensor, style: torch.Tensor, size: int) -> float:
    """Speckle of size² held-out renders of `texture` over that of the style image resized to `size`."""
    from nst3d.mesh import normalize
    from nst3d.render import render
    from nst3d.style import resize_long_side
    from nst3d.stylize_mesh import heldout_cameras

    cameras = heldout_cameras(2.7, 40.0, texture.device)
    rgb, mask = render(normalize(mesh), cameras, size, texture=texture[None], supersample=2)
    return speckle(rgb, mask) / speckle(resize_long_side(style, size))


def ablation(name: str, device: str) -> dict:
    from nst3d.io import load_image
    from nst3d.seams import seam_contrast
    from nst3d.stylize_mesh import stylize_mesh

    mesh, texture, style = inputs()
    painting = load_image(style)
    result = stylize_mesh(mesh, [painting], texture=texture, steps=100, texture_size=256,
                          render_size=128, gif_every=0, progress=False, device=device, **ABLATIONS[name])
    return {"heldout": result.record["heldout_style_distance"]["ratio"],
            "seams": seam_contrast(result.mesh, result.texture)["ratio"],
            "speckle": speckle_ratio(result.mesh, result.texture, painting, 128),
            "s_per_step": result.record["timings"]["seconds_per_step"]}


def speed(device: str) -> None:
    """Quality over wall-clock time: the previous schedule and the new defaults, then a thin mesh."""
    runs = {name: in_subprocess(__file__, "curve", name, "--device", device)
            for name in ("previous", "new", "thin")}
    print("Ratios are over the held-out distance of the mesh's own texture (the previous run's start;\n"
          "the new defaults start from a colour-matched copy); the thin ring's over its own start.\n")
    print("| run | % of steps | step | seconds | held-out style distance | ratio |")
    print("|---|---|---|---|---|---|")
    for name, r in runs.items():
        last, start = r["points"][-1][0], r["initial"] if name == "thin" else runs["previous"]["initial"]
        for step, seconds, distance in r["points"]:
            print(f"| {name} | {100 * step / last:.0f} | {step} | {seconds:.1f} | {distance:.4f} "
                  f"| {distance / start:.4f} |")
    print("\n| run | schedule (render size x steps, share of the view the network sees) | render s "
          "| network s | optimizer s | setup s | evaluation s | total s |\n|---|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        t = r["timings"]
        stages = ", ".join(f"{s['render_size']}²x{s['steps']} ({s['cropped_area']:.0%})"
                           for s in r["schedule"])
        print(f"| {name} | {stages} | {t['render']:.1f} | {t['network']:.1f} | {t['optimizer']:.1f} "
              f"| {t['setup']:.1f} | {t['evaluation']:.1f} | {t['total_seconds']:.1f} |")
    never = runs["new"]["never_moved"]
    if never:
        print(f"\nnew defaults: visible texels (of {never['visible']}) that never moved 1/255 from the "
              f"colour-matched start at any step: {never['never_moved']}")
    print(flush=True)


def layout(rounds: int = 9) -> None:
    """VGG forward + backward to relu5_1 (gradient to the input only) on a view-sized crop: fp32 in NCHW
    and in channels-last layout, and bf16 autocast as --precision runs it on a CPU (channels-last);
    interleaved round by round so that the machine's drift hits all alike."""
    import statistics

    from nst3d import features

    backbone = features.load_backbone("vgg16-hed")
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"]
    variants = {(bf16, form): features.FeatureNet(backbone, layers, bf16=bf16).to(memory_format=form)
                for bf16, form in [(False, torch.contiguous_format), (False, torch.channels_last),
                                   (True, torch.channels_last)]}

    def once(bf16: bool, form: torch.memory_format, size: int) -> float:
        x = torch.rand(1, 3, size, size * 4 // 5).contiguous(memory_format=form).requires_grad_(True)
        began = time.perf_counter()
        sum(v.square().mean() for v in variants[bf16, form](x).values()).backward()
        return time.perf_counter() - began

    print(f"AMX: {torch.cpu._is_amx_tile_supported()}; median seconds of {rounds - 1} rounds (ratio to fp32 "
          "NCHW)\n\n| crop (px) | fp32 NCHW | fp32 channels_last | bf16 channels_last |\n|---|---|---|---|")
    for size in (128, 256):
        times = {key: [] for key in variants}
        for _ in range(rounds):
            for key in variants:
                times[key].append(once(*key, size))
        medians = [statistics.median(t[1:]) for t in times.values()]  # the first round warms up
        cells = " | ".join(f"{m:.3f} ({m / medians[0]:.2f})" for m in medians)
        print(f"| {size}x{size * 4 // 5} | {cells} |")
    print(flush=True)


def main() -> None:
    args = parse_args(__doc__, ["end-to-end", "speed", "seeds", "ablations", "layout"])
    if args.case:
        kind, *rest = args.case
        cases = {"e2e": lambda: end_to_end(args.device), "curve": lambda: curve(rest[0], args.device),
                 "seeded": lambda: seeded(rest[0], int(rest[1]), args.device),
                 "ablation": lambda: ablation(rest[0], args.device)}
        print(json.dumps(cases[kind]()))
        return
    mesh, _, style = inputs()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; {mesh.name} + {style.name}\n")
    if args.only in (None, "end-to-end"):
        r = in_subprocess(__file__, "e2e", "--device", args.device)
        t = r["timings"]
        print(f"{E2E_RUNS} runs of the same command, end to end s (CPU steal): " +
              ", ".join(f"{seconds:.1f} ({steal:.1%})" if steal is not None else f"{seconds:.1f}"
                        for seconds, steal in r["all"]) + "; the table shows the median run\n")
        print("| end to end (defaults: 512² texture, 2 views of 256²/step) | value |\n|---|---|")
        for label, value in [("steps", r["steps"]), ("setup s (load, unwrap, VGG, view bank)", t["setup"]),
                             ("render s (texture sampling fwd+bwd)", t["render"]),
                             ("network s (VGG fwd+bwd, losses)", t["network"]),
                             ("optimizer s (Adam)", t["optimizer"]),
                             ("held-out evaluation s", t["evaluation"]), ("export s", t["export_seconds"]),
                             ("end to end s, run + export (target <= 120)", t["end_to_end_seconds"]),
                             ("wall-clock s of the command (with Python's start and imports)", r["wall"]),
                             ("CPU s of the command (user + system, all threads)", r["cpu"]),
                             *([("CPU steal during the command (other guests of the host)", r["steal"])]
                               if r["steal"] is not None else []),
                             ("s / step", t["seconds_per_step"]), ("peak RSS MiB", r["peak_mib"]),
                             ("held-out style distance, final", r["heldout"]["final"]),
                             ("final / initial (the run's colour-matched start)", r["heldout"]["ratio"]),
                             *([("final / the original texture's (target <= 0.064)",
                                 r["heldout"]["final"] / r["original"])] if r["original"] else []),
                             ("seam contrast (seam / ordinary edges)", r["seams"]["ratio"]),
                             ("speckle of 256² held-out renders / of the painting", r["speckle"]),
                             ("content distance to the original texture, held-out relu4_2", r["content"]),
                             *([("visible texels within 1/255 of the start at the end (of all visible)",
                                 f"{r['untouched']['within_1']} of {r['untouched']['visible']}"),
                                ("... within 2/255 (chance lands about 1/8 of these within 1/255)",
                                 r["untouched"]["within_2"])] if r["untouched"] else [])]:
            print(f"| {label} | {value:.3g} |" if isinstance(value, float) else f"| {label} | {value} |")
        print(flush=True)
    if args.only in (None, "speed"):
        speed(args.device)
    if args.only in (None, "seeds"):
        seeds(args.device)
    if args.only in (None, "layout"):
        layout()
    if args.only in (None, "ablations"):
        print("| choice (100 steps, 256² texture, 128² renders) | held-out style final/initial "
              "| seam contrast | speckle / painting's | s/step |\n|---|---|---|---|---|")
        for name in ABLATIONS:
            r = in_subprocess(__file__, "ablation", name, "--device", args.device)
            print(f"| {name} | {r['heldout']:.3f} | {r['seams']:.2f} | {r['speckle']:.2f} "
                  f"| {r['s_per_step']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
