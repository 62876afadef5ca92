"""Shading: interpolate vertex attributes, sample textures (with gradients), light, composite.

Everything here is differentiable with respect to the texture (and to vertex attributes), so the 3D
style pipeline can optimize a UV texture through `render`. Rasterization (`nst3d.render.raster`) has no
gradients and can be cached: `rasterize_mesh` once per view bank, then `shade` per step. `shade` works on
the covered pixels only and scatters them into the image at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F

from nst3d.render.camera import Cameras, camera_axes, project
from nst3d.render.raster import Fragments, rasterize

if TYPE_CHECKING:
    from nst3d.mesh import Mesh

AMBIENT = 0.3                           # lit mode: share of light that reaches every surface
UNTEXTURED_ALBEDO = (0.75, 0.75, 0.75)  # color of meshes rendered without a texture
LIGHT_FROM_CAMERA = (-0.5, 0.6, -1.0)   # lit mode's light direction in the camera frame (right, up, forward):
                                        # from the upper left, behind the viewer


class _Points(NamedTuple):
    """A flat list of pixels to shade: which view, which face, where in it."""

    view: torch.Tensor                   # (P,) int64
    face: torch.Tensor                   # (P,) int64 (>= 0)
    bary: torch.Tensor                   # (P, 3)
    bary_da: torch.Tensor | None         # (P, 3, 2) d bary / d (column, row)


def _all_pixels(frags: Fragments) -> _Points:
    """Every pixel of the fragments, background included (face 0 with zero weights)."""
    batch, height, width = frags.face_id.shape
    view = torch.arange(batch, device=frags.face_id.device).repeat_interleave(height * width)
    bary_da = None if frags.bary_da is None else frags.bary_da.flatten(0, 2)
    return _Points(view, frags.face_id.clamp(min=0).flatten(), frags.bary.flatten(0, 2), bary_da)


def _covered_pixels(frags: Fragments) -> _Points:
    """The covered pixels of (B, H, W), in row-major order."""
    index = torch.nonzero(frags.face_id.flatten() >= 0).squeeze(1)
    return _Points(*(None if t is None else t.index_select(0, index) for t in _all_pixels(frags)))


def _interpolate_points(attr: torch.Tensor, tri: torch.Tensor, points: _Points,
                        weights: torch.Tensor) -> torch.Tensor:
    """sum_k weights[:, k] * attr[tri[face, k]] per point -> (P, C); attr (V, C) or per view (B, V, C)."""
    corners = tri.to(points.face.device).index_select(0, points.face)            # (P, 3)
    if attr.dim() == 3:
        corners = corners + (points.view * attr.shape[1])[:, None]
        attr = attr.flatten(0, 1)
    weights = weights.to(attr.dtype)
    return sum(weights[:, k, None] * attr.index_select(0, corners[:, k]) for k in range(3))


def interpolate(attr: torch.Tensor, tri: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Per-corner attributes `attr` (V, C) or (B, V, C) indexed by `tri` (F, 3) -> per pixel (B, H, W, C).

    Background pixels get 0.
    """
    points = _all_pixels(frags)
    return _interpolate_points(attr, tri, points, points.bary).view(*frags.face_id.shape, -1)


def _uv_footprint(uvs: torch.Tensor, face_uvs: torch.Tensor, points: _Points) -> torch.Tensor:
    """Screen-space derivatives d(u, v)/d(column, row) (P, 2, 2) of the interpolated UVs."""
    if points.bary_da is None:
        raise ValueError("rasterize(..., derivatives=True) is needed for texture mip-mapping")
    per_axis = [_interpolate_points(uvs, face_uvs, points, points.bary_da[..., q]) for q in (0, 1)]
    return torch.stack(per_axis, dim=-1)


def uv_derivatives(uvs: torch.Tensor, face_uvs: torch.Tensor, frags: Fragments) -> torch.Tensor:
    """Screen-space derivatives d(u, v)/d(column, row) per pixel (B, H, W, 2, 2) from `frags.bary_da`."""
    return _uv_footprint(uvs, face_uvs, _all_pixels(frags)).view(*frags.face_id.shape, 2, 2)


