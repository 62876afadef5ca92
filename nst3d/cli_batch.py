"""`nst3d batch`: every job of a manifest (or the cross product of two globs), resumable."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from nst3d.batch import glob_jobs, read_manifest, run_batch, status_counts
from nst3d.cli_options import Input, register, typed_options
from nst3d.errors import Nst3dError
from nst3d.options import MeshOptions

SKIP = ("bank_size",)
INPUTS = [
    Input("ctx", typer.Context, inspect.Parameter.empty),
    Input("manifest", Path | None, typer.Argument(None, metavar="[MANIFEST]", help="JSON Lines file, one job "
          "per line, e.g. {\"mesh\": \"meshes/*.obj\", \"styles\": [\"styles/*.jpg\"], \"steps\": 100} (see "
          "the README). Globs give the cross product. Instead of a manifest: --meshes and --styles.")),
    Input("output", Path, typer.Option(..., "--output", "-o", help="Output folder: one folder per job, "
          "batch.json (status, seconds, style distance, error per job) and index.html (a gallery).")),
    Input("meshes", str | None, typer.Option(None, "--meshes", help="Glob of meshes, e.g. 'meshes/*.obj' "
                                              "(quote it), crossed with --styles.")),
    Input("styles", str | None, typer.Option(None, "--styles", help="Glob of style images, e.g. "
                                              "'styles/*.jpg'.")),
    Input("workers", int, typer.Option(1, "--workers", help="Jobs at once on this machine: 1 (default) on "
                                        "a CPU; one per GPU with several GPUs.")),
    Input("ray", str | None, typer.Option(None, "--ray", metavar="ADDRESS", help="Run the jobs as Ray "
                                          "tasks: a cluster address, 'auto' (the running cluster) or "
                                          "'local' (start one here). Needs pip install -e \".[ray]\".")),
    Input("preset", str | None, typer.Option(None, "--preset", help="Mesh jobs start from a preset of "
                                             "`nst3d mesh` (draft, default, high); the other flags and each "
                                             "row's options then change it. Image jobs ignore it.")),
    Input("verbose", bool, typer.Option(False, "--verbose", help="Show each job's own progress bar (with "
                                        "--workers 1, not on Ray).")),
]


def batch_command(options: MeshOptions, ctx: typer.Context, manifest: Path | None, output: Path,
                  meshes: str | None, styles: str | None, **run: Any) -> None:
    """Stylize many assets with many styles: resumable (finished jobs are skipped), locally or on Ray.

    Options of `nst3d mesh` given here apply to every job (image jobs take the ones they share).
    Example: nst3d batch --meshes 'meshes/*.obj' --styles 'styles/*.jpg' -o out/batch --steps 100
    """
    if (manifest is None) == (meshes is None or styles is None) or (manifest and (meshes or styles)):
        raise Nst3dError("give a MANIFEST, or both --meshes and --styles (not both ways)")
    if run["verbose"] and (run["workers"] > 1 or run["ray"]):
        raise Nst3dError("--verbose shows one job's progress at a time: only with --workers 1, not --ray")
    if not 1 <= run["workers"] <= 64:
        raise Nst3dError(f"--workers {run['workers']}: use 1 to 64")
    defaults = typed_options(ctx, options, SKIP)  # typed flags apply to every job unless its row says
    preset = run.pop("preset")
    jobs = (read_manifest(manifest, defaults, preset) if manifest is not None
            else glob_jobs(meshes, styles, defaults, preset))
    summaries = run_batch(jobs, output, **run)  # workers, ray, verbose
    counts = status_counts(summaries)
    print(f"wrote {output}/ ({len(jobs)} jobs: {counts['done']} done, {counts['skipped']} skipped, "
          f"{counts['failed']} failed; batch.json, index.html)")
    if counts["failed"]:
        print(f"nst3d: error: {counts['failed']} of {len(jobs)} jobs failed; their errors are in "
              f"{output / 'batch.json'} (run the same command again to retry them)", file=sys.stderr)
        raise typer.Exit(1)


def register_commands(app: typer.Typer) -> None:
    """Add batch to the app."""
    register(app, "batch", MeshOptions, batch_command, INPUTS, skip=SKIP)
