"""UV seams: where two faces that share an edge on the surface lie in different places of the texture.

`seam_contrast` measures how visible seams are: for every interior edge the texture is sampled just
inside each of the two faces, at the edge midpoint moved a small fraction toward that face's UV centroid
(what an unlit render shows on either side of the edge). Across an ordinary edge both samples come from
one UV island and differ by the texture's local gradient only; across a seam they come from two islands.
A ratio near 1 means invisible seams. `seam_points` gives matching points on both sides of every seam,
which the 3D pipeline uses to keep colors continuous across seams while it optimizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nst3d.mesh import Mesh
from nst3d.render.shade import sample_texture

INSET = 0.15  # fraction of the way from the edge midpoint to the face's UV centroid


@dataclass(frozen=True)
class EdgeSides:
    """Interior edges as two (face, corner) slots each; corner k is the edge from corner k to k+1."""

    first: np.ndarray   # (E,) slot = 3 * face + corner
    second: np.ndarray  # (E,)
    seam: np.ndarray    # (E,) bool: the two faces use different UVs along this edge


def interior_edges(mesh: Mesh) -> EdgeSides:
    """Edges shared by exactly two faces, and which of them are UV seams."""
    faces, face_uvs = mesh.faces.cpu().numpy(), mesh.face_uvs.cpu().numpy()
    uvs = mesh.uvs.cpu().numpy()
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)         # (3F, 2)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    interior = np.flatnonzero(counts[inverse] == 2)
    order = interior[np.argsort(inverse[interior], kind="stable")]
    first, second = order[0::2], order[1::2]
    return EdgeSides(first, second, np.any(_edge_uvs(faces, face_uvs, uvs, first)
                                           != _edge_uvs(faces, face_uvs, uvs, second), axis=(1, 2)))


def _edge_uvs(faces: np.ndarray, face_uvs: np.ndarray, uvs: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """UVs (E, 2, 2) of each slot's edge ends, ordered by vertex index so both sides line up."""
    face, corner = slots // 3, slots % 3
    a, b = corner, (corner + 1) % 3
    va, vb = faces[face, a], faces[face, b]
    ua, ub = uvs[face_uvs[face, a]], uvs[face_uvs[face, b]]
    swap = (va > vb)[:, None]
    return np.stack([np.where(swap, ub, ua), np.where(swap, ua, ub)], axis=1)


def _points(mesh: Mesh, slots: np.ndarray, t: float, inset: float) -> np.ndarray:
    """UV points (E, 2) at fraction t along each slot's edge, moved `inset` toward the face's UV centroid."""
    faces, face_uvs = mesh.faces.cpu().numpy(), mesh.face_uvs.cpu().numpy()
    uvs = mesh.uvs.cpu().numpy().astype(np.float64)
    ends = _edge_uvs(faces, face_uvs, uvs, slots)
    point = (1 - t) * ends[:, 0] + t * ends[:, 1]
    centroid = uvs[face_uvs[slots // 3]].mean(1)
    return point + inset * (centroid - point)


def seam_points(mesh: Mesh, ts: tuple[float, ...] = (0.25, 0.5, 0.75)) -> tuple[torch.Tensor, torch.Tensor]:
    """Matching UV points (N, 2) on the two sides of every seam edge, at fractions `ts` along it."""
    sides = interior_edges(mesh)
    first, second = sides.first[sides.seam], sides.second[sides.seam]
    one = np.concatenate([_points(mesh, first, t, 0.0) for t in ts])
    two = np.concatenate([_points(mesh, second, t, 0.0) for t in ts])
    return torch.from_numpy(one).float(), torch.from_numpy(two).float()


def sample_points(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear colors (N, C) of texture (C, T, T) or (1, C, T, T) at UV points (N, 2)."""
    tex = texture if texture.dim() == 4 else texture[None]
    return sample_texture(tex, uv.to(tex.device).view(1, 1, -1, 2))[0, :, 0].T


def seam_contrast(mesh: Mesh, texture: torch.Tensor) -> dict[str, float]:
    """Mean color difference across seam edges and across ordinary edges, and their ratio."""
    sides = interior_edges(mesh)
    one = torch.from_numpy(_points(mesh, sides.first, 0.5, INSET)).float()
    two = torch.from_numpy(_points(mesh, sides.second, 0.5, INSET)).float()
    texture = texture.detach().float().cpu()
    diff = (sample_points(texture, one) - sample_points(texture, two)).abs().mean(1).numpy()
    seam = sides.seam
    seam_mean = float(diff[seam].mean()) if seam.any() else 0.0
    ordinary_mean = float(diff[~seam].mean()) if (~seam).any() else 0.0
    return {"seam_edges": int(seam.sum()), "ordinary_edges": int((~seam).sum()), "seam_mean": seam_mean,
            "ordinary_mean": ordinary_mean, "ratio": seam_mean / max(ordinary_mean, 1e-12)}
