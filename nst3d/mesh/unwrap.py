"""UV atlases from xatlas for meshes that have none (vertices split at seams via a face -> UV table)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from nst3d.errors import Nst3dError
from nst3d.mesh.core import Mesh, first_occurrence, normalization

ATLAS_RESOLUTION = 1024  # texels per side xatlas plans for; gutters below are in these texels
ATLAS_PADDING = 4        # texels between charts, so bilinear reads and seam padding never mix charts
CHILD = Path(__file__).resolve().parents[1] / "_xatlas_child.py"  # run as a script: imports no nst3d
SAFE_EXTENT = 1e8        # xatlas squares float32 lengths: beyond this (or below 1 / this) it would overflow


def unwrap(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas atlas of a triangle mesh: (uvs (U, 2) in [0, 1], face_uvs (F, 3), uv -> vertex (U,)).

    xatlas runs in a child process (nst3d._xatlas_child): it segfaults on some meshes, and a crash there
    is one clear error here instead of the end of this process."""
    with tempfile.TemporaryDirectory(prefix="nst3d-xatlas.") as folder:
        given, found = Path(folder) / "in.npz", Path(folder) / "out.npz"
        np.savez(given, positions=_xatlas_positions(vertices), resolution=ATLAS_RESOLUTION,
                 faces=np.ascontiguousarray(faces, dtype=np.uint32), padding=ATLAS_PADDING)
        child = subprocess.run([sys.executable, str(CHILD), str(given), str(found)], capture_output=True,
                               text=True)
        if child.returncode < 0:
            raise Nst3dError(f"xatlas crashed (signal {-child.returncode}) building a UV atlas for this "
                             "mesh; give it UVs in a 3D tool (e.g. Blender's Smart UV Project) and try again")
        if child.returncode != 0:
            last = (child.stderr.strip().splitlines() or ["no message"])[-1]
            raise Nst3dError(f"could not build a UV atlas for this mesh ({last})")
        with np.load(found) as atlas:
            vmapping, face_uvs, uvs = atlas["vmapping"], atlas["face_uvs"], atlas["uvs"]
            count = int(atlas["atlas_count"])
    if count != 1 or len(face_uvs) != len(faces) or not np.isfinite(uvs).all():
        raise Nst3dError(f"could not build a UV atlas for this mesh (xatlas made {count} "
                         f"atlases for {len(faces)} faces)")
    kept, face_uvs = first_occurrence(face_uvs.astype(np.int64))
    return uvs[kept], face_uvs, vmapping[kept].astype(np.int64)


def _xatlas_positions(vertices: np.ndarray) -> np.ndarray:
    """float32 positions for xatlas: as given, or scaled to the unit sphere when they are so large or small
    that xatlas's float32 squares and cross products overflow or underflow (it hangs or crashes then).

    xatlas's charts and packing do not depend on the mesh's scale, so rescaling only removes the overflow.
    """
    v = np.asarray(vertices, dtype=np.float64)  # (V, 3)
    extent = float(np.abs(v).max()) if v.size else 0.0
    if 1 / SAFE_EXTENT <= extent <= SAFE_EXTENT:
        return np.ascontiguousarray(v, dtype=np.float32)
    center, scale = normalization(torch.from_numpy(v))
    return np.ascontiguousarray((v - center.numpy()) * scale, dtype=np.float32)


def ensure_uvs(mesh: Mesh) -> Mesh:
    """The mesh itself if it has UVs, else a copy with an xatlas atlas."""
    if mesh.uvs is not None:
        return mesh
    uvs, face_uvs, _ = unwrap(mesh.vertices.cpu().numpy(), mesh.faces.cpu().numpy())
    device = mesh.vertices.device
    return mesh.replace(uvs=torch.from_numpy(uvs).to(device), face_uvs=torch.from_numpy(face_uvs).to(device))
