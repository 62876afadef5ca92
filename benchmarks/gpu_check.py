"""GPU check (one script, one run): the CUDA figures the issues ask for. Needs a CUDA device.

    python benchmarks/gpu_check.py [--only image|render|mesh]

- image: 512x512, 300 L-BFGS steps (bf16 autocast, cuDNN autotuning off): wall seconds and peak memory
  (targets: <= 3 s, <= 2 GiB).
- render: Spot at 512x512, a batch of 8 views, rasterize + shade (target <= 5 ms).
- mesh: `stylize_mesh` on Spot at the defaults, then 1024x1024 texture, 8 views of 512x512 per step, 500
  steps (target <= 20 s), once with cuDNN's deterministic algorithms (the default) and once without.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def synchronized_seconds(fn, repeats: int = 1) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def image_check() -> None:
    from nst3d.image import stylize
    from nst3d.io import load_image

    content = load_image(SHARED / "content" / "golden_gate_bridge.jpg")
    side = min(content.shape[-2:])
    content = content[..., :side, :side]  # square, so the run works on 512 x 512 pixels
    style = load_image(SHARED / "styles" / "starry_night.jpg")
    stylize(content, [style], size=128, steps=5, scales=1, device="cuda", progress=False)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    seconds = synchronized_seconds(lambda: stylize(content, [style], size=512, steps=300, scales=1,
                                                   device="cuda", progress=False))
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"| image 512x512, 300 L-BFGS steps | {seconds:.2f} s (target <= 3) | {peak:.2f} GiB (<= 2) |")


def render_check() -> None:
    from nst3d.mesh import load_mesh, normalize
    from nst3d.render import random_views, render

    folder = SHARED / "meshes" / "spot"
    mesh = normalize(load_mesh(folder / "spot_triangulated.obj", folder / "spot_texture.png")).to("cuda")
    cameras = random_views(8, torch.Generator().manual_seed(0), device="cuda")
    render(mesh, cameras, 512)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    seconds = synchronized_seconds(lambda: render(mesh, cameras, 512), repeats=20)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"| render Spot 512x512, batch of 8 views | {1000 * seconds:.2f} ms (target <= 5) "
          f"| {peak:.2f} GiB |")


def _mesh_run(label: str, deterministic: bool = True, **options) -> None:
    """One Spot run on CUDA: seconds, peak memory, held-out ratio (cuDNN deterministic or not)."""
    from nst3d import runtime
    from nst3d.io import load_image
    from nst3d.stylize_mesh import stylize_mesh

    folder = SHARED / "meshes" / "spot"
    style = load_image(SHARED / "styles" / "starry_night.jpg")
    seed = runtime.seed_everything

    def seeded(value: int) -> torch.Generator:
        generator = seed(value)
        torch.backends.cudnn.deterministic = deterministic
        return generator

    runtime.seed_everything = seeded
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = stylize_mesh(folder / "spot_triangulated.obj", [style], texture=folder / "spot_texture.png",
                          device="cuda", progress=False, **options)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    runtime.seed_everything = seed
    peak = torch.cuda.max_memory_allocated() / 2**30
    ratio = result.record["heldout_style_distance"]["ratio"]
    print(f"| {label} (no export) | {seconds:.1f} s | {peak:.2f} GiB | held-out ratio {ratio:.3f}")


def mesh_check() -> None:
    _mesh_run("mesh Spot, new defaults")
    big = {"texture_size": 1024, "views_per_step": 8, "render_size": 512, "steps": 500}
    _mesh_run("mesh Spot 1024² texture, 8x512² views, 500 steps (target <= 20 s)", **big)
    _mesh_run("the same with cudnn.deterministic off (its cost)", deterministic=False, **big)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["image", "render", "mesh"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this script checks the GPU targets")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| check | time | peak GPU memory |\n|---|---|---|")
    checks = {"image": image_check, "render": render_check, "mesh": mesh_check}
    for name, check in checks.items():
        if args.only in (None, name):
            check()


if __name__ == "__main__":
    main()
