"""View banks: the rasterization of fixed training or evaluation views, cached once per run.

Geometry does not change while a texture is optimized, so per-pixel UVs, their screen-space derivatives
(for mip level selection) and coverage are computed once; a step only samples the texture. Training
views are cut to the part of the image the object covers (`object_boxes`, `select_views`), so the
network runs on the object, not on the background, at the same pixel density.
"""

from __future__ import annotations

import math
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
                supersample: int, mip: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unlit renders (B, 3, H, W) of `texture` (1, 3, T, T) for bank views `index`, and their masks.

    Only covered pixels are sampled (the texture lookup and its backward dominate the render cost);
    `mip` is the texture's `mip_pyramid` when the caller renders the same texture several times.
    """
    mask = bank.mask[index]                                                    # (B, 1, h, w)
    covered = mask[:, 0] > 0                                                   # (B, h, w)
    uv = bank.uv[index][covered].view(1, 1, -1, 2)                            # (1, 1, P, 2)
    uv_da = None if bank.uv_da is None else bank.uv_da[index][covered].view(1, 1, -1, 2, 2)
    colors = sample_texture(texture, uv, uv_da, mip)[0, :, 0]                  # (3, P)
    return composite(colors.T, covered, background, supersample)




def object_boxes(bank: ViewBank, margin: int, multiple: int = 1) -> torch.Tensor:
    """(N, 4) centre row, centre column, height and width of each view's silhouette plus `margin` pixels,
    sizes rounded up to 8 * `multiple` (so a few window sizes recur) and at most the image."""
    covered = bank.mask[:, 0] > 0                                                  # (N, h, w)
    grain = 8 * multiple
    columns = []
    for flags in (covered.any(2), covered.any(1)):                                 # (N, h), (N, w)
        length = flags.shape[1]
        first = flags.float().argmax(1)
        last = length - 1 - flags.flip(1).float().argmax(1)
        seen = flags.any(1)
        span = torch.where(seen, last - first + 1 + 2 * margin, length)
        size = ((span + grain - 1) // grain * grain).clamp(max=length)
        columns += [torch.where(seen, (first + last) // 2, length // 2), size]
    centre_row, height, centre_col, width = columns
    return torch.stack([centre_row, centre_col, height, width], 1)


def select_views(bank: ViewBank, index: torch.Tensor, boxes: torch.Tensor | None,
                 multiple: int = 1) -> tuple[ViewBank, torch.Tensor, tuple[int, int] | None]:
    """The views to render for `index` -> (views, their index there, window size or None).

    Without boxes that is the bank itself. With boxes, one window as large as the largest box of the
    chosen views is cut from each, centred on its object and kept inside the image: the same pixels as
    the full view (the same density, so the same strokes), without the background around them. The
    window of a view depends only on the view and the window size, so it can key a cache.
    """
    if boxes is None:
        return bank, index, None
    chosen = boxes[index.cpu()]
    height, width = int(chosen[:, 2].max()), int(chosen[:, 3].max())
    image_h, image_w = bank.mask.shape[-2:]
    tops = ((chosen[:, 0] - height // 2).clamp(0, image_h - height) // multiple * multiple).tolist()
    lefts = ((chosen[:, 1] - width // 2).clamp(0, image_w - width) // multiple * multiple).tolist()
    picks = list(zip(index.tolist(), tops, lefts, strict=True))

    def cut(t: torch.Tensor | None, channels_first: bool) -> torch.Tensor | None:
        if t is None:
            return None
        parts = []
        for i, y, x in picks:
            rows, cols = slice(y, y + height), slice(x, x + width)
            parts.append(t[i, :, rows, cols] if channels_first else t[i, rows, cols])
        return torch.stack(parts)

    views = ViewBank(cut(bank.uv, False), cut(bank.uv_da, False), cut(bank.mask, True), bank.faces_seen)
    return views, torch.arange(len(picks), device=index.device), (height, width)


def apparent_scale(cameras: Cameras, distance: float, fov: float) -> torch.Tensor:
    """(N,) how large an object at the origin appears in each view, relative to a view from `distance`
    with vertical field of view `fov` (degrees): focal length over camera distance."""
    focal = cameras.world_to_clip[:, 1, :3].norm(dim=1)       # 1 / tan(fov / 2) of each camera
    nominal = 1.0 / math.tan(math.radians(fov) / 2) / distance
    return focal / cameras.eye.norm(dim=1) / nominal