def mip_pyramid(texture: torch.Tensor) -> list[torch.Tensor]:
    """Texture (B, C, H, W) and its successive 2x2 box-filtered halvings down to 1 texel (differentiable)."""
    levels = [texture.contiguous(memory_format=torch.channels_last)]  # lookups read texels as (H*W, C)
    while max(levels[-1].shape[-2:]) > 1:
        height, width = levels[-1].shape[-2:]
        levels.append(F.adaptive_avg_pool2d(levels[-1], (max(1, height // 2), max(1, width // 2))))
    return levels


def _bilinear_points(texture: torch.Tensor, uv: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup (P, C) of texture (B|1, C, H, W) at uv (P, 2), v up, for points of views `view`.

    Same result as grid_sample(mode="bilinear", padding_mode="border", align_corners=False) at
    x = 2u - 1, y = 1 - 2v: texel centers at (j + 0.5) / T, coordinates clamped to the border texels.
    """
    channels, height, width = texture.shape[1:]
    x = (uv[:, 0].to(texture.dtype) * width - 0.5).clamp(0, width - 1)
    y = ((1 - uv[:, 1].to(texture.dtype)) * height - 0.5).clamp(0, height - 1)
    x0, y0 = x.floor().long().clamp(max=max(width - 2, 0)), y.floor().long().clamp(max=max(height - 2, 0))
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
    texels = texture.permute(0, 2, 3, 1).reshape(-1, channels)                      # (B*H*W, C)
    base = view * (height * width) if texture.shape[0] > 1 else torch.zeros_like(view)
    # The four corners in one gather: its backward is then one scatter into one zeroed texture gradient.
    rows, cols = torch.stack([y0, y0, y1, y1]), torch.stack([x0, x1, x0, x1])      # (4, P)
    corners = texels.index_select(0, (base + rows * width + cols).flatten()).view(4, -1, channels)
    weights = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])  # (4, P, 1)
    return (weights * corners).sum(0)


def _sample_points(texture: torch.Tensor, uv: torch.Tensor, view: torch.Tensor,
                   uv_da: torch.Tensor | None, mip: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Bilinear (no `uv_da`) or trilinear mip-mapped lookup (P, C) at uv (P, 2) of views `view`; `mip`:
    the texture's `mip_pyramid`, if the caller already has it."""
    if uv_da is None:
        return _bilinear_points(texture, uv, view)
    height, width = texture.shape[-2:]
    du, dv = uv_da[:, 0] * width, uv_da[:, 1] * height                              # (P, 2) texels per pixel
    footprint = (du * du + dv * dv).amax(dim=-1).sqrt()                            # longer screen axis
    levels = mip_pyramid(texture) if mip is None else mip
    lod = footprint.clamp(min=1.0).log2().clamp(max=len(levels) - 1)               # (P,)
    out = torch.zeros(len(uv), texture.shape[1], dtype=texture.dtype, device=texture.device)
    for level in range(math.ceil(lod.max()) + 1 if len(lod) else 1):  # P = 0 still reads level 0 (autograd)
        weight = (1 - (lod - level).abs()).clamp(min=0)                            # tent: trilinear blend
        used = torch.nonzero(weight > 0).squeeze(1)
        samples = _bilinear_points(levels[level], uv.index_select(0, used), view.index_select(0, used))
        out = out.index_add(0, used, weight.index_select(0, used)[:, None].to(texture.dtype) * samples)
    return out


def sample_texture(texture: torch.Tensor, uv: torch.Tensor, uv_da: torch.Tensor | None = None,
                   mip: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Sample texture (B|1, C, T, T) at uv (B, H, W, 2) -> (B, C, H, W), differentiable w.r.t. the texture.

    Without `uv_da`: bilinear. With `uv_da` (B, H, W, 2, 2), the screen-space uv derivatives, trilinear
    mip-mapping: the level is log2 of the pixel's footprint in texels, so minified textures do not alias.
    `mip`: the texture's `mip_pyramid`, to build it once for several lookups of one texture.
    """
    batch, height, width, _ = uv.shape
    view = torch.arange(batch, device=uv.device).repeat_interleave(height * width)
    footprint = None if uv_da is None else uv_da.flatten(0, 2)
    samples = _sample_points(texture, uv.flatten(0, 2), view, footprint, mip)       # (BHW, C)
    return samples.view(batch, height, width, texture.shape[1]).permute(0, 3, 1, 2)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals (V, 3): area-weighted averages of the normals of the faces around each vertex.

    Computed on a copy scaled by a power of two (exact; at most 2^126, finite in float32) to coordinates
    near 1, so that the cross products of huge or tiny unnormalized meshes neither overflow nor vanish.
    """
    if len(vertices):
        exponent = torch.frexp(vertices.detach().abs().amax()).exponent.clamp(-126, 126)
        vertices = torch.ldexp(vertices, -exponent.to(vertices.dtype))
    corners = vertices[faces]                                                       # (F, 3, 3)
    face_normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    summed = torch.zeros_like(vertices).index_add_(0, faces.flatten(), face_normals.repeat_interleave(3, 0))
    return F.normalize(summed, dim=-1)


def headlight(cameras: Cameras) -> torch.Tensor:
    """Unit directions (B, 3) toward the light: from each camera's upper left, slightly behind it."""
    right, up, forward = camera_axes(cameras)
    a, b, c = LIGHT_FROM_CAMERA
    return F.normalize(a * right + b * up + c * forward, dim=-1)


def lambert(normals: torch.Tensor, to_eye: torch.Tensor, light: torch.Tensor,
            ambient: float = AMBIENT) -> torch.Tensor:
    """Light factor (..., 1) = ambient + (1 - ambient) max(0, n.l); all inputs (..., 3), light of unit length.

    Normals are flipped toward the eye first, so back faces of open meshes are lit like front faces.
    """
    normals = F.normalize(normals, dim=-1)
    facing = (normals * to_eye).sum(-1, keepdim=True)
    normals = torch.where(facing < 0, -normals, normals)
    return ambient + (1 - ambient) * (normals * light).sum(-1, keepdim=True).clamp(min=0)


def rasterize_mesh(mesh: Mesh, cameras: Cameras, size: int | tuple[int, int], supersample: int = 1,
                   derivatives: bool = True) -> Fragments:
    """Rasterize `mesh` for every camera at `supersample` times `size` (cache this for a fixed view bank)."""
    height, width = (size, size) if isinstance(size, int) else size
    clip = project(mesh.vertices, Cameras(*(t.to(mesh.vertices.device) for t in cameras)))
    return rasterize(clip, mesh.faces, (height * supersample, width * supersample), derivatives=derivatives)


def _albedo(mesh: Mesh, points: _Points, texture: torch.Tensor | None, mipmap: bool) -> torch.Tensor:
    """Surface color (P, 3) of the shaded points: the texture, or a light gray without one."""
    if texture is None:
        return torch.tensor(UNTEXTURED_ALBEDO, device=points.view.device).expand(len(points.view), 3)
    if mesh.uvs is None or mesh.face_uvs is None:
        raise ValueError("this mesh has no UV coordinates, so it cannot be textured")
    uv = _interpolate_points(mesh.uvs, mesh.face_uvs, points, points.bary)
    uv_da = _uv_footprint(mesh.uvs, mesh.face_uvs, points) if mipmap else None
    return _sample_points(texture.to(points.view.device), uv, points.view, uv_da)


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
    points = _covered_pixels(frags)
    color = _albedo(mesh, points, texture, mipmap)                                  # (P, 3)
    if lit:
        normals = vertex_normals(mesh.vertices, mesh.faces)
        position = _interpolate_points(mesh.vertices, mesh.faces, points, points.bary)       # (P, 3)
        normal = _interpolate_points(normals, mesh.faces, points, points.bary)
        eye = cameras.eye.to(device).index_select(0, points.view)
        light = headlight(cameras).to(device).index_select(0, points.view)
        color = color * lambert(normal, eye - position, light).to(color.dtype)
    return composite(color, frags.face_id >= 0, background, supersample)


def composite(color: torch.Tensor, covered: torch.Tensor,
              background: torch.Tensor | Sequence[float] | None = (1.0, 1.0, 1.0),
              supersample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Colors (P, 3) of the `covered` pixels (B, H, W) bool, in row-major order, over a background.

    Returns (rgb (B, 3, H, W), mask (B, 1, H, W)), each averaged over supersample^2 blocks; with
    `background=None` the background is black, so rgb is premultiplied by the mask (the alpha channel).
    """
    fill = torch.zeros(3) if background is None else torch.as_tensor(background, dtype=torch.float32)
    image = fill.to(device=color.device, dtype=color.dtype).expand(*covered.shape, 3)   # (B, H, W, 3)
    rgb = image.index_put((covered,), color).permute(0, 3, 1, 2)
    mask = covered[:, None].to(color.dtype)
    if supersample > 1:
        rgb, mask = F.avg_pool2d(rgb, supersample), F.avg_pool2d(mask, supersample)
    return rgb, mask


def render(mesh: Mesh, cameras: Cameras, size: int | tuple[int, int], texture: torch.Tensor | None = None,
           lit: bool = False, background: Sequence[float] | None = (1.0, 1.0, 1.0), supersample: int = 1,
           mipmap: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Render `mesh` from every camera -> (rgb (B, 3, H, W), mask (B, 1, H, W)); see `shade`."""
    frags = rasterize_mesh(mesh, cameras, size, supersample, derivatives=mipmap)
    return shade(mesh, cameras, frags, texture, lit, background, supersample, mipmap)
