"""`nst3d render`: one view of a mesh as an image, or a turntable as a GIF or MP4."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from PIL import ImageColor

from nst3d.cli_options import Input, register
from nst3d.errors import Nst3dError
from nst3d.io import IMAGE_SUFFIXES, check_output_path, save_image, save_rgba
from nst3d.mesh import MESH_SUFFIXES, load_mesh, normalize
from nst3d.options import RenderOptions
from nst3d.render import orbit_cameras, render, turntable_views
from nst3d.runtime import resolve_device
from nst3d.turntable import VIDEO_SUFFIXES, check_video_output, save_video, turntable_frames

TRANSPARENT = ("none", "transparent")
INPUTS = [
    Input("mesh", Path, typer.Argument(..., metavar="MESH", help=f"Mesh file ({', '.join(MESH_SUFFIXES)}). "
                                       "It is centered and scaled to fit the unit sphere before rendering.")),
    Input("output", Path, typer.Option(..., "--output", "-o", help="Output file: an image (.png, .jpg, ...) "
                                       "shows one view; .gif or .mp4 shows a turntable (one full turn).")),
    Input("texture", Path | None, typer.Option(None, "--texture", help="Image to use as the UV texture "
                                               "instead of the mesh's own (e.g. a stylized texture).")),
]


def parse_background(text: str) -> tuple[float, float, float] | None:
    """'white', '#336699', '0,0,0'-style names -> RGB in [0, 1]; 'none' -> None (transparent)."""
    if text.strip().lower() in TRANSPARENT:
        return None
    spec = f"rgb({text})" if "," in text and not text.strip().lower().startswith("rgb") else text
    try:
        rgb = ImageColor.getrgb(spec.strip())
    except ValueError:
        raise Nst3dError(f"--background {text!r}: not a color; use a name (white, black, gray, ...), "
                         "#rrggbb, r,g,b (0-255) or none") from None
    return tuple(channel / 255 for channel in rgb[:3])


def _check_output(output: Path, options: RenderOptions) -> tuple[Path, tuple[float, float, float] | None]:
    """The output path and background color, checked against each other before any work."""
    output = check_output_path(output, (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES))
    suffix = output.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        check_video_output(output, options.fps)
    color = parse_background(options.background)
    if color is None and suffix != ".png":
        raise Nst3dError(f"--background {options.background}: a transparent background needs a .png output")
    return output, color


def render_command(options: RenderOptions, mesh: Path, output: Path, texture: Path | None) -> None:
    """Render a mesh with its texture: one view as an image, or a turntable as a GIF or MP4."""
    start = time.perf_counter()
    output, color = _check_output(output, options)
    surface = normalize(load_mesh(mesh, texture=texture)).to(resolve_device(options.device))
    camera = {"distance": options.distance, "elevation": options.elevation, "fov": options.fov,
              "device": surface.vertices.device}
    if output.suffix.lower() in VIDEO_SUFFIXES:
        views = turntable_views(options.frames, **camera)
        images = turntable_frames(surface, views, options.size, lit=options.lit, background=color,
                                  supersample=options.supersample)
        save_video(images, output, fps=options.fps)
        shape = f"{options.size}x{options.size}, {options.frames} frames"
    else:
        cameras = orbit_cameras(azimuth=options.azimuth, **camera)
        rgb, mask = render(surface, cameras, options.size, lit=options.lit, background=color,
                           supersample=options.supersample)
        if color is None:
            save_rgba(rgb, mask, output)
        else:
            save_image(rgb, output)
        shape = f"{options.size}x{options.size}"
    print(f"wrote {output} ({shape}, {surface.num_faces} faces, {time.perf_counter() - start:.1f} s)")


def register_commands(app: typer.Typer) -> None:
    """Add render to the app."""
    register(app, "render", RenderOptions, render_command, INPUTS)
