"""Texture-space work: which texels UV triangles cover, seam padding, and baking colours into a texture.

Texel (i, j) of an (H, W) texture has its center at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H (v up, as
the renderer samples it). This is a 2-D coverage rasterizer, not the renderer's z-buffer: it returns
every (texel, face) hit, optionally conservative, which overlap checks and padding need.
"""

from __future__ import annotations

import torch
from scipy import ndimage

from nst3d.mesh.core import Mesh

SAMPLER_REACH = 1.0  # a bilinear read at p touches texels whose centers are < 1 texel away (L-inf)


def uv_hits(uvs: torch.Tensor, face_uvs: torch.Tensor, size: tuple[int, int],
            reach: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (texel, face) pair whose texel center lies in the UV triangle grown by `reach` texels (L-inf).

    Returns texel (N,) flat index i * W + j and face (N,), sorted by face. reach=0 tests texel centers;
    reach=1 gives every texel a bilinear lookup inside the triangle can read. Zero-area UV faces cover
    nothing. Scanline order: per face and texel row, the covered column span is solved from the edge
    functions, so the work is proportional to the hits.
    """
    height, width = size
    tri, to_bary, bound = _setup(uvs, face_uvs, size, reach)
    lo = torch.ceil(tri.amin(1) - reach - 0.5).clamp_min(0).long()  # (F, 2) first candidate column, row
    hi = torch.minimum(torch.floor(tri.amax(1) + reach - 0.5).long(),
                       torch.tensor([width - 1, height - 1], device=uvs.device))
    num_rows = torch.where(torch.isfinite(bound).all(1), (hi[:, 1] - lo[:, 1] + 1).clamp_min(0), 0)  # (F,)
    face, row = _ranges(lo[:, 1], num_rows)  # (R,) one entry per face and texel row
    first, last = _span(to_bary[face], bound[face], row.to(torch.float64) + 0.5)
    first = torch.maximum(first, lo[face, 0])
    num_cols = (torch.minimum(last, hi[face, 0]) - first + 1).clamp_min(0)  # (R,)
    owner, col = _ranges(first, num_cols)
    return row[owner] * width + col, face[owner]


def texel_barycentrics(uvs: torch.Tensor, face_uvs: torch.Tensor, size: tuple[int, int], texel: torch.Tensor,
                       face: torch.Tensor) -> torch.Tensor:
    """(N, 3) barycentrics of texel centers (flat indices) in their UV faces, as uv_hits pairs them."""
    _, to_bary, _ = _setup(uvs, face_uvs, size, 0.0)
    coef = to_bary[face]  # (N, 3, 3)
    x = (texel % size[1]).to(torch.float64).unsqueeze(1) + 0.5
    y = torch.div(texel, size[1], rounding_mode="floor").to(torch.float64).unsqueeze(1) + 0.5
    return (coef[..., 0] * x + coef[..., 1] * y + coef[..., 2]).float()


def _setup(uvs: torch.Tensor, face_uvs: torch.Tensor, size: tuple[int, int],
           reach: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """UV triangles in texel units (F, 3, 2) (x right, y down) and their edge functions (see below)."""
    height, width = size
    scale = torch.tensor([width, -height], dtype=torch.float64, device=uvs.device)
    offset = torch.tensor([0.0, height], dtype=torch.float64, device=uvs.device)
    tri = uvs.to(torch.float64)[face_uvs] * scale + offset  # (F, 3, 2)
    return tri, *_edge_functions(tri, reach)


def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Enumerate integer ranges [start, start + count): (owner index (N,), value (N,))."""
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    begin = torch.cumsum(counts, 0) - counts
    return owner, starts[owner] + torch.arange(len(owner), device=counts.device) - begin[owner]


def _span(to_bary: torch.Tensor, bound: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last texel column (R,) whose center (x, y) meets every bary bound on its row."""
    slope = to_bary[..., 0]  # (R, 3): bary_k = slope_k x + rest_k
    need = bound - to_bary[..., 1] * y.unsqueeze(1) - to_bary[..., 2]  # slope_k x >= need_k
    ratio = need / torch.where(slope == 0, 1.0, slope)
    x_min = torch.where(slope > 0, ratio, -torch.inf).amax(1)
    x_max = torch.where(slope < 0, ratio, torch.inf).amin(1)
    blocked = ((slope == 0) & (need > 0)).any(1)
    x_max = torch.where(blocked, -torch.inf, x_max)
    first = torch.ceil(x_min - 0.5).clamp(-1, 1 << 30).long()
    last = torch.floor(x_max - 0.5).clamp(-1, 1 << 30).long()
    return first, last


def _edge_functions(tri: torch.Tensor, reach: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per triangle (F, 3, 2): bary = coef @ (x, y, 1) with coef (F, 3, 3), and bounds (F, 3) on bary.

    Growing edge k outward by `reach` texels in L-inf lowers its bound from 0 to -reach (|ex| + |ey|) / |2A|.
    Zero-area triangles get an infinite bound, so they cover nothing.
    """
    a, b, c = tri.unbind(1)
    edges = torch.stack([c - b, a - c, b - a], dim=1)  # (F, 3, 2): edge k is opposite corner k
    starts = torch.stack([b, c, a], dim=1)
    # edge function k at p: ex * (py - sy) - ey * (px - sx) = (-ey) px + ex py + (ey sx - ex sy)
    lin = torch.stack([-edges[..., 1], edges[..., 0],
                       edges[..., 1] * starts[..., 0] - edges[..., 0] * starts[..., 1]], dim=2)  # (F, 3, 3)
    area2 = (edges[:, 0, 0] * (a - b)[:, 1] - edges[:, 0, 1] * (a - b)[:, 0]).unsqueeze(1)  # (F, 1) signed
    safe = torch.where(area2 == 0, 1.0, area2)
    threshold = torch.where(area2 == 0, torch.inf, -reach * edges.abs().sum(2) / safe.abs())
    return lin / safe.unsqueeze(2), threshold


def uv_coverage_mask(mesh: Mesh, size: tuple[int, int]) -> torch.Tensor:
    """(H, W) bool: texels that bilinear texture lookups on the mesh's UV triangles can read."""
    texel, _ = uv_hits(mesh.uvs, mesh.face_uvs, size, reach=SAMPLER_REACH)
    mask = torch.zeros(size[0] * size[1], dtype=torch.bool, device=mesh.uvs.device)
    mask[texel] = True
    return mask.view(size)


def pad_texture(texture: torch.Tensor, coverage: torch.Tensor, pixels: int = 8) -> torch.Tensor:
    """Copy each uncovered texel within `pixels` of coverage from its nearest covered texel (seam padding).

    Covered texels are unchanged; texels farther away keep their value. Works on (C, H, W) or (1, C, H, W).
    """
    mask = coverage.cpu().numpy()
    if not mask.any() or mask.all():
        return texture.clone()
    distance, (rows, cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    fill = torch.from_numpy((distance <= pixels) & ~mask).to(texture.device)  # (H, W)
    rows = torch.from_numpy(rows).to(texture.device)
    cols = torch.from_numpy(cols).to(texture.device)
    return torch.where(fill, texture[..., rows, cols], texture)


def bake_colors(uvs: torch.Tensor, face_uvs: torch.Tensor, corner_colors: torch.Tensor,
                size: tuple[int, int]) -> torch.Tensor:
    """Texture (C, H, W) holding per-corner colours (F, 3, C) interpolated over each UV triangle, padded.

    A texel whose center lies in a face takes that face's colour; other texels a bilinear lookup can
    read extend the nearest face's colours (lowest face id wins ties); the rest get the mean colour.
    The UV layout must not overlap (an xatlas atlas does not).
    """
    height, width = size
    num_faces = len(face_uvs)
    inner_texel, inner_face = uv_hits(uvs, face_uvs, size)
    outer_texel, outer_face = uv_hits(uvs, face_uvs, size, reach=SAMPLER_REACH)
    texel = torch.cat([inner_texel, outer_texel])
    rank = torch.cat([inner_face, outer_face + num_faces])  # centers inside a face come first
    best = torch.full((height * width,), 2 * num_faces, device=uvs.device)
    best = best.scatter_reduce(0, texel, rank, reduce="amin")  # (H * W,)
    pick = rank == best[texel]  # exactly one hit per covered texel
    texel, face = texel[pick], rank[pick] % num_faces
    weights = texel_barycentrics(uvs, face_uvs, size, texel, face).clamp_min(0)
    weights = weights / weights.sum(1, keepdim=True)  # (N, 3)
    colors = (weights.unsqueeze(2) * corner_colors[face].float()).sum(1)  # (N, C)
    flat = corner_colors.float().reshape(-1, corner_colors.shape[-1]).mean(0).repeat(height * width, 1)
    flat[texel] = colors  # (H * W, C)
    covered = best < 2 * num_faces
    return pad_texture(flat.T.reshape(-1, height, width).clamp(0, 1), covered.view(height, width))
