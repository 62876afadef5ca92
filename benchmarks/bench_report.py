"""Run report benchmark: what report.html adds to a mesh run, and how soon the page is interactive.

    python benchmarks/bench_report.py               # a tiny run and a 50k-face sphere, 1024^2 texture

Targets (issue 14): writing the report adds <= 1 s to a run (the held-out before/after grids, 4 views
at 192 px each, rendered on the CPU; original_texture.png; report.html itself), and the page is
interactive within 1 s in headless Chromium (software WebGL): the viewer's first frame with its texture,
in ms since navigation start, as the page reports it (window.nst3dViewer.firstFrameMs). The folders are
made directly (the mesh exported, a run.json with a 300-step history), not by optimizing. Each is timed
twice, the faster kept. Prints a Markdown table.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from harness import parse_args

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
STYLE = ROOT / "styles" / "swirls.jpg"
CASES = {"tiny": {"shape": "torus", "texture": 32, "original": 64},
         "50k": {"shape": "sphere", "texture": 1024, "original": 1024}}
REPEATS = 2
PROBE = """window.addEventListener("load", function () {
  function done() {
    var v = window.nst3dViewer, nav = performance.getEntriesByType("navigation")[0];
    report({first: v.firstFrameMs, error: v.error || null, dom: nav.domContentLoadedEventEnd,
            faces: v.data ? v.data.faces : null});
  }
  if (window.nst3dViewer && (window.nst3dViewer.ready || window.nst3dViewer.error)) { done(); }
  else { document.addEventListener("nst3d-viewer-ready", done); }
});"""


def textures(size: int, original: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 'stylized' texture (the swirls painting resized) and a checkered 'original' one, (3, T, T)."""
    from nst3d.io import load_image

    painted = F.interpolate(load_image(STYLE), size=(size, size), mode="bilinear", antialias=True)[0]
    cells = torch.arange(original) // max(1, original // 16)
    return painted.clamp(0, 1), ((cells[:, None] + cells[None]) % 2).float().expand(3, -1, -1).clone()


def make_folder(name: str, folder: Path) -> tuple:
    """mesh.obj/.mtl, texture.png, mesh.glb and run.json of a made-up run (no optimization) -> (the
    mesh with its original texture, the 'stylized' texture)."""
    from nst3d.mesh import export_glb, export_obj
    from nst3d.mesh.shapes import torus, uv_sphere
    from nst3d.options import MeshOptions
    from nst3d.records import write_record

    spec = CASES[name]
    mesh = torus(rows=12, cols=24) if spec["shape"] == "torus" else uv_sphere(158, 158)
    texture, original = textures(spec["texture"], spec["original"])
    mesh = mesh.replace(texture=original)
    export_obj(mesh, texture, folder / "mesh.obj", mtl_name="mesh.mtl", texture_name="texture.png")
    export_glb(mesh, texture, folder / "mesh.glb")
    history = [{"loss": 100 / (i + 1), "style": 10 / (i + 1), "content": 0.1 + 0.01 * i, "tv": 0.01,
                "seam": 0.5 / (i + 1), "t": 0.1 * i} for i in range(300)]
    record = {"inputs": {"mesh": f"{spec['shape']}.obj", "styles": [str(STYLE)],
                         "argv": ["mesh", f"{spec['shape']}.obj", str(STYLE)]},
              "parameters": dataclasses.asdict(MeshOptions(texture_size=spec["texture"])),
              "backbone": "vgg16-hed", "arch": "vgg16", "device": "cpu",
              "mesh": {"faces": mesh.num_faces, "had_texture": True},
              "heldout_style_distance": {"initial": 20.0, "final": 8.0, "ratio": 0.4},
              "timings": {"total_seconds": 100.0}, "history": history}
    write_record(record, folder / "run.json")
    return mesh, texture


def write_seconds(folder: Path, mesh, texture: torch.Tensor) -> dict:
    """Seconds of each piece the report adds to write_mesh_outputs, as it runs them."""
    from nst3d.io import save_image
    from nst3d.mesh import normalize
    from nst3d.report.run import write_mesh_report
    from nst3d.stylize_mesh import report_cameras
    from nst3d.turntable import save_view_grids

    shown, cameras = normalize(mesh), report_cameras(2.7, 40.0, torch.device("cpu"))
    steps = {"grids": lambda: save_view_grids(shown, cameras, {folder / "heldout_before.png": None,
                                                                folder / "heldout_after.png": texture[None]}),
             "original": lambda: save_image(mesh.texture[None], folder / "original_texture.png"),
             "report": lambda: write_mesh_report(folder)}
    times = {}
    for name, step in steps.items():
        started = time.perf_counter()
        step()
        times[name] = time.perf_counter() - started
    return times


def measure(name: str) -> dict:
    """Best of REPEATS for the write times and for the page's first frame."""
    from browser import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mesh, texture = make_folder(name, folder)
        runs = [write_seconds(folder, mesh, texture) for _ in range(REPEATS)]
        best = {k: min(r[k] for r in runs) for k in runs[0]}
        pages = [evaluate(folder / "report.html", PROBE) for _ in range(REPEATS)]
        assert all(p["error"] is None for p in pages), pages
        best["first_frame_ms"] = min(p["first"] for p in pages)
        best["dom_ms"] = min(p["dom"] for p in pages)
        best["faces"], best["mb"] = mesh.num_faces, (folder / "report.html").stat().st_size / 1e6
    return best


def main() -> None:
    """The table."""
    args = parse_args(__doc__, list(CASES))
    if args.device != "auto":
        raise SystemExit("the report is written on the CPU; --device does not apply")
    print(f"torch threads: {torch.get_num_threads()}; best of {REPEATS}\n")
    print("| case | faces | texture | page size | held-out grids | original_texture.png | report.html "
          "| added to a run | page parsed | first frame (interactive) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in [args.only] if args.only else CASES:
        r = measure(name)
        added = r["grids"] + r["original"] + r["report"]
        print(f"| {name} | {r['faces']} | {CASES[name]['texture']}² | {r['mb']:.1f} MB | {r['grids']:.2f} s "
              f"| {r['original']:.2f} s | {r['report']:.2f} s | {added:.2f} s | {r['dom_ms']:.0f} ms "
              f"| {r['first_frame_ms']:.0f} ms |")


if __name__ == "__main__":
    main()
