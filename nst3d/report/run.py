"""The run report: one self-contained HTML page per run, built from what the run left on disk.

A mesh folder's `report.html` has an interactive WebGL view of the stylized mesh (viewer.js, inlined,
with the geometry of mesh.glb and the textures inlined too: pages opened from disk may not fetch files),
the held-out views before and after, the style images, the progress and turntable GIFs, the loss curves
and the held-out style distance as inline SVG, the parameters and timings, and the command that
reproduces the run. A 2D output's `<stem>.report.html` has the same without the viewer. Everything comes
from run.json / the .json record and the files beside it, so `nst3d report` can rebuild a report later;
nothing here renders or runs a network. Files of the folder are linked by relative path, inputs from
elsewhere are inlined as small JPEGs.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import trimesh

from nst3d.errors import Nst3dError
from nst3d.render.shade import AMBIENT, LIGHT_FROM_CAMERA, UNTEXTURED_ALBEDO
from nst3d.report.html import (
    base64_text,
    data_uri,
    escape,
    figure,
    script,
    script_json,
    table,
    thumbnail_jpeg,
    write_page,
)
from nst3d.report.svg import line_chart

REPORT = "report.html"
RECORD = "run.json"
GEOMETRY = "mesh.glb"
TEXTURES = {"stylized": "texture.png", "original": "original_texture.png"}
HELDOUT = {"before": "heldout_before.png", "after": "heldout_after.png"}
LOSS_NAMES = {"gram": "Gram", "w2": "Wasserstein-2", "nnfm": "nearest-feature (1 - cos)"}
BACKGROUND = (232, 234, 238)    # the viewer's clear colour (tests look for the mesh against it)
STYLE_THUMB = 256               # px, long side of the inlined style and content images
STYLE = """
section { margin: 1.6rem 0; } h3 { font-size: 1rem; margin: .8rem 0 .2rem; }
.viewer { max-width: 760px; }
.viewer canvas { display: block; width: 100%; aspect-ratio: 4 / 3; border-radius: 6px; touch-action: none;
                 background: rgb(232, 234, 238); }
