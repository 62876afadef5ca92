"""The batch gallery: OUTDIR/index.html, one card per job (style, before, after, numbers), from disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from nst3d.batch.jobs import status_counts
from nst3d.batch.manifest import Job
from nst3d.io import atomic_output
from nst3d.report.html import escape, figure, table, thumbnail_jpeg, write_page

THUMB_SIDE = 160
THUMBS = "gallery"   # thumbnails of the inputs live here, so the page does not depend on their paths


def thumbnail(source: Path, outdir: Path, name: str) -> str | None:
    """A small JPEG copy of an input image in OUTDIR/gallery -> its path relative to OUTDIR."""
    data = thumbnail_jpeg(source, THUMB_SIDE)
    if data is None:
        return None
    target = outdir / THUMBS / f"{name}.jpg"
    target.parent.mkdir(exist_ok=True)
    with atomic_output(target) as tmp:
        tmp.write_bytes(data)
    return f"{THUMBS}/{target.name}"


def _pictures(job: Job, status: str, outdir: Path) -> list[str]:
    """Style, before (the content photo, for 2D jobs) and after, as captioned figures."""
    found = []
    style = thumbnail(job.styles[0], outdir, f"{job.name}.style")
    if style:
        found.append(figure(style, "style", f"style image {job.styles[0].name}"))
    if job.kind == "image":
        before = thumbnail(job.source, outdir, f"{job.name}.content")
        if before:
            found.append(figure(before, "before", f"content image {job.source.name}"))
    result = outdir / job.name / ("turntable.gif" if job.kind == "mesh" else "image.png")
    if result.exists() and status in ("done", "skipped"):
        found.append(figure(f"{job.name}/{result.name}", "after", f"stylized {job.source.name}"))
    return found


def _card(job: Job, summary: dict | None, outdir: Path) -> str:
    status = "pending" if summary is None else summary["status"]
    rows = [("status", status), ("input", job.source.name), ("styles", ", ".join(s.name for s in job.styles))]
    if summary is not None and summary.get("style_distance") is not None:
        rows.append(("style distance", f"{summary['style_distance']:.4g}"))
    if summary is not None and status == "done":
        rows.append(("seconds", f"{summary['seconds']:.1f}"))
    notes = f'<p class="muted">{escape(summary["error"])}</p>' if summary and summary.get("error") else ""
    if (outdir / job.name / "report.html").is_file() and status in ("done", "skipped"):
        notes += f'<p><a href="{escape(quote(job.name))}/report.html">run report (3D viewer, curves)</a></p>'
    kind = " failed" if status == "failed" else ""
    return (f'<section class="card{kind}"><h2>{escape(job.name)}</h2>'
            f'<div class="row">{"".join(_pictures(job, status, outdir))}</div>{table(rows)}{notes}</section>')


def write_gallery(outdir: Path, jobs: Sequence[Job], summaries: dict[str, dict]) -> Path:
    """Write OUTDIR/index.html for the jobs as they stand."""
    cards = "".join(_card(job, summaries.get(job.name), outdir) for job in jobs)
    counts = status_counts(summaries)
    head = f'<p class="muted">{len(jobs)} jobs: ' + ", ".join(f"{v} {k}" for k, v in counts.items()) + "</p>"
    return write_page(outdir / "index.html", "nst3d batch", f'{head}<div class="grid">{cards}</div>')
