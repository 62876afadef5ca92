"""Small meshes with known geometry for the renderer tests, built directly as tensors."""

from __future__ import annotations

import torch
import trimesh

from nst3d.mesh import Mesh


def quad(texture: torch.Tensor | None = None, z: float = 0.0) -> Mesh:
    """The square [-1, 1]^2 at depth z facing +Z, UVs [0, 1]^2 with v up, two triangles."""
    vertices = torch.tensor([[-1, -1, z], [1, -1, z], [1, 1, z], [-1, 1, z]], dtype=torch.float32)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    uvs = (vertices[:, :2] + 1) / 2
    return Mesh(vertices, faces, uvs, faces.clone(), texture)


def icosphere(subdivisions: int = 4, radius: float = 1.0) -> Mesh:
    """An icosphere with its vertices on the sphere of `radius` around the origin."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(torch.tensor(sphere.vertices, dtype=torch.float32), torch.tensor(sphere.faces))


def grid(n: int, jitter: float = 0.0, seed: int = 0) -> Mesh:
    """The square [-1, 1]^2 at z=0 cut into n x n cells of two triangles with random diagonals; shared
    interior vertices moved randomly by up to `jitter` cell sizes (the outline stays a square)."""
    gen = torch.Generator().manual_seed(seed)
    ticks = torch.linspace(-1, 1, n + 1)
    y, x = torch.meshgrid(ticks, ticks, indexing="ij")
    vertices = torch.stack([x, y, torch.zeros_like(x)], dim=-1)            # (n+1, n+1, 3)
    interior = (torch.rand(n - 1, n - 1, 2, generator=gen) - 0.5) * (2 * jitter * 2 / n)
    vertices[1:-1, 1:-1, :2] += interior
    index = torch.arange((n + 1) ** 2).view(n + 1, n + 1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]  # (n, n) cell corners
    flip = torch.rand(n, n, generator=gen) < 0.5
    first = torch.where(flip[..., None], torch.stack([a, b, c], -1), torch.stack([a, b, d], -1))
    second = torch.where(flip[..., None], torch.stack([a, c, d], -1), torch.stack([b, c, d], -1))
    faces = torch.cat([first.reshape(-1, 3), second.reshape(-1, 3)])
    return Mesh(vertices.reshape(-1, 3), faces)
