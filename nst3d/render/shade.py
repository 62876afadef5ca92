"""Shading: interpolate vertex attributes, sample textures (with gradients), light, composite.

Everything here is differentiable with respect to the texture (and to vertex attributes), so the 3D
style pipeline can optimize a UV texture through `render`. Rasterization (`nst3d.render.raster`) has no
gradients and can be cached: `rasterize_mesh` once per view bank, then `shade` per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from nst3d.render.camera import Cameras, camera_axes, project
from nst3d.render.raster import Fragments, rasterize

if TYPE_CHECKING:
    from nst3d.mesh import Mesh

AMBIENT = 0.3                          # lit mode: share of light that reaches every surface
UNTEXTURED_ALBEDO = (0.75, 0.75, 0.75)  # color of meshes rendered without a texture
# Lit mode's light comes from the camera's upper left, in the camera frame (right, up, forward).
LIGHT_FROM_CAMERA = (-0.5, 0.6, -1.0)


def interpolate(attr: torch.Tensor, tri: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Per-corner attributes `attr` (V, C) or (B, V, C) indexed by `tri` (F, 3) -> per pixel (B, H, W, C)."""
    batch, height, width = frags.face_id.shape
    corners = tri.to(frags.face_id.device).index_select(0, frags.face_id.clamp(min=0).flatten())  # (BHW, 3)
    if attr.dim() == 3:
        offsets = torch.arange(batch, device=corners.device) * attr.shape[1]
        corners = corners + offsets.repeat_interleave(height * width)[:, None]
        attr = attr.flatten(0, 1)
    values = attr.index_select(0, corners.flatten()).view(-1, 3, attr.shape[-1])    # (BHW, 3, C)
    weights = frags.bary.flatten(0, 2).to(attr.dtype)                      # (BHW, 3), 0 on background
    return torch.einsum("nk,nkc->nc", weights, values).view(batch, height, width, -1)


def uv_derivatives(uvs: torch.Tensor, face_uvs: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Screen-space derivatives d(u, v)/d(column, row) per pixel (B, H, W, 2, 2) from `frags.bary_da`."""
    if frags.bary_da is None:
        raise ValueError("rasterize(..., derivatives=True) is needed for texture mip-mapping")
    columns = interpolate(uvs, face_uvs, frags._replace(bary=frags.bary_da[..., 0]))
    rows = interpolate(uvs, face_uvs, frags._replace(bary=frags.bary_da[..., 1]))
    return torch.stack([columns, rows], dim=-1)


def mip_pyramid(texture: torch.Tensor) -> list[torch.Tensor]:
    """Texture (B, C, H, W) and its successive 2x2 box-filtered halvings down to 1 texel (differentiable)."""
    levels = [texture]
    while max(levels[-1].shape[-2:]) > 1:
        height, width = levels[-1].shape[-2:]
        levels.append(F.adaptive_avg_pool2d(levels[-1], (max(1, height // 2), max(1, width // 2))))
    return levels


def _bilinear(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of texture (B|1, C, T, T) at uv (B, H, W, 2) with v up -> (B, C, H, W)."""
    batch, height, width, _ = uv.shape
    grid = torch.stack([2 * uv[..., 0] - 1, 1 - 2 * uv[..., 1]], dim=-1).to(texture.dtype)
    options = {"mode": "bilinear", "padding_mode": "border", "align_corners": False}
    if texture.shape[0] == batch:
        return F.grid_sample(texture, grid, **options)
    # one texture for all views: a single lookup over the views stacked vertically, one gradient buffer
    out = F.grid_sample(texture, grid.view(1, batch * height, width, 2), **options)  # (1, C, B*H, W)
    return out.view(texture.shape[1], batch, height, width).transpose(0, 1)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor,
                   uv_da: torch.Tensor | None = None) -> torch.Tensor:
    """Sample texture (B|1, C, T, T) at uv (B, H, W, 2) -> (B, C, H, W), differentiable w.r.t. the texture.

    Without `uv_da`: bilinear. With `uv_da` (B, H, W, 2, 2), the screen-space uv derivatives, trilinear
    mip-mapping: the level is log2 of the pixel's footprint in texels, so minified textures do not alias.
    """
    if uv_da is None:
        return _bilinear(texture, uv)
    height, width = texture.shape[-2:]
    scale = torch.tensor([width, height], dtype=uv_da.dtype, device=uv_da.device)[:, None]
    footprint = (uv_da * scale).norm(dim=-2).amax(dim=-1)                  # (B, H, W) texels per pixel
    levels = mip_pyramid(texture)
    lod = footprint.clamp(min=1.0).log2().clamp(max=len(levels) - 1)
    lowest, highest = math.floor(lod.min()), math.ceil(lod.max())
    out = 0.0
    for level in range(lowest, highest + 1):
        weight = (1 - (lod - level).abs()).clamp(min=0).to(texture.dtype)[:, None]  # (B, 1, H, W) tent
        out = out + weight * _bilinear(levels[level], uv)
    return out


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals (V, 3): area-weighted averages of the normals of the faces around each vertex."""
    corners = vertices[faces]                                                       # (F, 3, 3)
    face_normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    summed = torch.zeros_like(vertices).index_add_(0, faces.flatten(), face_normals.repeat_interleave(3, 0))
    return F.normalize(summed, dim=-1)


def headlight(cameras: Cameras) -> torch.Tensor:
    """Unit directions (B, 3) toward the light: from each camera's upper left, slightly in front."""
    right, up, forward = camera_axes(cameras)
    a, b, c = LIGHT_FROM_CAMERA
    return F.normalize(a * right + b * up + c * forward, dim=-1)


