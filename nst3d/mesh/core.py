"""The Mesh type, exact normalization, and the index bookkeeping every reader and writer shares."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from nst3d.errors import Nst3dError


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh with an OBJ-style UV table: faces index vertices, face_uvs index uvs."""

    vertices: torch.Tensor                 # (V, 3) float32
    faces: torch.Tensor                    # (F, 3) int64 into vertices
    uvs: torch.Tensor | None = None        # (U, 2) float32, v up
    face_uvs: torch.Tensor | None = None   # (F, 3) int64 into uvs (same F as faces)
    texture: torch.Tensor | None = None    # (3, H, W) float32 in [0, 1]

    def __post_init__(self) -> None:
        if (self.uvs is None) != (self.face_uvs is None):
            raise ValueError("Mesh: uvs and face_uvs must be given together")
        if self.face_uvs is not None and self.face_uvs.shape != self.faces.shape:
            raise ValueError(f"Mesh: face_uvs {tuple(self.face_uvs.shape)} differ from faces")
        if self.texture is not None and (self.uvs is None or self.texture.shape[:1] != (3,)
                                         or self.texture.dim() != 3):
            raise ValueError("Mesh: a texture must be (3, H, W) and needs uvs")

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def replace(self, **changes: torch.Tensor | None) -> Mesh:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> Mesh:
        """A copy with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Mesh(**{k: None if v is None else v.to(device) for k, v in moved.items()})


def normalization(vertices: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(center (3,), scale) such that (vertices - center) * scale fits the unit sphere exactly.

    center is the midpoint of the axis-aligned bounding box, (min + max) / 2 per axis; scale is
    1 / max_i |vertices_i - center|, so the farthest vertex lands at distance 1. Computed in float64, so
    float32 coordinates up to their limit cannot overflow; non-finite coordinates, and extents whose
    inverse is not finite, are one-line errors.
    """
    v = vertices.detach().to(torch.float64)  # (V, 3)
    if not bool(v.isfinite().all()):
        raise Nst3dError("mesh vertex coordinates contain NaN or infinity; cannot normalize it")
    if len(v) == 0:
        raise Nst3dError("mesh has no vertices; cannot normalize it")
    center = (v.amin(0) + v.amax(0)) / 2
    radius = float((v - center).norm(dim=1).max())
    if not radius > 0:
        raise Nst3dError("mesh has zero extent (all vertices coincide); cannot normalize it")
    if not (math.isfinite(radius) and math.isfinite(1.0 / radius)):
        raise Nst3dError(f"mesh extent {radius:.3g} is too large or too small to scale to the unit sphere "
                         "in float64; rescale it")
    return center, 1.0 / radius


def normalize(mesh: Mesh) -> Mesh:
    """Move the bounding-box center to the origin and scale so the farthest vertex is at distance 1.

    Reproduce elsewhere with: center = (v.min(0) + v.max(0)) / 2; v = (v - center) / max|v - center|.
    """
    center, scale = normalization(mesh.vertices)
    v = (mesh.vertices.to(torch.float64) - center.to(mesh.vertices.device)) * scale
    return mesh.replace(vertices=v.to(mesh.vertices.dtype))


def first_occurrence(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber the values of `index` in order of first appearance: (kept old ids (K,), new index)."""
    flat = index.reshape(-1)
    values, first = np.unique(flat, return_index=True)
    kept = values[np.argsort(first, kind="stable")]  # (K,)
    remap = np.empty(int(values.max()) + 1 if len(values) else 0, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    return kept, remap[index]


def merge_rows(rows: np.ndarray, index: np.ndarray, what: str = "vertex") -> tuple[np.ndarray, np.ndarray]:
    """Merge exactly equal rows of `rows` (e.g. positions split at UV seams) and renumber `index`.

    The result is canonical: rows appear in the order `index` (flattened) first uses them, and
    unreferenced rows are dropped. Readers and writers both use it, so export -> load is exact. An
    index outside the table (a file whose faces name missing vertices) is a one-line error.
    """
    index = np.asarray(index)
    if index.size and (index.min() < 0 or index.max() >= len(rows)):
        bad = int(index.max() if index.max() >= len(rows) else index.min())
        raise Nst3dError(f"a face refers to {what} {bad}, but the mesh has {len(rows)} {what} rows "
                         f"(numbered from 0)")
    unique, inverse = np.unique(rows + 0.0, axis=0, return_inverse=True)  # + 0.0 turns -0.0 into 0.0
    kept, new_index = first_occurrence(inverse.reshape(-1)[index])
    return unique[kept], new_index


def canonical_mesh(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray | None = None,
                   face_uvs: np.ndarray | None = None, texture: torch.Tensor | None = None) -> Mesh:
    """A Mesh from arrays, with exactly equal positions and UVs merged and both tables canonical."""
    vertices, faces = merge_rows(np.asarray(vertices, dtype=np.float32), faces)  # (V, 3), (F, 3)
    if uvs is not None:
        uvs, face_uvs = merge_rows(np.asarray(uvs, dtype=np.float32), face_uvs, "UV")  # (U, 2), (F, 3)
    return Mesh(vertices=torch.from_numpy(vertices), faces=torch.from_numpy(faces),
                uvs=None if uvs is None else torch.from_numpy(uvs),
                face_uvs=None if face_uvs is None else torch.from_numpy(face_uvs), texture=texture)


def non_degenerate(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) bool: faces with three distinct vertices and non-zero area (relative to the mesh size)."""
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    tri = vertices.astype(np.float64)[faces]  # (F, 3, 3)
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)  # (F,)
    extent = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    return distinct & (area2 > 1e-12 * extent**2)
