"""Renderer benchmark: rasterization time and peak memory on real meshes, and a turntable GIF.

    python benchmarks/bench_render.py                 # CPU cases
    python benchmarks/bench_render.py --device cuda   # the same on CUDA, plus Spot with a batch of 8 views

Each case runs in a fresh subprocess, so its peak memory is its own: on CPU the growth of the peak
resident set (ru_maxrss) over the resident set before the first run; on CUDA max_memory_allocated.
Times are medians over --repeat runs after one warm-up run. Workers run with OMP_WAIT_POLICY=PASSIVE
unless set otherwise: on a machine shared with other busy jobs, OpenMP threads that spin while waiting
make every small torch op ~50x slower (measured here: Spot 1.1 s instead of 22 ms with 2 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import trimesh

from nst3d.mesh import Mesh, load_mesh, normalize
from nst3d.render import orbit_cameras, project, rasterize, turntable_views
from nst3d.turntable import save_video, turntable_frames

MESHES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "meshes"
# case -> (mesh, image size, views); "turntable" renders 36 lit 384^2 frames of Spot and writes a GIF
CASES = {
    "spot": ("spot", 512, 1),
    "fish": ("fish", 512, 1),
    "sphere-199k": ("sphere", 1024, 1),
    "turntable": ("spot", 384, 36),
}
CUDA_CASES = {"spot-x8": ("spot", 512, 8)}


def load(name: str) -> Mesh:
    """The benchmark meshes, normalized to the unit sphere."""
    if name == "sphere":  # a UV sphere of 198,912 faces
        sphere = trimesh.creation.uv_sphere(radius=1.0, count=[224, 224])
        return Mesh(torch.tensor(sphere.vertices, dtype=torch.float32), torch.tensor(sphere.faces))
    if name == "spot":
        return normalize(load_mesh(MESHES / "spot" / "spot_triangulated.obj",
                                   texture=MESHES / "spot" / "spot_texture.png"))
    return normalize(load_mesh(MESHES / "blub" / "fish.obj"))


def resident_mb() -> float:
    """Current resident set size of this process in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def worker(case: str, device: str, repeat: int, data: Path) -> dict:
    """Time one case in this (fresh) process and measure the memory its runs add."""
    mesh_name, size, views = {**CASES, **CUDA_CASES}[case]
    mesh = Mesh(**torch.load(data)).to(device)
    cuda = device == "cuda"
    if case == "turntable":
        out = Path(tempfile.mkdtemp()) / "spot.gif"

        def run() -> None:
            save_video(turntable_frames(mesh, turntable_views(views, device=device), size), out, fps=12)
    else:
        cameras = turntable_views(views, device=device) if views > 1 else orbit_cameras(2.8, 15.0, 30.0,
                                                                                        device=device)
        clip = project(mesh.vertices, cameras)

        def run() -> None:
            rasterize(clip, mesh.faces, size)

    before = torch.cuda.memory_allocated() if cuda else resident_mb()
    times = []
    for _ in range(repeat + 1):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    times = times[1:]
    return {"case": case, "faces": mesh.num_faces, "size": size, "views": views,
            "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times), "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per case (after one warm-up)")
    parser.add_argument("--cases", default=None, help="comma-separated subset of the cases")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads for torch (on a machine shared with other jobs, 1 is steadier)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args.worker, args.device, args.repeat, args.data)))
        return
    cases = {**CASES, **(CUDA_CASES if args.device == "cuda" else {})}
    chosen = args.cases.split(",") if args.cases else list(cases)
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    print(f"device {args.device}, torch {torch.__version__}, {args.threads} CPU threads, "
          f"OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}")
    header = ("case", "faces", "size", "views", "median ms", "min ms", "peak MB")
    print(f"{header[0]:<12}" + "".join(f"{h:>10}" for h in header[1:]))
    with tempfile.TemporaryDirectory() as folder:
        for case in chosen:
            if cases[case][0] != "sphere" and not MESHES.is_dir():
                print(f"{case:<12}skipped: needs the shared meshes in {MESHES}")
                continue
            data = Path(folder) / f"{cases[case][0]}.pt"
            if not data.exists():
                torch.save(vars(load(cases[case][0])), data)
            repeat = min(args.repeat, 3) if case == "turntable" else args.repeat
            command = [sys.executable, __file__, "--worker", case, "--device", args.device, "--repeat",
                       str(repeat), "--threads", str(args.threads), "--data", str(data)]
            result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            r = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{r['case']:<12}{r['faces']:>10}{r['size']:>10}{r['views']:>10}{r['median_ms']:>10.1f}"
                  f"{r['min_ms']:>10.1f}{r['peak_mb']:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
