"""Turntables: a mesh seen from evenly spaced azimuths, written as a looping GIF or an MP4 video; and
view grids: a few fixed views tiled into one PNG (the run report's before/after)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nst3d.errors import Nst3dError
from nst3d.io import atomic_output, check_frame_rate, check_output_path, save_gif, to_uint8
from nst3d.mesh import Mesh
from nst3d.render import Cameras, rasterize_mesh, render, shade

VIDEO_SUFFIXES = (".gif", ".mp4")
VIEWS_PER_BATCH = 12   # views rendered together: fast, and memory stays ~100 MB at 384^2 for small meshes
VIEW_FACES_PER_BATCH = 2_000_000  # rasterizing costs ~0.8 kB per view and face: fewer views for big meshes
GRID_SIZE = 192        # px a side of each view in a view grid
GRID_COLUMNS = 4


def turntable_frames(mesh: Mesh, cameras: Cameras, size: int = 384, lit: bool = True,
                     background: Sequence[float] | None = (1.0, 1.0, 1.0),
                     texture: torch.Tensor | None = None, supersample: int = 1) -> list[np.ndarray]:
    """Render the views of `cameras` (e.g. `render.turntable_views`) a batch at a time -> (H, W, 3) uint8."""
    images, batch = [], max(1, min(VIEWS_PER_BATCH, VIEW_FACES_PER_BATCH // max(1, mesh.num_faces)))
    with torch.no_grad():
        for start in range(0, cameras.eye.shape[0], batch):
            views = Cameras(*(t[start:start + batch] for t in cameras))
            rgb, _ = render(mesh, views, size, texture=texture, lit=lit, background=background,
                            supersample=supersample)                          # (b, 3, H, W)
            images.extend(to_uint8(image) for image in rgb)
    return images


def check_video_output(path: str | os.PathLike, fps: float | None = None) -> Path:
    """Fail before any rendering if `path` cannot be written as a GIF or MP4 here (at `fps`, if given)."""
    path = check_output_path(path, VIDEO_SUFFIXES)
    if fps is not None:
        check_frame_rate(fps, path)
    if path.suffix.lower() == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise Nst3dError(f"{path}: writing MP4 needs imageio's ffmpeg plugin, which is not installed "
                         "(pip install imageio-ffmpeg); or write a .gif")
    return path


def save_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 12.0) -> Path:
    """Write (H, W, 3) uint8 frames as a seamlessly looping GIF or an H.264 MP4, atomically."""
    path = check_video_output(path, fps)
    if not frames:
        raise Nst3dError(f"{path}: no frames to write")
    if path.suffix.lower() == ".gif":
        return save_gif(frames, path, fps=fps, final_hold=0.0)
    import imageio.v2 as imageio

    with atomic_output(path) as tmp, imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps,
                                                        codec="libx264", macro_block_size=2) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def tile(frames: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """(H, W, 3) frames side by side, `columns` a row, the last row padded with white."""
    blank = np.full_like(frames[0], 255)
    cells = [*frames, *[blank] * (-len(frames) % columns)]
    return np.concatenate([np.concatenate(cells[i:i + columns], 1) for i in range(0, len(cells), columns)])


def preview_texture(texture: torch.Tensor | None, size: int) -> torch.Tensor | None:
    """`texture` (1|3-dim batch, 3, T, T) shrunk (antialiased) to at most 2 x `size` a side: views `size`
    px wide show no more, and plain bilinear lookups in it alias little (no mip-mapping needed)."""
    if texture is None or max(texture.shape[-2:]) <= 2 * size:
        return texture
    scale = 2 * size / max(texture.shape[-2:])
    shape = [max(1, round(n * scale)) for n in texture.shape[-2:]]
    return F.interpolate(texture.reshape(-1, 3, *texture.shape[-2:]), size=shape, mode="bilinear",
                         antialias=True, align_corners=False)


def save_view_grids(mesh: Mesh, cameras: Cameras, outputs: Mapping[str | os.PathLike, torch.Tensor | None],
                    size: int = GRID_SIZE, columns: int = GRID_COLUMNS) -> list[Path]:
    """Render `mesh` lit from each camera once per output, with that output's texture (None: the mesh's
    own, else untextured), and write each as one PNG of the views tiled `columns` a row, atomically.

    Cheap previews: the views are rasterized once for all outputs (only the colors differ), textures are
    shrunk to what the views can show and sampled bilinearly, and the PNGs are lightly compressed."""
    paths = {check_output_path(path, [".png"]): texture for path, texture in outputs.items()}
    with torch.no_grad():
        frags = rasterize_mesh(mesh, cameras, size, derivatives=False)
        for path, texture in paths.items():
            texture = preview_texture(mesh.texture[None] if texture is None and mesh.texture is not None
                                      else texture, size)
            rgb, _ = shade(mesh, cameras, frags, texture, lit=True, mipmap=False)
            with atomic_output(path) as tmp:
                Image.fromarray(tile([to_uint8(view) for view in rgb], columns)).save(tmp, format="PNG",
                                                                                     compress_level=1)
    return list(paths)
