"""Running a batch: one job at a time here, N worker processes (one per GPU), or Ray tasks on a cluster.

Whatever runs the jobs, results come back as summaries in completion order; `run_batch` records each
in OUTDIR/batch.json at once (so Ctrl-C or a crash loses no finished job) and rebuilds the gallery.
"""

from __future__ import annotations

import glob
import importlib.util
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import ModuleType

from tqdm.auto import tqdm

from nst3d.batch.gallery import write_gallery
from nst3d.batch.jobs import job_summary, run_job, status_counts
from nst3d.batch.manifest import Job
from nst3d.errors import Nst3dError
from nst3d.records import write_record

RAY_HINT = 'Ray is not installed; install the extra with: pip install -e ".[ray]"'
_worker: dict[str, str | None] = {"device": None}


def run_local(jobs: Sequence[Job], outdir: Path, verbose: bool) -> Iterator[dict]:
    """One job after another in this process."""
    for job in jobs:
        yield run_job(job, outdir, progress=verbose)


def _init_worker(counter, workers: int) -> None:
    """Give each worker process its own GPU (round robin), or its share of the CPU cores."""
    import torch

    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if torch.cuda.is_available():
        _worker["device"] = f"cuda:{index % torch.cuda.device_count()}"
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _pool_job(job: Job, outdir: Path) -> dict:
    return run_job(job, outdir, device=_worker["device"])


def run_workers(jobs: Sequence[Job], outdir: Path, workers: int) -> Iterator[dict]:
    """Jobs spread over `workers` processes; a worker that dies fails its job, not the batch."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(counter, workers))
    pending = {pool.submit(_pool_job, job, outdir): job for job in jobs}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield job_summary(job, "failed", "the worker process died while running this job")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _connect_ray(address: str):
    """Import Ray and join the cluster at `address` ('auto': the running one, 'local': start one here)."""
    if importlib.util.find_spec("ray") is None:
        raise Nst3dError(RAY_HINT)
    import ray

    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise Nst3dError(f"--ray {address}: cannot connect to a Ray cluster ({exc})") from None
    return ray


def run_ray(ray: ModuleType, jobs: Sequence[Job], outdir: Path) -> Iterator[dict]:
    """Jobs as Ray tasks on the connected cluster (`ray`: the module): one GPU each where the cluster has
    GPUs, else one CPU. A task whose worker dies is retried once, then recorded as failed."""
    gpus = ray.cluster_resources().get("GPU", 0)
    task = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=1)(run_job)
    pending = {task.remote(job, str(outdir.resolve())): job for job in jobs}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:
                    error = f"{type(exc).__name__}: the Ray task failed (its worker died?)"
                    yield job_summary(job, "failed", error)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _write_summary(outdir: Path, summaries: dict[str, dict], jobs: Sequence[Job], seconds: float) -> None:
    counts = status_counts(summaries)
    ordered = [summaries.get(j.name) or job_summary(j, "pending") for j in jobs]
    write_record({"counts": counts, "seconds": round(seconds, 3), "jobs": ordered}, outdir / "batch.json")


def remove_stale_stages(outdir: Path, jobs: Sequence[Job]) -> None:
    """Remove the staging folders a killed job left behind (never a finished job's own folder)."""
    for job in jobs:
        for stale in outdir.glob(f".{glob.escape(job.name)}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)


def run_batch(jobs: Sequence[Job], outdir: str | Path, workers: int = 1, ray: str | None = None,
              verbose: bool = False) -> dict[str, dict]:
    """Run every job -> summaries by name; batch.json and index.html are kept current in OUTDIR."""
    outdir = Path(outdir)
    client = None if ray is None else _connect_ray(ray)  # a missing Ray or cluster: an error before any work
    outdir.mkdir(parents=True, exist_ok=True)
    started, summaries = time.perf_counter(), {}
    remove_stale_stages(outdir, jobs)
    if client is not None:
        results = run_ray(client, jobs, outdir)
    elif workers > 1:
        results = run_workers(jobs, outdir, workers)
    else:
        results = run_local(jobs, outdir, verbose)
    bar = tqdm(total=len(jobs), desc="batch", unit="job", dynamic_ncols=True)
    try:
        for summary in results:
            summaries[summary["name"]] = summary
            _write_summary(outdir, summaries, jobs, time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(status_counts(summaries), refresh=False)
    finally:
        bar.close()
        results.close()
        _write_summary(outdir, summaries, jobs, time.perf_counter() - started)
        remove_stale_stages(outdir, jobs)
        write_gallery(outdir, jobs, summaries)
    return summaries
