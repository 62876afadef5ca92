"""Turntables: a mesh seen from evenly spaced azimuths, written as a looping GIF or an MP4 video."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nst3d.errors import Nst3dError
from nst3d.io import atomic_output, check_frame_rate, check_output_path, save_gif, to_uint8
from nst3d.mesh import Mesh
from nst3d.render import Cameras, render

VIDEO_SUFFIXES = (".gif", ".mp4")
VIEWS_PER_BATCH = 12   # views rendered together: fast, and memory stays ~100 MB at 384^2


def turntable_frames(mesh: Mesh, cameras: Cameras, size: int = 384, lit: bool = True,
                     background: Sequence[float] | None = (1.0, 1.0, 1.0),
                     texture: torch.Tensor | None = None, supersample: int = 1) -> list[np.ndarray]:
    """Render the views of `cameras` (e.g. `render.turntable_views`) a batch at a time -> (H, W, 3) uint8."""
    images = []
    with torch.no_grad():
        for start in range(0, cameras.eye.shape[0], VIEWS_PER_BATCH):
            views = Cameras(*(t[start:start + VIEWS_PER_BATCH] for t in cameras))
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
