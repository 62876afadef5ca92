"""Batch manifests: JSON Lines of jobs, expanded (globs give cross products) and validated up front.

One JSON object per line (blank lines and lines starting with '#' are skipped):

    {"kind": "mesh", "mesh": "meshes/*.obj", "styles": ["styles/*.jpg"], "steps": 100}
    {"kind": "image", "content": "photo.jpg", "styles": ["a.jpg", "b.jpg"], "style_blend": [0.7, 0.3]}

`kind` is mesh (default) or image; the input is `mesh` (with an optional `texture`) or `content`;
`styles` is a path or a list of paths. A glob in the input or in a style gives one job per match (the
cross product of inputs and styles); a list without globs is one job that blends its styles. `output`
names the job's folder (default `{input}_{style}`, the files' stems; both fields may be used in it).
Every other key is an option of `nst3d mesh` / `nst3d image` under its Python name.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst3d.errors import Nst3dError
from nst3d.io import check_input_file
from nst3d.options import MESH_PRESETS, ImageOptions, MeshOptions, StyleOptions, check_choice

KINDS: dict[str, type[StyleOptions]] = {"mesh": MeshOptions, "image": ImageOptions}
INPUT_KEY = {"mesh": "mesh", "image": "content"}
JOB_KEYS = {"kind", "mesh", "content", "styles", "texture", "output"}


@dataclass(frozen=True)
class Job:
    """One stylization: what goes in, with which options, and the folder name it writes under OUTDIR."""

    row: int                         # manifest line, 1-based (0: from --meshes/--styles)
    kind: str                        # "mesh" | "image"
    source: Path                     # the mesh, or the content image
    styles: tuple[Path, ...]
    options: StyleOptions            # MeshOptions or ImageOptions, checked
    name: str
    texture: Path | None = None


def _matches(pattern: str, where: str) -> list[Path]:
    """The files a path or glob names (sorted), checked to be readable regular files."""
    if glob.has_magic(pattern):
        found = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True))
        if not found:
            raise Nst3dError(f"{where}: {pattern!r} matches no file")
    else:
        found = [Path(os.path.expanduser(pattern))]
    for path in found:
        check_input_file(path, where)
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise Nst3dError(f"{where}: {path}: cannot be read ({exc.strerror})") from None
    return found


def _style_sets(styles: Any, where: str) -> list[tuple[Path, ...]]:
    """Style entries -> the style sets of the row's jobs: one set per glob match, or the list blended."""
    entries = [styles] if isinstance(styles, str) else styles
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
        raise Nst3dError(f"{where}, field 'styles': expected a path or a list of paths")
    if any(glob.has_magic(e) for e in entries):
        return [(path,) for entry in entries for path in _matches(entry, f"{where}, field 'styles'")]
    return [tuple(path for entry in entries for path in _matches(entry, f"{where}, field 'styles'"))]


