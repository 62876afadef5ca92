"""Several textures -> one atlas: each texture fills a grid cell, and UVs are remapped into their cell."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nst3d.runtime import notice

MAX_ATLAS_SIDE = 4096
CELL_MARGIN = 4  # texels of replicated border around each cell, so bilinear reads never cross cells


def pack_textures(textures: list[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray]]]:
    """Atlas (3, H, W) of textures (3, h, w) resized to one cell size; per texture (offset, scale) in UV.

    A UV (u, v) of texture k maps to offset_k + clamp(u, v) * scale_k in the atlas (v up).
    """
    cols = math.ceil(math.sqrt(len(textures)))
    rows = math.ceil(len(textures) / cols)
    cell_h = min(max(t.shape[1] for t in textures), MAX_ATLAS_SIDE // rows - 2 * CELL_MARGIN)
    cell_w = min(max(t.shape[2] for t in textures), MAX_ATLAS_SIDE // cols - 2 * CELL_MARGIN)
    pitch_h, pitch_w = cell_h + 2 * CELL_MARGIN, cell_w + 2 * CELL_MARGIN
    height, width = rows * pitch_h, cols * pitch_w
    atlas = torch.zeros(3, height, width)
    placements = []
    for k, texture in enumerate(textures):
        cell = F.interpolate(texture[None].float(), size=(cell_h, cell_w), mode="bilinear",
                             align_corners=False, antialias=True)
        cell = F.pad(cell, [CELL_MARGIN] * 4, mode="replicate")[0]  # (3, pitch_h, pitch_w)
        top, left = (k // cols) * pitch_h, (k % cols) * pitch_w
        atlas[:, top:top + pitch_h, left:left + pitch_w] = cell
        offset = np.array([(left + CELL_MARGIN) / width, (height - top - CELL_MARGIN - cell_h) / height])
        placements.append((offset, np.array([cell_w / width, cell_h / height])))
    notice(f"packed {len(textures)} material textures into one {width}x{height} atlas (UVs remapped)")
    return atlas.clamp(0, 1), placements


def place_uvs(uvs: np.ndarray, placement: tuple[np.ndarray, np.ndarray], source: str) -> np.ndarray:
    """UVs (U, 2) moved into their atlas cell; UVs outside [0, 1] (tiling) are clamped, with a note."""
    clamped = np.clip(uvs, 0.0, 1.0)
    if np.abs(clamped - uvs).max(initial=0.0) > 1e-4:
        notice(f"{source}: UVs outside [0, 1] (a tiling texture) were clamped when packing the atlas")
    offset, scale = placement
    return offset + clamped * scale
