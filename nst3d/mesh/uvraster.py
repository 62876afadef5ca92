"""Texture-space work: which texels UV triangles cover, seam padding, and baking colours into a texture.

UV triangles are rasterized with the renderer's `rasterize`, as an orthographic view of the UV square:
clip = (2u - 1, 2v - 1, 0, 1). Its pixel convention then gives texel (i, j) the center
u = (j + 0.5) / W, v = 1 - (i + 0.5) / H (v up), as the renderer's texture sampling expects.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy import ndimage

from nst3d.mesh.core import Mesh
from nst3d.render.raster import Fragments, rasterize

PAD_PIXELS = 8  # how far seam padding and baking extend colours past the UV islands


def uv_fragments(uvs: torch.Tensor, face_uvs: torch.Tensor, size: tuple[int, int]) -> Fragments:
    """Rasterize the UV layout: per texel the face whose UV triangle holds its center (-1 if none)."""
    clip = F.pad(uvs.float() * 2 - 1, (0, 2))  # (U, 4) with z = 0
    clip[:, 3] = 1.0  # w = 1: an orthographic view
    return rasterize(clip[None], face_uvs, size)


def uv_coverage_mask(mesh: Mesh, size: tuple[int, int]) -> torch.Tensor:
    """(H, W) bool: texels that bilinear lookups inside the UV islands read (covered centers + 1 texel)."""
    covered = uv_fragments(mesh.uvs, mesh.face_uvs, size).face_id >= 0  # (1, H, W)
    return F.max_pool2d(covered.float()[None], 3, stride=1, padding=1)[0, 0] > 0


def nearest_covered(coverage: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For every texel of an (H, W) bool mask: distance to, and (rows, cols) of, the nearest covered texel."""
    mask = coverage.cpu().numpy()
    distance, (rows, cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    return (torch.from_numpy(distance).to(coverage.device), torch.from_numpy(rows).to(coverage.device),
            torch.from_numpy(cols).to(coverage.device))


def pad_texture(texture: torch.Tensor, coverage: torch.Tensor, pixels: int = PAD_PIXELS) -> torch.Tensor:
    """Copy each uncovered texel within `pixels` of coverage from its nearest covered texel (seam padding).

    Covered texels are unchanged; texels farther away keep their value. Works on (C, H, W) or (1, C, H, W).
    """
    if not coverage.any() or coverage.all():
        return texture.clone()
    distance, rows, cols = nearest_covered(coverage)
    fill = ((distance <= pixels) & ~coverage).to(texture.device)  # (H, W)
    return torch.where(fill, texture[..., rows.to(texture.device), cols.to(texture.device)], texture)


def bake_colors(uvs: torch.Tensor, face_uvs: torch.Tensor, corner_colors: torch.Tensor,
                size: tuple[int, int]) -> torch.Tensor:
    """Texture (C, H, W) holding per-corner colours (F, 3, C) interpolated over each UV triangle, padded.

    Texels whose centers lie in a UV triangle get its interpolated colour; padding extends the islands
    by PAD_PIXELS; the rest get the mean colour. The UV layout must not overlap (an xatlas atlas does not).
    """
    frags = uv_fragments(uvs, face_uvs, size)
    face, bary = frags.face_id[0], frags.bary[0]  # (H, W), (H, W, 3)
    covered = face >= 0
    colors = (bary[covered].unsqueeze(2) * corner_colors[face[covered]].float()).sum(1)  # (N, C)
    mean = corner_colors.float().reshape(-1, corner_colors.shape[-1]).mean(0)
    texture = mean[:, None, None].repeat(1, *size)  # (C, H, W)
    texture[:, covered] = colors.T
    return pad_texture(texture.clamp(0, 1), covered, PAD_PIXELS)
