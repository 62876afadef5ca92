"""Regenerate the README's images in docs/images from runs of the tool itself.

    python docs/make_images.py          # the 2D example (about 1 minute on a 2-core CPU) and the mesh GIFs
    python docs/make_images.py studies  # only the three `nst3d study` sheets (about 6 minutes)
    python docs/make_images.py run      # only the README's run command's GIFs (about 2 minutes)
    python docs/make_images.py spot     # only the Spot GIFs (bench_mesh.py --only end-to-end first)
    python docs/make_images.py losses   # bench_losses.py's contact sheets (run its sections first)
    python docs/make_images.py losses spot_face spot_face_closeup   # only these sheets

The 2D example stylizes the repo's procedural landscape with its swirls style. The mesh GIFs are the
end-to-end run of `benchmarks/bench_mesh.py` (Spot + Starry Night from ../shared/data, CLI defaults),
which must have run first; every second frame is kept and the turntable is scaled to 256 px, so the
README stays light. The study sheets are `nst3d study layers | texture | weights` on the samples with
the defaults but small (--size 128 --steps 60), each sheet.png stored with 256 colors (< 200 KB).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

from nst3d.io import save_gif

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MESH_RUN = ROOT / "benchmarks" / "out" / "spot_triangulated"
README_RUN = ["mesh", "meshes/blob.obj", "styles/swirls.jpg", "--preset", "draft"]  # the README's Run command
SIDE = 256
LOSS_CASES = ("spot", "blob", "image", "spot_face", "spot_face_closeup", "spot_color", "image_color",
              "spot_precision", "image_precision")
STUDIES = {  # README sheet -> `nst3d study` subcommand and its sample inputs
    "study_layers": ["layers", "examples/landscape.jpg"],
    "study_texture": ["texture", "styles/mosaic.jpg"],
    "study_weights": ["weights", "examples/landscape.jpg", "styles/swirls.jpg"],
}


def halve_gif(source: Path, target: Path, fps: float, final_hold: float) -> None:
    """Every second frame of `source`, scaled to SIDE px, written to `target`."""
    frames = iio.imread(source, index=None)[::2, ..., :3]                       # (N, H, W, 3) uint8
    small = [np.asarray(Image.fromarray(f).resize((SIDE, SIDE), Image.LANCZOS)) for f in frames]
    save_gif(small, target, fps=fps, final_hold=final_hold)


def study_sheets() -> None:
    """Each kind of study with its default settings at 128 px and 60 steps; the sheets as 256-color PNGs."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, (kind, *inputs) in STUDIES.items():
            folder = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "nst3d", "study", kind, *(str(ROOT / i) for i in inputs),
                            "--size", "128", "--steps", "60", "--backbone", "vgg16-hed", "--quiet",
                            "-o", str(folder)], check=True)
            sheet = Image.open(folder / "sheet.png").quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
            sheet.save(IMAGES / f"{name}.png", optimize=True)


def readme_run() -> None:
    """The README's run command, as a user types it; its turntable and progress GIFs, halved."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "nst3d", *README_RUN, "--quiet", "-o", tmp, "--force"]
        subprocess.run(command, cwd=ROOT, check=True)
        halve_gif(Path(tmp) / "turntable.gif", IMAGES / "blob_turntable.gif", fps=8, final_hold=0)
        halve_gif(Path(tmp) / "progress.gif", IMAGES / "blob_progress.gif", fps=6, final_hold=1.0)


def spot_gifs() -> None:
    """The end-to-end benchmark's Spot run (CLI defaults): its turntable and progress GIFs, halved."""
    if not (MESH_RUN / "turntable.gif").exists():
        sys.exit(f"{MESH_RUN} is missing: run `python benchmarks/bench_mesh.py --only end-to-end` first")
    halve_gif(MESH_RUN / "turntable.gif", IMAGES / "spot_turntable.gif", fps=8, final_hold=0)
    halve_gif(MESH_RUN / "progress.gif", IMAGES / "spot_progress.gif", fps=6, final_hold=1.0)


def loss_sheets(cases: list[str]) -> None:
    """benchmarks/bench_losses.py's contact sheets (one row per loss, the same views) as JPEGs: `cases`,
    or all of LOSS_CASES."""
    for case in cases or LOSS_CASES:
        sheet = ROOT / "benchmarks" / "out" / "losses" / f"{case}_losses.png"
        if not sheet.exists():
            sys.exit(f"{sheet} is missing: run `python benchmarks/bench_losses.py --only panel` first")
        Image.open(sheet).convert("RGB").save(IMAGES / f"losses_{case}.jpg", quality=85)


def main() -> None:
    if sys.argv[1:2] == ["losses"]:
        loss_sheets(sys.argv[2:])
        return
    if sys.argv[1:] == ["run"]:
        readme_run()
        return
    if sys.argv[1:] == ["spot"]:
        spot_gifs()
        return
    study_sheets()
    if sys.argv[1:] == ["studies"]:
        return
    spot_gifs()
    subprocess.run([sys.executable, "-m", "nst3d", "image", str(ROOT / "examples" / "landscape.jpg"),
                    str(ROOT / "styles" / "swirls.jpg"), "--size", "320", "--backbone", "vgg16-hed",
                    "--quiet", "-o", str(IMAGES / "landscape_swirls.jpg")], check=True)
    (IMAGES / "landscape_swirls.json").unlink()  # the record is not part of the docs
    readme_run()


if __name__ == "__main__":
    main()
