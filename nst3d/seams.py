"""Seam visibility: color jumps across UV-seam edges compared with jumps across ordinary edges.

For every interior edge shared by two faces, the texture is sampled just inside each face, at the
edge's midpoint moved a small fraction toward that face's UV centroid: this is what an unlit render shows
on either side of the edge. Across an ordinary edge both samples come from the same UV island and differ
only by the texture's local gradient; across a seam they come from different islands. A ratio near 1
means seams are invisible; a large ratio means visible seams.
"""

from __future__ import annotations

import numpy as np
import torch

from nst3d.mesh import Mesh
from nst3d.render.shade import sample_texture

INSET = 0.15  # fraction of the way from the edge midpoint to the face's UV centroid


def seam_contrast(mesh: Mesh, texture: torch.Tensor) -> dict[str, float]:
    """Mean color difference across seam edges and across ordinary edges, and their ratio."""
    faces = mesh.faces.cpu().numpy()
    face_uvs = mesh.face_uvs.cpu().numpy()
    uvs = mesh.uvs.cpu().numpy().astype(np.float64)
    corner_a, corner_b = np.array([0, 1, 2]), np.array([1, 2, 0])
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 3, 2), axis=-1).reshape(-1, 2)  # (3F, 2)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    interior = np.flatnonzero(counts[inverse] == 2)            # edge slots of manifold interior edges
    order = interior[np.argsort(inverse[interior], kind="stable")]
    first, second = order[0::2], order[1::2]                   # the two slots of each interior edge

    def inside_point(slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        face, corner = slot // 3, slot % 3
        tri = uvs[face_uvs[face]]                              # (E, 3, 2)
        a, b = face_uvs[face, corner_a[corner]], face_uvs[face, corner_b[corner]]
        mid = (uvs[a] + uvs[b]) / 2
        point = mid + INSET * (tri.mean(1) - mid)
        # the vertex pair (sorted by position index) identifies the UV corners used on this side
        va, vb = faces[face, corner_a[corner]], faces[face, corner_b[corner]]
        pair = np.where((va < vb)[:, None], np.stack([a, b], 1), np.stack([b, a], 1))
        return point, pair

    p1, uv_pair1 = inside_point(first)
    p2, uv_pair2 = inside_point(second)
    seam = np.any(uvs[uv_pair1] != uvs[uv_pair2], axis=(1, 2))
    points = torch.from_numpy(np.concatenate([p1, p2])).float().view(1, 1, -1, 2)
    tex = texture if texture.dim() == 4 else texture[None]
    colors = sample_texture(tex.float().cpu(), points)[0, :, 0].T.numpy()  # (2E, 3)
    diff = np.abs(colors[: len(p1)] - colors[len(p1):]).mean(1)
    seam_mean = float(diff[seam].mean()) if seam.any() else 0.0
    ordinary_mean = float(diff[~seam].mean()) if (~seam).any() else 0.0
    return {"seam_edges": int(seam.sum()), "ordinary_edges": int((~seam).sum()), "seam_mean": seam_mean,
            "ordinary_mean": ordinary_mean, "ratio": seam_mean / max(ordinary_mean, 1e-12)}
