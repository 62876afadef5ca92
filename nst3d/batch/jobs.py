"""Running one batch job through the Python API, idempotently.

A job's identity is a content hash of its inputs (file bytes, not names), its options and the nst3d
version; its folder's run.json records it. A folder whose run.json has the same hash is complete and is
skipped; anything else is (re)done, and written atomically (a staged folder renamed into place).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from nst3d.batch.manifest import Job
from nst3d.image import transfer
from nst3d.io import load_image, save_image, staged_directory
from nst3d.mesh import referenced_files
from nst3d.records import write_record
from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs
from nst3d.version import __version__

IMAGE_OUTPUTS = ("image.png", "run.json")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_hash(job: Job) -> str:
    """sha256 of what decides a job's result: input bytes (with the files a mesh names: its MTL and
    textures, a glTF's buffers), options, kind and the nst3d version.

    The device is left out: a finished job is not redone because it ran on another machine.
    """
    side = referenced_files(job.source) if job.kind == "mesh" else []  # an OBJ's MTL and textures, ...
    files = [job.source, *side, *job.styles, *([job.texture] if job.texture else [])]
    options = {k: v for k, v in dataclasses.asdict(job.options).items() if k != "device"}
    what = {"kind": job.kind, "files": [_file_digest(p) for p in files], "version": __version__,
            "options": options, "texture": job.texture is not None}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def finished_record(folder: Path, digest: str) -> dict | None:
    """The run.json of a complete earlier run of the same job, or None."""
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return None
    inputs = record.get("inputs") if isinstance(record, dict) else None
    same = isinstance(inputs, dict) and inputs.get("job_hash") == digest and not record.get("interrupted")
    return record if same else None


def quality(record: dict) -> float | None:
    """The job's style distance: held-out for meshes, the final style loss for images."""
    if "heldout_style_distance" in record:
        return record["heldout_style_distance"]["final"]
    return record.get("final_losses", {}).get("style")


def _inputs(job: Job, digest: str) -> dict[str, Any]:
    return {"job_hash": digest, "kind": job.kind, "source": str(job.source),
            "styles": [str(s) for s in job.styles],
            "texture": None if job.texture is None else str(job.texture)}


def _run_mesh(job: Job, folder: Path, digest: str, progress: bool) -> dict:
    styles = [load_image(s, "style image") for s in job.styles]
    result = stylize_mesh(job.source, styles, job.options, texture=job.texture, progress=progress)
    if result.interrupted:
        raise KeyboardInterrupt
    write_mesh_outputs(result, folder, force=True, inputs=_inputs(job, digest))
    if result.stop_requested:  # Ctrl-C after the last step: this job is whole and written, the batch stops
        raise KeyboardInterrupt
    return result.record


def _run_image(job: Job, folder: Path, digest: str, progress: bool) -> dict:
    content = load_image(job.source, "content image")
    styles = [load_image(s, "style image") for s in job.styles]
    result = transfer(content, styles, job.options, progress=progress)
    if result.interrupted:
        raise KeyboardInterrupt
    with staged_directory(folder, force=True, owned=IMAGE_OUTPUTS) as stage:
        save_image(result.image, stage / "image.png")
        write_record({"inputs": _inputs(job, digest), **result.record}, stage / "run.json")
    if result.stop_requested:
        raise KeyboardInterrupt
    return result.record


def job_summary(job: Job, status: str, error: str | None = None) -> dict:
    """The batch.json entry of a job: name, kind, row, status, seconds, style distance, error."""
    return {"name": job.name, "kind": job.kind, "row": job.row, "status": status, "seconds": 0.0,
            "style_distance": None, "error": error}


def status_counts(summaries: dict[str, dict]) -> dict[str, int]:
    """How many of the summaries are done, skipped and failed."""
    return {s: sum(v["status"] == s for v in summaries.values()) for s in ("done", "skipped", "failed")}


def run_job(job: Job, outdir: str | Path, device: str | None = None, progress: bool = False) -> dict:
    """Run (or skip) one job -> its summary: name, status (done, skipped, failed), seconds, quality, error.

    A failure of the job itself (any exception) is recorded, not raised: the other jobs go on. Ctrl-C is
    raised.
    """
    started = time.perf_counter()
    if device is not None:
        job = dataclasses.replace(job, options=dataclasses.replace(job.options, device=device))
    summary = job_summary(job, "done")
    try:
        digest = job_hash(job)
        folder = Path(outdir) / job.name
        record = finished_record(folder, digest)
        if record is not None:
            summary.update(status="skipped", style_distance=quality(record))
            return summary
        runner = _run_mesh if job.kind == "mesh" else _run_image
        record = runner(job, folder, digest, progress)
        summary["style_distance"] = quality(record)
    except Exception as exc:  # one job's error, of any kind, must not stop the batch
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        summary.update(status="failed", error=f"{type(exc).__name__}: {message}"[:500])
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
