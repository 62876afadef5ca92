"""Write the sample meshes in this folder with project code only: python meshes/make_samples.py [OUT_DIR].

Deterministic (fixed sizes and seeds): running it again reproduces the committed files byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from nst3d.mesh import export_obj
from nst3d.mesh.shapes import blob, rounded_cube, torus, uv_sphere

TEXTURE_SIZE = 256


def checker_texture(size: int = TEXTURE_SIZE, squares: tuple[int, int] = (16, 8)) -> torch.Tensor:
    """(3, size, size) checkerboard over a colour gradient: red grows with u, green with v (v up)."""
    centers = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    v, u = 1 - centers[:, None].expand(size, size), centers[None, :].expand(size, size)
    light = ((u * squares[0]).floor() + (v * squares[1]).floor()) % 2  # (size, size) 0 or 1
    shade = 0.55 + 0.45 * light
    return torch.stack([u * shade, v * shade, 0.35 * shade + 0.1])


def main(out_dir: Path) -> None:
    """Write sphere.obj, torus.obj (+ .mtl + .png), rounded_cube.obj and blob.obj into out_dir."""
    export_obj(uv_sphere(), None, out_dir / "sphere.obj")
    export_obj(torus(), checker_texture(), out_dir / "torus.obj")
    export_obj(rounded_cube(), None, out_dir / "rounded_cube.obj")
    export_obj(blob(seed=0), None, out_dir / "blob.obj")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