def lambert(normals: torch.Tensor, to_eye: torch.Tensor, light: torch.Tensor,
            ambient: float = AMBIENT) -> torch.Tensor:
    """Diffuse light factor (B, 1, H, W) from normals and eye vectors (B, H, W, 3), light (B, 3).

    Normals are flipped toward the eye first, so back faces of open meshes are lit like front faces.
    """
    normals = F.normalize(normals, dim=-1)
    normals = torch.where(((normals * to_eye).sum(-1, keepdim=True) < 0), -normals, normals)
    diffuse = (normals * light[:, None, None, :]).sum(-1).clamp(min=0)
    return (ambient + (1 - ambient) * diffuse)[:, None]


def rasterize_mesh(mesh: Mesh, cameras: Cameras, size: int | tuple[int, int], supersample: int = 1,
                   derivatives: bool = True) -> Fragments:
    """Rasterize `mesh` for every camera at `supersample` times `size` (cache this for a fixed view bank)."""
    height, width = (size, size) if isinstance(size, int) else size
    clip = project(mesh.vertices, Cameras(*(t.to(mesh.vertices.device) for t in cameras)))
    return rasterize(clip, mesh.faces, (height * supersample, width * supersample), derivatives=derivatives)


def shade(mesh: Mesh, cameras: Cameras, frags: Fragments, texture: torch.Tensor | None = None,
          lit: bool = False, background: Sequence[float] | None = (1.0, 1.0, 1.0), supersample: int = 1,
          mipmap: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Color rasterized fragments -> (rgb (B, 3, H, W), mask (B, 1, H, W)), averaging supersample^2 blocks.

    `texture` (B|1, 3, T, T) overrides the mesh's own; `background=None` gives a transparent background:
    rgb is then premultiplied by the mask, which is the alpha channel.
    """
    if texture is None and mesh.texture is not None:
        texture = mesh.texture[None]
    device = frags.face_id.device
    mask = (frags.face_id >= 0)[:, None]                                             # (B, 1, H, W)
    if texture is not None:
        if mesh.uvs is None or mesh.face_uvs is None:
            raise ValueError("this mesh has no UV coordinates, so it cannot be textured")
        uv = interpolate(mesh.uvs, mesh.face_uvs, frags)
        uv_da = uv_derivatives(mesh.uvs, mesh.face_uvs, frags) if mipmap else None
        rgb = sample_texture(texture.to(device), uv, uv_da)
    else:
        rgb = torch.tensor(UNTEXTURED_ALBEDO, device=device)[None, :, None, None].expand(mask.shape[0], 3,
                                                                                      *mask.shape[2:])
    if lit:
        position = interpolate(mesh.vertices, mesh.faces, frags)
        normals = interpolate(vertex_normals(mesh.vertices, mesh.faces), mesh.faces, frags)
        eye = cameras.eye.to(device)[:, None, None, :]
        rgb = rgb * lambert(normals, eye - position, headlight(cameras).to(device)).to(rgb.dtype)
    mask = mask.to(rgb.dtype)
    if background is None:
        rgb = rgb * mask
    else:
        color = torch.tensor(background, dtype=rgb.dtype, device=device)[None, :, None, None]
        rgb = rgb * mask + color * (1 - mask)
    if supersample > 1:
        rgb, mask = F.avg_pool2d(rgb, supersample), F.avg_pool2d(mask, supersample)
    return rgb, mask


def render(mesh: Mesh, cameras: Cameras, size: int | tuple[int, int], texture: torch.Tensor | None = None,
           lit: bool = False, background: Sequence[float] | None = (1.0, 1.0, 1.0), supersample: int = 1,
           mipmap: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Render `mesh` from every camera -> (rgb (B, 3, H, W), mask (B, 1, H, W)); see `shade`."""
    frags = rasterize_mesh(mesh, cameras, size, supersample, derivatives=mipmap)
    return shade(mesh, cameras, frags, texture, lit, background, supersample, mipmap)
