"""`python nst3d/_xatlas_child.py IN.npz OUT.npz`: one xatlas run in a process of its own.

xatlas segfaults on some meshes (e.g. a 6-times subdivided icosphere); run in a child, that costs the
child, and the parent reports it in one line instead of dying without a word. Only numpy and xatlas are
imported here, so the child starts in a fraction of a second.
"""

from __future__ import annotations

import sys

import numpy as np
import xatlas


def generate(positions: np.ndarray, faces: np.ndarray, resolution: int, padding: int
             ) -> dict[str, np.ndarray]:
    """xatlas's atlas of float32 `positions` (V, 3) and uint32 `faces` (F, 3), packed at `resolution`
    with `padding` texels between charts -> vmapping (U,), face_uvs (F, 3), uvs (U, 2), atlas_count."""
    atlas = xatlas.Atlas()
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear = resolution, padding, True
    atlas.add_mesh(positions, faces)
    atlas.generate(pack_options=pack)
    vmapping, face_uvs, uvs = atlas[0]
    return {"vmapping": vmapping, "face_uvs": face_uvs, "uvs": uvs,
            "atlas_count": np.array(atlas.atlas_count)}


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    with np.load(source) as given:
        found = generate(given["positions"], given["faces"], int(given["resolution"]), int(given["padding"]))
    np.savez(target, **found)
