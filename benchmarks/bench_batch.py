"""`nst3d batch` overhead and scaling, measured in one run (run nothing else on the machine meanwhile).

Four tiny mesh jobs (the sample meshes x one style, 20 steps, 128² texture, 96² views) are run:
  direct      each job through the Python API, one after another (the jobs' own time)
  local       run_batch, one job at a time in this process
  workers 2   run_batch with two worker processes (one core each here)
  ray         run_batch as Ray tasks on a local cluster started beforehand (its start-up is reported apart)
Overhead per job = (batch seconds - direct seconds) / jobs. Targets: <= 2 s local, <= 5 s on Ray.
Each variant writes into a fresh folder, so nothing is skipped; a first direct pass warms up and is not
counted.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"steps": 20, "texture_size": 128, "render_size": 96, "gif_every": 0, "backbone": "vgg16-hed"}


def jobs():
    from nst3d.batch import glob_jobs

    return glob_jobs(str(ROOT / "meshes" / "*.obj"), str(ROOT / "styles" / "swirls.jpg"), OPTIONS)


def direct(outdir: Path) -> float:
    """The jobs' own time: stylize + export through the API, no batch machinery."""
    from nst3d.io import load_image
    from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs

    started = time.perf_counter()
    for job in jobs():
        result = stylize_mesh(job.source, [load_image(s) for s in job.styles], job.options, progress=False)
        write_mesh_outputs(result, outdir / job.name, force=True)
    return time.perf_counter() - started


def batch(outdir: Path, **how) -> float:
    from nst3d.batch import run_batch

    started = time.perf_counter()
    summaries = run_batch(jobs(), outdir, **how)
    assert all(s["status"] == "done" for s in summaries.values()), summaries
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray variant")
    args = parser.parse_args()
    count = len(jobs())
    scratch = Path(tempfile.mkdtemp(prefix="bench_batch."))
    direct(scratch / "warm-up")  # first runs pay for imports, weights and allocator warm-up: not counted
    rows = [("direct (API, sequential)", direct(scratch / "direct"))]
    rows.append(("batch local, 1 at a time", batch(scratch / "local")))
    rows.append(("batch local, --workers 2", batch(scratch / "workers", workers=2)))
    if not args.no_ray:
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        print(f"ray cluster start-up: {time.perf_counter() - started:.1f} s (once, not counted below)")
        rows.append(("batch --ray (local cluster, 2 CPUs)", batch(scratch / "ray", ray="auto")))
        ray.shutdown()
    shutil.rmtree(scratch, ignore_errors=True)
    base = rows[0][1]
    print(f"\n{count} mesh jobs, {OPTIONS}; {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores\n")
    print("| variant | seconds | per job | overhead per job vs direct |\n|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / count:.2f} | {(seconds - base) / count:+.2f} |")


if __name__ == "__main__":
    main()
