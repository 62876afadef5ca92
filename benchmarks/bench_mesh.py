"""3D benchmark: `nst3d mesh` end to end on Spot, and the measurements behind its default choices.

    python benchmarks/bench_mesh.py                  # everything (~25 min on a 2-core CPU)
    python benchmarks/bench_mesh.py --only ablations # parameterization / antialiasing / seam choices

The end-to-end case runs the CLI at its defaults (512² texture, 2 views of 256² per step, 300 steps) and
reports the time split from run.json. The ablations run shorter optimizations (100 steps, 256² texture,
128² renders) that differ in one choice each, and report the held-out style distance (fixed cameras never
used during optimization; final / initial), the seam contrast (seam / ordinary edge color jumps) and the
speckle ratio (pixel-level noise of the held-out renders over that of the painting at the same size).
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
from pathlib import Path

import torch
from harness import in_subprocess, parse_args

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def inputs() -> tuple[Path, Path | None, Path]:
    """Spot (+ its texture) and Starry Night when ../shared/data exists, else the repo's torus and swirls."""
    if SHARED.exists():
        spot = SHARED / "meshes" / "spot"
        style = SHARED / "styles" / "starry_night.jpg"
        return spot / "spot_triangulated.obj", spot / "spot_texture.png", style
    return ROOT / "meshes" / "torus.obj", None, ROOT / "styles" / "swirls.jpg"


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
    subprocess.run(command, check=True)
    record = json.loads((out / "run.json").read_text())
    result = load_mesh(out / "mesh.obj")
    seams = seam_contrast(result, load_image(out / "texture.png")[0])
    return {"timings": record["timings"], "heldout": record["heldout_style_distance"], "seams": seams,
            "speckle": speckle_ratio(result, result.texture, load_image(style), 256),
            "steps": len(record["history"]),
            "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


ABLATIONS = {
    "default (pyramid 4 levels, mip-mapping, seam loss, TV 50, averaging 0.9)": {},
    "2x supersampling on top of mip-mapping": {"supersample": 2},
    "plain texels (levels=1), same lr": {"levels": 1},
    "plain texels (levels=1), lr x4": {"levels": 1, "lr": 0.2},
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


def main() -> None:
    args = parse_args(__doc__, ["end-to-end", "ablations"])
    if args.case:
        kind, *rest = args.case
        print(json.dumps(end_to_end(args.device) if kind == "e2e" else ablation(rest[0], args.device)))
        return
    mesh, _, style = inputs()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; {mesh.name} + {style.name}\n")
    if args.only in (None, "end-to-end"):
        r = in_subprocess(__file__, "e2e", "--device", args.device)
        t = r["timings"]
        print("| end to end (defaults: 512² texture, 2 views of 256²/step) | value |\n|---|---|")
        for label, value in [("steps", r["steps"]), ("setup s (load, unwrap, VGG, view bank)", t["setup"]),
                             ("render s (texture sampling fwd+bwd)", t["render"]),
                             ("network s (VGG fwd+bwd, losses)", t["network"]),
                             ("optimizer s (Adam)", t["optimizer"]),
                             ("held-out evaluation s", t["evaluation"]), ("export s", t["export_seconds"]),
                             ("end to end s (target <= 180)", t["end_to_end_seconds"]),
                             ("s / step", t["seconds_per_step"]), ("peak RSS MiB", r["peak_mib"]),
                             ("held-out style distance final/initial (target <= 0.5)", r["heldout"]["ratio"]),
                             ("seam contrast (seam / ordinary edges)", r["seams"]["ratio"]),
                             ("speckle of 256² held-out renders / of the painting", r["speckle"])]:
            print(f"| {label} | {value:.3g} |" if isinstance(value, float) else f"| {label} | {value} |")
        print(flush=True)
    if args.only in (None, "ablations"):
        print("| choice (100 steps, 256² texture, 128² renders) | held-out style final/initial "
              "| seam contrast | speckle / painting's | s/step |\n|---|---|---|---|---|")
        for name in ABLATIONS:
            r = in_subprocess(__file__, "ablation", name, "--device", args.device)
            print(f"| {name} | {r['heldout']:.3f} | {r['seams']:.2f} | {r['speckle']:.2f} "
                  f"| {r['s_per_step']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