.viewer canvas:focus-visible { outline: 3px solid #0072b2; outline-offset: 2px; }
.controls { display: flex; flex-wrap: wrap; gap: .4rem; margin: .5rem 0; }
button { font: inherit; padding: .35rem .8rem; border: 1px solid #888; border-radius: 4px; background: #fff; }
button[aria-pressed="true"] { background: #d7e8f7; border-color: #0072b2; }
button[aria-pressed]::before { content: "☐ "; } button[aria-pressed="true"]::before { content: "☑ "; }
.missing { border: 2px dashed #c33; border-radius: 6px; padding: .8rem 1rem; background: #fff5f5; }
.pair { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.pair img { width: 100%; height: auto; background: #eee; }
.thumbs { display: flex; flex-wrap: wrap; gap: .8rem; align-items: flex-start; }
.thumbs figure { width: min(100%, 256px); } .thumbs img { width: 100%; height: auto; }
svg.chart { display: block; width: 100%; max-width: 720px; height: auto; background: #fff; }
td { overflow-wrap: anywhere; } th { white-space: nowrap; vertical-align: top; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid #ddd;
      padding: .6rem; }
"""


def load_record(path: Path) -> dict:
    """A run record (run.json or a 2D output's .json); a missing or broken one is a one-line error."""
    if path.is_dir() or not path.exists():
        where = path.parent if path.name == RECORD else path
        raise Nst3dError(f"{where}: no {path.name} here; give an output folder of nst3d mesh (or a 2D .json "
                         "record)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Nst3dError(f"{path}: not a readable run record ({exc})") from None
    if not isinstance(record, dict):
        raise Nst3dError(f"{path}: not a run record (expected a JSON object)")
    return record


# ----------------------------------------------------------------------------- shared sections

def section(key: str, title: str, body: str) -> str:
    """A titled <section> that screen readers can navigate by its heading."""
    return f'<section aria-labelledby="s-{key}"><h2 id="s-{key}">{escape(title)}</h2>{body}</section>'


def block(kind: str, items: Iterable[str]) -> str:
    """A <div> of one layout class ('pair': side by side, 'thumbs': a wrapping row) around some figures."""
    return f'<div class="{kind}">{"".join(items)}</div>'


def missing(text: str) -> str:
    """A visible note that stands where something could not be shown."""
    return f'<p class="missing" role="note">{escape(text)}</p>'


def loss_terms(history: Sequence[dict]) -> list[str]:
    """The loss terms a history has, total first (not per-layer parts, not the clock)."""
    names: list[str] = []
    for entry in history:
        names += [k for k in entry if k not in names and k != "t" and "/" not in k]
    return sorted(names, key=lambda k: k != "loss")


def term_rows(series: dict[str, list[tuple[int, float]]]) -> Iterable[tuple[str, str, str, str]]:
    """(term, first, last, lowest value) per loss term: the curves' numbers, readable at any width."""
    for name, points in series.items():
        values = [y for _, y in points if math.isfinite(y)]
        if values:
            yield name, f"{values[0]:.4g}", f"{values[-1]:.4g}", f"{min(values):.4g}"


def curves_section(history: Sequence[dict], heldout: dict | None, loss: str = "gram") -> str:
    """Each loss term over the steps (log scale), and the held-out style distance before and after."""
    if not history:
        return section("curves", "Loss curves", missing("The run recorded no steps, so there are no curves."))
    series = {name: [(i + 1, float(h.get(name, math.nan))) for i, h in enumerate(history)]
              for name in loss_terms(history)}
    body = (f'<figure id="loss-curves">{line_chart(series, "Loss terms over the steps", "step")}</figure>'
            f'{table(term_rows(series), ("term", "first step", "last step", "lowest"))}')
    if heldout:
        ratio = heldout.get("ratio", heldout["final"] / max(heldout["initial"], 1e-12))
        held = {"held-out style distance": [(0, heldout["initial"]), (len(history), heldout["final"])]}
        measure = LOSS_NAMES.get(loss, "Gram")
        body += (f"<h3>Held-out style distance</h3><p>From {heldout['initial']:.4g} before the first step to "
                 f"{heldout['final']:.4g} after the last ({ratio:.0%}); the mean {measure} distance to the "
                 f"style over fixed views that training never uses. Lower is closer to the style.</p>"
                 f'<figure id="heldout-curve">{line_chart(held, "Held-out style distance", "step")}</figure>')
    return section("curves", "Loss curves", body)


def value_text(value: object) -> str:
    """A parameter value as the table shows it."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def timing_rows(timings: dict) -> Iterable[tuple[str, str]]:
    """(phase, seconds) rows of a record's timings, per-scale lists expanded."""
    for name, value in timings.items():
        if isinstance(value, int | float):
            yield name.replace("_", " "), f"{value:.3g} s"
        elif isinstance(value, list):
            for i, part in enumerate(value):
                size = "x".join(map(str, part.get("size", [])))
                steps, seconds = part.get("steps", "?"), part.get("seconds", 0.0)
                yield f"scale {i + 1} ({size})", f"{steps} steps, {seconds:.3g} s"


def settings_section(record: dict) -> str:
    """The run's facts (backbone, device, seed, versions), every parameter, and the timing split."""
    params = record.get("parameters", {})
    facts = [("backbone", f"{record.get('backbone', '?')} ({record.get('arch', '?')})"),
             ("device", record.get("device", "?")), ("seed", params.get("seed", "?")),
             ("nst3d", record.get("nst3d_version", "?")), ("torch", record.get("torch_version", "?"))]
    body = (f"<h3>Run</h3>{table(facts)}"
            f"<h3>Parameters</h3>{table((k, value_text(v)) for k, v in params.items())}"
            f"<h3>Timings</h3>{table(timing_rows(record.get('timings', {})))}")
    return section("settings", "Parameters, backbone, device, seed and timings", body)


def command_section(argv: Sequence[str] | None) -> str:
    """The exact command that reproduces the run (from the folder it was started in)."""
    if argv is None:
        return section("command", "Reproduce", missing(
            "This run did not record its command line (it was written through the Python API, or by an older "
            "nst3d)."))
    text = "nst3d " + shlex.join(argv)
    return section("command", "Reproduce", f"<p>Run this in the folder the run was started in (same seed, "
                   f"same device: same result):</p><pre><code>{escape(text)}</code></pre>")


def input_figure(path: str, caption: str, alt: str) -> str:
    """An input image (style, content) inlined as a small JPEG, or a note where it cannot be read now."""
    data = thumbnail_jpeg(path, STYLE_THUMB)
    if data is None:
        return missing(f"{caption}: {path} cannot be read from here any more.")
    return figure(data_uri(data, "image/jpeg"), caption, alt, lazy=False)


def style_figures(styles: Sequence[str]) -> list[str]:
    """The style images, one captioned figure each."""
    return [input_figure(s, f"style {i + 1}: {Path(s).name}", f"style image {Path(s).name}")
            for i, s in enumerate(styles)]


def local_figure(folder: Path, name: str, caption: str, alt: str) -> str:
    """A file of the folder by relative path, or a note that it is missing."""
    if not (folder / name).is_file():
        return missing(f"{name} is missing from this folder, so the {caption} cannot be shown.")
    return figure(name, caption, alt, lazy=False)


# ----------------------------------------------------------------------------- the viewer

def vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit normals (V, 3), shared by vertices at the same position (UV seams split the
    GLB's vertices; per-copy normals would show those seams as creases)."""
    _, same = np.unique(positions, axis=0, return_inverse=True)
    same = same.reshape(-1)
    corners = positions[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    ids = same[faces].reshape(-1)
    summed = np.stack([np.bincount(ids, np.repeat(face_normals[:, k], 3), minlength=same.max() + 1)
                       for k in range(3)], 1)[same]
    return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-20)


def b64(array: np.ndarray, dtype: str) -> str:
    """A numpy array as base64 of little-endian typed-array bytes (what the viewer decodes)."""
    return base64_text(np.ascontiguousarray(array, dtype=dtype).tobytes())


def mesh_data(glb: Path) -> dict:
    """The viewer's geometry from a GLB: positions normalized to the unit sphere, as nst3d renders them
    (bounding-box centre to the origin, farthest vertex at distance 1), normals, UVs, indices."""
    try:
        mesh = trimesh.load(glb, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds on a broken file
        raise Nst3dError(f"{glb}: cannot be read ({exc})") from None
    positions, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    if not len(faces):
        raise Nst3dError(f"{glb}: has no faces")
    positions = positions - (positions.min(0) + positions.max(0)) / 2
    positions /= max(float(np.linalg.norm(positions, axis=1).max()), 1e-30)
    uvs = getattr(mesh.visual, "uv", None)
    wide = len(positions) > 65535
    return {"positions": b64(positions, "<f4"), "normals": b64(vertex_normals(positions, faces), "<f4"),
            "uvs": None if uvs is None else b64(uvs, "<f4"),
            "indices": b64(faces, "<u4" if wide else "<u2"), "index_type": "uint32" if wide else "uint16",
            "faces": len(faces), "vertices": len(positions)}


def viewer_script() -> str:
    """viewer.js, shipped as package data, for inlining."""
    return resources.files("nst3d.report").joinpath("viewer.js").read_text(encoding="utf-8")


def texture_uris(folder: Path, had_texture: bool) -> dict[str, str | None]:
    """The stylized and original textures of the folder as data URIs (None where there is none)."""
    found = {}
    for key, name in TEXTURES.items():
        path = folder / name
        found[key] = data_uri(path.read_bytes(), "image/png") if path.is_file() else None
    if not had_texture:
        found["original"] = None
    return found


def viewer_notes(folder: Path, record: dict, textures: dict[str, str | None]) -> list[str]:
    """What the viewer has to do without, said on the page."""
    notes = []
    if textures["stylized"] is None:
        notes.append(missing(f"{TEXTURES['stylized']} is missing from this folder: the viewer shows the mesh "
                             "untextured."))
    if record.get("mesh", {}).get("had_texture") and textures["original"] is None:
        notes.append(missing(f"{TEXTURES['original']} is missing from this folder (runs of older versions "
                             "did not keep it): the toggle shows the untextured mesh instead."))
    return notes


def viewer_section(folder: Path, record: dict) -> str:
    """The interactive view of the stylized mesh, or a visible note of why there is none."""
    glb = folder / GEOMETRY
    if not glb.is_file():
        return section("viewer", "The stylized mesh", missing(
            f"{GEOMETRY} is missing from this folder: the 3D viewer needs it, so there is no interactive "
            "view. Rerun the command below with --force to write it again; the renders below still show the "
            "mesh."))
    try:
        geometry = mesh_data(glb)
    except Nst3dError as exc:
        return section("viewer", "The stylized mesh", missing(f"{GEOMETRY} cannot be shown: {exc}"))
    params = record.get("parameters", {})
    camera = {"distance": params.get("distance", 2.7), "fov": params.get("fov", 40.0)}
    data = {**geometry, "camera": camera,
            "textures": texture_uris(folder, bool(record.get("mesh", {}).get("had_texture"))),
            "light": {"from_camera": LIGHT_FROM_CAMERA, "ambient": AMBIENT, "albedo": UNTEXTURED_ALBEDO},
            "background": BACKGROUND}
    label = (f"Interactive 3D view of the stylized mesh ({data['faces']} triangles): drag to turn it, wheel "
             "to zoom; with the keyboard, arrow keys turn, + and - zoom, R resets")
    controls = "".join(f'<button type="button" id="nst3d-{key}" hidden>{text}</button>'
                       for key, text in (("texture", "Original texture"), ("light", "Lighting"),
                                         ("reset", "Reset view")))
    canvas = (f'<canvas id="nst3d-viewer" width="760" height="570" tabindex="0" role="application" '
              f'aria-roledescription="3D viewer" aria-label="{escape(label)}"></canvas>')
    status = ('<p class="muted" id="nst3d-viewer-status" aria-live="polite">The 3D viewer needs JavaScript; '
              "the rest of this page does not.</p>")
    body = (f'<div class="viewer">{canvas}<div class="controls" role="group" aria-label="viewer controls">'
            f'{controls}</div>{status}{"".join(viewer_notes(folder, record, data["textures"]))}</div>'
            f'{script_json("nst3d-mesh-data", data)}{script(viewer_script())}')
    return section("viewer", "The stylized mesh", body)


# ----------------------------------------------------------------------------- mesh runs

def heldout_section(folder: Path, record: dict) -> str:
    """Renders from the held-out cameras with the original texture (or none) and with the stylized one."""
    before = "original texture" if record.get("mesh", {}).get("had_texture") else "no texture"
    views = ("4 of the held-out views (two sides of the mesh, at 5 and 30 degrees elevation, never used "
             "in training)")
    pair = [local_figure(folder, HELDOUT["before"], f"before ({before})",
                         f"{views} of the mesh with {before}"),
            local_figure(folder, HELDOUT["after"], "after (stylized texture)",
                         f"{views} of the mesh with the stylized texture")]
    return section("heldout", "Before and after, from the held-out views", block("pair", pair))


def media_section(folder: Path, inputs: dict) -> str:
    """The style images, the optimization (progress.gif) and the turntable."""
    figures = style_figures(inputs.get("styles", []))
    if (folder / "progress.gif").is_file():
        figures.append(figure("progress.gif", "the optimization (progress.gif)",
                              "the texture changing over the steps, seen from the front", lazy=False))
    figures.append(local_figure(folder, "turntable.gif", "turntable (turntable.gif)",
                                "the stylized mesh turning once around its vertical axis"))
    return section("media", "Style and progress", block("thumbs", figures))


def mesh_summary(record: dict) -> str:
    """One paragraph: what was stylized, with what, how long, how well."""
    inputs, mesh = record.get("inputs", {}), record.get("mesh", {})
    timings, held = record.get("timings", {}), record.get("heldout_style_distance")
    text = (f"{inputs.get('mesh', 'a mesh')} ({mesh.get('faces', '?')} triangles) in the style of "
            f"{', '.join(inputs.get('styles', [])) or '?'}: {len(record.get('history', []))} steps on "
            f"{record.get('device', '?')} in {timings.get('total_seconds', math.nan):.1f} s")
    if held:
        text += f"; held-out style distance {held['initial']:.3g} → {held['final']:.3g}"
    flags = [w for k, w in (("interrupted", "stopped early (Ctrl-C)"), ("diverged", "diverged"))
             if record.get(k)]
    return f'<p>{escape(text)}.</p>' + "".join(missing(f"This run {w}.") for w in flags)


def write_mesh_report(folder: str | os.PathLike) -> Path:
    """Write (or rebuild) FOLDER/report.html from FOLDER/run.json and the files beside it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Nst3dError(f"{folder}: no such folder")
    record = load_record(folder / RECORD)
    with _readable(folder / RECORD):
        inputs = record.get("inputs") or {}
        title = f"nst3d mesh: {Path(inputs['mesh']).stem}" if inputs.get("mesh") else "nst3d mesh run"
        body = "".join([mesh_summary(record), viewer_section(folder, record), heldout_section(folder, record),
                        media_section(folder, inputs), curves_section(record.get("history", []),
                                                                      record.get("heldout_style_distance"),
                                                                      record.get("style_loss", "gram")),
                        settings_section(record), command_section(inputs.get("argv"))])
    return write_page(folder / REPORT, title, body, STYLE)


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """A record whose fields are not of the kinds nst3d writes (hand-edited, or from elsewhere) is a
    one-line error naming the file, not a traceback."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        message = f"{path}: not a run record this nst3d can read ({type(exc).__name__}: {exc})"
        raise Nst3dError(message) from None


# ----------------------------------------------------------------------------- 2D runs

def image_report_path(output: str | os.PathLike) -> Path:
    """Where a 2D output's report goes: <stem>.report.html beside it."""
    return Path(output).with_suffix(".report.html")


def relative_to(path: str | os.PathLike, folder: Path) -> str:
    """`path` as a link from a page in `folder`."""
    return Path(os.path.relpath(Path(path).absolute(), folder.absolute())).as_posix()


def locate(name: str, folder: Path) -> Path | None:
    """An output named in a record: beside the record (where 2D outputs go unless told otherwise, and
    what still works after the folder moved), else where the run wrote it; None if in neither place."""
    for path in (folder / Path(name).name, Path(name)):
        if path.is_file():
            return path
    return None


def image_pictures(record: dict, folder: Path) -> list[str]:
    """Before (the content image, if the command had one), after (the result) and the optimization GIF."""
    inputs, found = record.get("inputs", {}), []
    if inputs.get("content"):
        name = Path(inputs["content"]).name
        found.append(input_figure(inputs["content"], f"before: {name}", f"content image {name}"))
    for name in record.get("outputs", []):
        if Path(name).suffix.lower() == ".json":
            continue
        what = "the optimization" if name.lower().endswith(".gif") else "after"
        path = locate(name, folder)
        found.append(missing(f"{name} is missing, so {what} cannot be shown.") if path is None else
                     figure(relative_to(path, folder), f"{what}: {path.name}",
                            f"{what}: the {record.get('command') or 'result'} image {path.name}", lazy=False))
    return found


def image_summary(record: dict) -> str:
    """One paragraph: which command, how many steps, where, how long."""
    seconds = record.get("timings", {}).get("total_seconds", math.nan)
    return (f"<p>nst3d {escape(record.get('command') or '(2D)')}: {len(record.get('history', []))} steps on "
            f"{escape(record.get('device', '?'))} in {seconds:.1f} s.</p>")


def write_image_report(record_path: str | os.PathLike) -> Path:
    """Write (or rebuild) <stem>.report.html beside a 2D output, from its .json record."""
    record_path = Path(record_path)
    record = load_record(record_path)
    with _readable(record_path):
        folder, styles = record_path.parent, record.get("inputs", {}).get("styles", [])
        heading = "Before and after" if record.get("inputs", {}).get("content") else "Result"
        pictures = block("pair", image_pictures(record, folder))
        parts = [image_summary(record), section("pictures", heading, pictures)]
        if styles:
            parts.append(section("styles", "Style images", block("thumbs", style_figures(styles))))
        parts += [curves_section(record.get("history", []), None), settings_section(record),
                  command_section(record.get("argv"))]
        title = f"nst3d {record.get('command') or 'run'}: {record_path.stem}"
    return write_page(image_report_path(record_path), title, "".join(parts), STYLE)
