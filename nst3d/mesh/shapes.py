"""Procedural test shapes (sphere, torus, rounded cube, blob): sample meshes and known answers for tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from nst3d.mesh.core import Mesh, canonical_mesh, non_degenerate
from nst3d.mesh.unwrap import ensure_uvs


def parametric_grid(surface: Callable[[np.ndarray, np.ndarray], np.ndarray], rows: int, cols: int) -> Mesh:
    """Mesh of surface(i / rows, j / cols) over a (rows + 1) x (cols + 1) grid, with the grid as UVs.

    u = j / cols, v = 1 - i / rows. Grid points `surface` maps to the same position (seams, poles) are
    merged, so UV seams live in face_uvs; faces that collapse at a pole are dropped.
    """
    i, j = np.meshgrid(np.arange(rows + 1), np.arange(cols + 1), indexing="ij")  # (rows + 1, cols + 1)
    positions = np.round(surface(i / rows, j / cols).reshape(-1, 3), 12)  # seam and pole points coincide
    uvs = np.stack([j / cols, 1 - i / rows], axis=-1).reshape(-1, 2)
    corner = (i[:-1, :-1] * (cols + 1) + j[:-1, :-1]).reshape(-1)  # top-left corner of each cell
    below, right = corner + cols + 1, corner + 1
    grid_faces = np.concatenate([np.stack([corner, below, below + 1], 1),
                                 np.stack([corner, below + 1, right], 1)])
    mesh = canonical_mesh(positions, grid_faces, uvs, grid_faces)
    keep = non_degenerate(mesh.vertices.numpy(), mesh.faces.numpy())
    return canonical_mesh(mesh.vertices.numpy(), mesh.faces.numpy()[keep], mesh.uvs.numpy(),
                          mesh.face_uvs.numpy()[keep])


def uv_sphere(rows: int = 24, cols: int = 48) -> Mesh:
    """Unit sphere, +Y up, with latitude-longitude UVs (u = longitude from +Z toward +X, v up)."""
    def surface(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        polar, azimuth = np.pi * s, 2 * np.pi * (t % 1)
        return np.stack([np.sin(polar) * np.sin(azimuth), np.cos(polar), np.sin(polar) * np.cos(azimuth)], -1)
    return parametric_grid(surface, rows, cols)


def torus(major: float = 0.7, minor: float = 0.3, rows: int = 24, cols: int = 48) -> Mesh:
    """Torus around the Y axis with UVs: u around the ring, v around the tube."""
    def surface(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        tube, ring = 2 * np.pi * (s % 1), 2 * np.pi * (t % 1)
        radius = major + minor * np.cos(tube)
        return np.stack([radius * np.sin(ring), -minor * np.sin(tube), radius * np.cos(ring)], -1)
    return parametric_grid(surface, rows, cols)


def rounded_cube(radius: float = 0.25, steps: int = 12) -> Mesh:
    """Cube of half-size 1 with edges rounded to `radius`, UVs from xatlas."""
    ticks = np.linspace(-1.0, 1.0, steps + 1)
    a, b = np.meshgrid(ticks, ticks, indexing="ij")
    one = np.ones_like(a)
    sides = [np.stack(p, -1) for p in ([one, b, a], [-one, a, b], [a, one, b], [b, -one, a], [b, a, one],
                                       [a, b, -one])]  # 6 grids, each wound outward
    positions, faces = [], []
    for side in sides:
        offset = sum(len(p) for p in positions)
        positions.append(side.reshape(-1, 3))
        corner = (np.arange(steps)[:, None] * (steps + 1) + np.arange(steps)[None, :]).reshape(-1) + offset
        faces += [np.stack([corner, corner + 1, corner + steps + 2], 1),
                  np.stack([corner, corner + steps + 2, corner + steps + 1], 1)]
    cube = np.concatenate(positions)
    inner = np.clip(cube, -1 + radius, 1 - radius)
    direction = cube - inner
    rounded = inner + radius * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    return ensure_uvs(canonical_mesh(rounded, np.concatenate(faces)))


def blob(seed: int = 0, subdivisions: int = 3, bumps: int = 6, amplitude: float = 0.12) -> Mesh:
    """An organic closed surface: an icosphere displaced by a few seeded sinusoidal bumps; xatlas UVs."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(bumps, 3)) * rng.uniform(1.5, 3.5, size=(bumps, 1))  # (K, 3) frequencies
    phases = rng.uniform(0, 2 * np.pi, size=bumps)
    points = np.asarray(sphere.vertices)  # (V, 3) unit vectors
    radius = 1 + amplitude * np.sin(points @ directions.T + phases).mean(1, keepdims=True) * 2
    return ensure_uvs(canonical_mesh(points * radius, np.asarray(sphere.faces, dtype=np.int64)))
