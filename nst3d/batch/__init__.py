"""`nst3d batch`: many assets x many styles, resumable, locally or on a Ray cluster."""

from nst3d.batch.execute import run_batch
from nst3d.batch.jobs import status_counts
from nst3d.batch.manifest import Job, glob_jobs, read_manifest

__all__ = ["Job", "glob_jobs", "read_manifest", "run_batch", "status_counts"]
