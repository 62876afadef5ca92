"""`nst3d report OUTDIR`: rebuild the run report of an existing output folder (e.g. one an older nst3d
wrote), from its run.json and the files beside it; a 2D output's .json record works too."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nst3d.report.run import write_image_report, write_mesh_report


def report_command(outdir: Path = typer.Argument(..., metavar="OUTDIR", help="An output folder of nst3d mesh "
                                                 "(or a 2D output's .json record).")) -> None:
    """Rebuild report.html of a mesh output folder (or <stem>.report.html of a 2D output's .json record).

    Example: nst3d report out/torus_swirls
    """
    if outdir.is_file() and outdir.suffix.lower() == ".json":
        mesh = outdir.name == "run.json" and _is_mesh_record(outdir)  # a mesh folder's own record
        path = write_mesh_report(outdir.parent) if mesh else write_image_report(outdir)
    else:
        path = write_mesh_report(outdir)
    print(f"wrote {path}")


def _is_mesh_record(path: Path) -> bool:
    """Whether a .json file is a mesh folder's run.json (its report is the folder's), not a 2D record."""
    try:
        return "heldout_style_distance" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False  # the 2D report names what is wrong with the file


def register_commands(app: typer.Typer) -> None:
    """Add report to the app (a plain command: it has no options dataclass)."""
    app.command("report")(report_command)
