"""Writing meshes for other tools: OBJ + MTL + PNG, or GLB with the texture embedded; UV seams padded.

Before writing, texels outside the UV islands are filled from the nearest island texel (`pad_texture`),
so viewers with other filtering or mip-mapping do not bleed background colour at seams. Positions and
UVs are written with 9 significant digits (exact for float32) in canonical order, so load_mesh(export)
gives back the same tables.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from nst3d.errors import Nst3dError
from nst3d.io import atomic_output, check_output_path, to_uint8
from nst3d.mesh.core import Mesh, canonical_mesh, first_occurrence
from nst3d.mesh.uvraster import PAD_PIXELS, pad_texture, uv_coverage_mask

MATERIAL_NAME = "nst3d_texture"
PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def export_obj(mesh: Mesh, texture: torch.Tensor | None, path: str | os.PathLike, *,
               mtl_name: str | None = None, texture_name: str | None = None,
               pad_pixels: int = PAD_PIXELS) -> Path:
    """Write OBJ (v, vt, f v/vt) with its MTL (map_Kd) and PNG beside it, atomically; returns the OBJ path.

    texture (3, H, W) or (1, 3, H, W), or None for mesh.texture; with neither, only the OBJ is written.
    The MTL and PNG default to the OBJ's name with .mtl and .png; they must be plain file names.
    """
    path = check_output_path(path, [".obj"])
    mesh = _canonical(mesh)
    image = _padded_texture(mesh, texture, pad_pixels)
    mtl = path.with_name(_plain(mtl_name or f"{path.stem}.mtl", ".mtl"))
    png = path.with_name(_plain(texture_name or f"{path.stem}.png", ".png"))
    with ExitStack() as stack:  # renamed into place last-in first-out: PNG, MTL, then the OBJ
        obj_tmp = stack.enter_context(atomic_output(path))
        if image is not None:
            mtl_tmp = stack.enter_context(atomic_output(mtl))
            png_tmp = stack.enter_context(atomic_output(png))
            Image.fromarray(image).save(png_tmp, format="PNG")
            mtl_tmp.write_text(f"# nst3d material\nnewmtl {MATERIAL_NAME}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
                               f"d 1\nillum 1\nmap_Kd {png.name}\n")
        obj_tmp.write_text(_obj_text(mesh, mtl.name if image is not None else None))
    return path


def export_glb(mesh: Mesh, texture: torch.Tensor | None, path: str | os.PathLike,
               pad_pixels: int = PAD_PIXELS) -> Path:
    """Write a binary glTF with the (padded) texture embedded as PNG, atomically; returns the path."""
    path = check_output_path(path, [".glb"])
    mesh = _canonical(mesh)
    image = _padded_texture(mesh, texture, pad_pixels)
    faces = mesh.faces.numpy()
    visual = None
    if mesh.uvs is not None:  # glTF has one index table: split vertices where a position has several UVs
        corners = np.stack([faces, mesh.face_uvs.numpy()], axis=2).reshape(-1, 2)  # (3F, 2)
        pairs, faces = np.unique(corners, axis=0, return_inverse=True)
        kept, faces = first_occurrence(faces.reshape(-1, 3))
        pairs = pairs[kept]
        material = PBRMaterial(name=MATERIAL_NAME, metallicFactor=0.0, roughnessFactor=1.0,
                               baseColorTexture=None if image is None else Image.fromarray(image))
        visual = TextureVisuals(uv=mesh.uvs.numpy()[pairs[:, 1]], material=material)
        vertices = mesh.vertices.numpy()[pairs[:, 0]]
    else:
        vertices = mesh.vertices.numpy()
    data = trimesh.Trimesh(vertices, faces, visual=visual, process=False).export(file_type="glb")
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


def _canonical(mesh: Mesh) -> Mesh:
    """The mesh on the CPU in the canonical order load_mesh produces."""
    mesh = mesh.to("cpu")
    return canonical_mesh(mesh.vertices.numpy(), mesh.faces.numpy(),
                          None if mesh.uvs is None else mesh.uvs.numpy(),
                          None if mesh.face_uvs is None else mesh.face_uvs.numpy(), mesh.texture)


def _padded_texture(mesh: Mesh, texture: torch.Tensor | None, pad_pixels: int) -> np.ndarray | None:
    """The texture to write as (H, W, 3) uint8, padded outward from the UV islands; None if there is none."""
    texture = mesh.texture if texture is None else texture.detach().cpu()
    if texture is None:
        return None
    if mesh.uvs is None:
        raise Nst3dError("cannot export a texture for a mesh without UV coordinates")
    texture = texture.reshape(-1, *texture.shape[-2:]).float()  # (3, H, W)
    coverage = uv_coverage_mask(mesh, tuple(texture.shape[-2:]))
    return to_uint8(pad_texture(texture, coverage, pad_pixels))


def _plain(name: str, suffix: str) -> str:
    """A file name usable in mtllib / map_Kd lines: no folders, no spaces, the expected suffix."""
    if not PLAIN_NAME.fullmatch(name) or not name.lower().endswith(suffix):
        raise Nst3dError(f"{name!r}: use a plain {suffix} file name (letters, digits, . _ -), no folders")
    return name


def _obj_text(mesh: Mesh, mtl_name: str | None) -> str:
    """The OBJ file body: v, vt and 1-based f v/vt lines (f v when there are no UVs)."""
    out = io.StringIO()
    out.write(f"# nst3d mesh: {mesh.num_vertices} vertices, {mesh.num_faces} triangles\n")
    if mtl_name is not None:
        out.write(f"mtllib {mtl_name}\n")
    np.savetxt(out, mesh.vertices.numpy(), fmt="v %.9g %.9g %.9g")
    faces = mesh.faces.numpy() + 1  # (F, 3)
    if mesh.uvs is None:
        np.savetxt(out, faces, fmt="f %d %d %d")
        return out.getvalue()
    np.savetxt(out, mesh.uvs.numpy(), fmt="vt %.9g %.9g")
    if mtl_name is not None:
        out.write(f"usemtl {MATERIAL_NAME}\n")
    corners = np.stack([faces, mesh.face_uvs.numpy() + 1], axis=2).reshape(-1, 6)  # (F, 6): v/vt pairs
    np.savetxt(out, corners, fmt="f %d/%d %d/%d %d/%d")
    return out.getvalue()
