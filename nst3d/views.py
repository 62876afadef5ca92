"""View banks: the rasterization of fixed training or evaluation views, cached once per run.

Geometry does not change while a texture is optimized, so per-pixel UVs, their screen-space derivatives
(for mip level selection) and coverage are computed once; a step only samples the texture. Training
views are cut to the part of the image the object covers (`crop_to_object`), so the network runs on the
object, not on the background, at the same pixel density.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nst3d.mesh import Mesh
from nst3d.render.camera import Cameras
from nst3d.render.shade import composite, interpolate, rasterize_mesh, sample_texture, uv_derivatives


@dataclass
class ViewBank:
    """Cached rasterization of fixed views: what the texture sampler needs, per view."""

    uv: torch.Tensor       # (N, h, w, 2) at supersampled resolution
    uv_da: torch.Tensor    # (N, h, w, 2, 2) screen-space UV derivatives (mip level selection)
    mask: torch.Tensor     # (N, 1, h, w) float, 1 on the mesh
    faces_seen: torch.Tensor  # (F,) bool, faces visible in at least one view

    def __len__(self) -> int:
        return self.uv.shape[0]


def build_view_bank(mesh: Mesh, cameras: Cameras, size: int, supersample: int, chunk: int = 8) -> ViewBank:
    """Rasterize `mesh` (normalized, with UVs) for all cameras, `chunk` views at a time."""
    uvs, uv_das, masks = [], [], []
    seen = torch.zeros(mesh.num_faces, dtype=torch.bool, device=mesh.faces.device)
    for start in range(0, cameras.eye.shape[0], chunk):
        part = Cameras(*(t[start:start + chunk] for t in cameras))
        frags = rasterize_mesh(mesh, part, size, supersample, derivatives=True)
        uvs.append(interpolate(mesh.uvs, mesh.face_uvs, frags))
        uv_das.append(uv_derivatives(mesh.uvs, mesh.face_uvs, frags))
        masks.append((frags.face_id >= 0)[:, None].float())
        seen[frags.face_id[frags.face_id >= 0].unique()] = True
    return ViewBank(torch.cat(uvs), torch.cat(uv_das), torch.cat(masks), seen)


def shade_views(texture: torch.Tensor, bank: ViewBank, index: torch.Tensor, background: torch.Tensor,
                supersample: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unlit renders (B, 3, H, W) of `texture` (1, 3, T, T) for bank views `index`, and their masks.

    Only covered pixels are sampled (the texture lookup and its backward dominate the render cost).
    """
    mask = bank.mask[index]                                                    # (B, 1, h, w)
    covered = mask[:, 0] > 0                                                   # (B, h, w)
    uv = bank.uv[index][covered].view(1, 1, -1, 2)                            # (1, 1, P, 2)
    uv_da = None if bank.uv_da is None else bank.uv_da[index][covered].view(1, 1, -1, 2, 2)
    colors = sample_texture(texture, uv, uv_da)[0, :, 0]                       # (3, P)
    return composite(colors.T, covered, background, supersample)




def _extent(covered: torch.Tensor, window: int, limit: int) -> torch.Tensor:
    """Start of a `window`-long span centred on each row's covered run (B, L) -> (B,), within [0, limit]."""
    index = torch.arange(covered.shape[1], device=covered.device)
    first = torch.where(covered, index, covered.shape[1]).amin(1)
    last = torch.where(covered, index, -1).amax(1)
    centre = torch.where(last >= 0, (first + last) // 2, covered.shape[1] // 2)
    return (centre - window // 2).clamp(0, limit)


def crop_to_object(bank: ViewBank, margin: int, multiple: int = 1) -> ViewBank:
    """The views cut to one window that holds every view's silhouette plus `margin` pixels (so they still
    batch), each window centred on its own silhouette. Pixel density is unchanged, so stroke sizes on the
    surface are too; `multiple` keeps windows and offsets on the supersampling grid."""
    covered = bank.mask[:, 0] > 0                                                  # (N, h, w)
    rows, cols = covered.any(2), covered.any(1)                                    # (N, h), (N, w)

    def window(flags: torch.Tensor) -> int:
        span = (flags.shape[1] - flags.flip(1).float().argmax(1) - flags.float().argmax(1)).amax()
        size = -(-(int(span) + 2 * margin) // multiple) * multiple
        return min(size, flags.shape[1])

    height, width = window(rows), window(cols)
    tops = _extent(rows, height, rows.shape[1] - height) // multiple * multiple
    lefts = _extent(cols, width, cols.shape[1] - width) // multiple * multiple

    def cut(t: torch.Tensor | None, channels_first: bool) -> torch.Tensor | None:
        if t is None:
            return None
        parts = [t[i, :, y:y + height, x:x + width] if channels_first else t[i, y:y + height, x:x + width]
                 for i, (y, x) in enumerate(zip(tops.tolist(), lefts.tolist(), strict=True))]
        return torch.stack(parts)

    return ViewBank(cut(bank.uv, False), cut(bank.uv_da, False), cut(bank.mask, True), bank.faces_seen)