def check_options(kind: str, values: dict[str, Any], where: str) -> StyleOptions:
    """The kind's options from `values`, each field checked alone first so an error can name it."""
    cls = KINDS[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    for name, value in values.items():
        if name not in known:
            raise Nst3dError(f"{where}: unknown field {name!r} for a {kind} job (options: "
                             f"{', '.join(sorted(known))})")
        try:
            cls(**{name: value})
        except (Nst3dError, TypeError) as exc:
            raise Nst3dError(f"{where}, field {name!r}: {exc}") from None
    try:
        return cls(**values)
    except Nst3dError as exc:
        raise Nst3dError(f"{where}: {exc}") from None


def expand_row(row: dict[str, Any], number: int, defaults: dict[str, Any], preset: str | None = None
               ) -> list[Job]:
    """The jobs of one manifest row (defaults: options for every job, the row's own win; a mesh job starts
    from the `preset`'s options, under both)."""
    where = f"manifest row {number}" if number else "--meshes/--styles"
    kind = row.get("kind", "mesh")
    if not isinstance(kind, str) or kind not in KINDS:
        raise Nst3dError(f"{where}, field 'kind': {kind!r} is not one of {', '.join(KINDS)}")
    key = INPUT_KEY[kind]
    for needed in (key, "styles"):
        if needed not in row:
            raise Nst3dError(f"{where}: missing field {needed!r} (a {kind} job needs {key} and styles)")
    for name, what in ((key, "a path or glob"), ("texture", "a path"), ("output", "a folder name")):
        if (name == key or row.get(name) is not None) and not isinstance(row[name], str):
            raise Nst3dError(f"{where}, field {name!r}: expected {what}")  # texture, output: null = none
    settings = {k: v for k, v in row.items() if k not in JOB_KEYS}
    shared = {k: v for k, v in defaults.items() if k in {f.name for f in dataclasses.fields(KINDS[kind])}}
    base = MESH_PRESETS[preset] if preset is not None and kind == "mesh" else {}
    options = check_options(kind, {**base, **shared, **settings}, where)
    texture = _matches(row["texture"], f"{where}, field 'texture'")[0] if row.get("texture") else None
    sources, style_sets = _matches(row[key], f"{where}, field {key!r}"), _style_sets(row["styles"], where)
    template = "{input}_{style}" if row.get("output") is None else row["output"]
    jobs = []
    for source in sources:
        for styles in style_sets:
            fields = {"input": source.stem, "style": "+".join(s.stem for s in styles)}
            try:
                name = str(template).format(**fields)
            except (KeyError, IndexError, ValueError) as exc:
                message = f"{where}, field 'output': {template!r} is not a valid name ({exc})"
                raise Nst3dError(message) from None
            jobs.append(Job(number, kind, source, styles, options, name, texture))
    return jobs


def _check_names(jobs: list[Job]) -> None:
    """Output names are plain folder names and unique across the manifest."""
    seen: dict[str, Job] = {}
    for job in jobs:
        where = f"manifest row {job.row}" if job.row else "--meshes/--styles"
        if not job.name or job.name in (".", "..") or "/" in job.name or "\\" in job.name:
            raise Nst3dError(f"{where}, field 'output': {job.name!r} is not a plain folder name")
        if job.name in seen:
            other = seen[job.name]
            origin = f"row {other.row}" if other.row else "--meshes/--styles"
            raise Nst3dError(f"{where}: duplicate output name {job.name!r} (also {origin}); set 'output'")
        seen[job.name] = job


def read_manifest(path: str | os.PathLike, defaults: dict[str, Any] | None = None, preset: str | None = None
                  ) -> list[Job]:
    """Every job of a JSON Lines manifest, checked before anything runs (`preset`: a MESH_PRESETS name
    for the mesh jobs' starting options)."""
    _check_preset(preset)
    path = check_input_file(path, "manifest")
    jobs: list[Job] = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise Nst3dError(f"manifest {path}: not UTF-8 text (expected JSON Lines)") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"manifest row {number}: not valid JSON ({exc.msg}, column {exc.colno})"
            raise Nst3dError(message) from None
        if not isinstance(row, dict):
            raise Nst3dError(f"manifest row {number}: expected a JSON object, got {type(row).__name__}")
        jobs += expand_row(row, number, defaults or {}, preset)
    if not jobs:
        raise Nst3dError(f"manifest {path}: no jobs in it")
    _check_names(jobs)
    return jobs


def glob_jobs(meshes: str, styles: str, defaults: dict[str, Any] | None = None, preset: str | None = None
              ) -> list[Job]:
    """The cross product of `--meshes GLOB` and `--styles GLOB` as mesh jobs."""
    _check_preset(preset)
    jobs = expand_row({"kind": "mesh", "mesh": meshes, "styles": [styles]}, 0, defaults or {}, preset)
    _check_names(jobs)
    return jobs


def _check_preset(preset: str | None) -> None:
    if preset is not None:
        check_choice("preset", preset, MESH_PRESETS)
