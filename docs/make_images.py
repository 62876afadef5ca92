"""Regenerate the README's images in docs/images from runs of the tool itself.

    python docs/make_images.py          # the 2D example (about 1 minute on a 2-core CPU) and the mesh GIFs

The 2D example stylizes the repo's procedural landscape with its swirls style. The mesh GIFs are the
end-to-end run of `benchmarks/bench_mesh.py` (Spot + Starry Night from ../shared/data, CLI defaults),
which must have run first; every second frame is kept and the turntable is scaled to 256 px, so the
README stays light.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

from nst3d.io import save_gif

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
MESH_RUN = ROOT / "benchmarks" / "out" / "spot_triangulated"
SIDE = 256


def halve_gif(source: Path, target: Path, fps: float, final_hold: float) -> None:
    """Every second frame of `source`, scaled to SIDE px, written to `target`."""
    frames = iio.imread(source, index=None)[::2, ..., :3]                       # (N, H, W, 3) uint8
    small = [np.asarray(Image.fromarray(f).resize((SIDE, SIDE), Image.LANCZOS)) for f in frames]
    save_gif(small, target, fps=fps, final_hold=final_hold)


def main() -> None:
    if not (MESH_RUN / "turntable.gif").exists():
        sys.exit(f"{MESH_RUN} is missing: run `python benchmarks/bench_mesh.py --only end-to-end` first")
    subprocess.run([sys.executable, "-m", "nst3d", "image", str(ROOT / "examples" / "landscape.jpg"),
                    str(ROOT / "styles" / "swirls.jpg"), "--size", "320", "--backbone", "vgg16-hed",
                    "--quiet", "-o", str(IMAGES / "landscape_swirls.jpg")], check=True)
    (IMAGES / "landscape_swirls.json").unlink()  # the record is not part of the docs
    halve_gif(MESH_RUN / "turntable.gif", IMAGES / "spot_turntable.gif", fps=8, final_hold=0)
    halve_gif(MESH_RUN / "progress.gif", IMAGES / "spot_progress.gif", fps=6, final_hold=1.0)


if __name__ == "__main__":
    main()
