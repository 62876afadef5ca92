"""`nst3d render`: one view of a mesh as an image, or a turntable as a GIF or MP4."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer
from PIL import ImageColor

from nst3d.cli import app
from nst3d.cli_image import DEVICE
from nst3d.errors import Nst3dError
from nst3d.io import IMAGE_SUFFIXES, check_output_path, save_image, save_rgba
from nst3d.mesh import MESH_SUFFIXES, load_mesh, normalize
from nst3d.render import orbit_cameras, render
from nst3d.runtime import resolve_device
from nst3d.turntable import VIDEO_SUFFIXES, check_video_output, save_video, turntable_frames

TRANSPARENT = ("none", "transparent")


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


def _check_numbers(size: int, distance: float, elevation: float, azimuth: float, fov: float, frames: int,
                   fps: float, supersample: int) -> None:
    """One clear line for a value out of its range, before any work."""
    checks = [(16 <= size <= 4096, f"--size {size}: use 16 to 4096 pixels"),
              (0 < distance < math.inf,
               f"--distance {distance}: must be a finite number > 0 (the mesh fits the unit sphere)"),
              (math.isfinite(elevation), f"--elevation {elevation}: must be a finite number of degrees"),
              (math.isfinite(azimuth), f"--azimuth {azimuth}: must be a finite number of degrees"),
              (0 < fov < 180, f"--fov {fov}: use a vertical field of view between 0 and 180 degrees"),
              (frames >= 1, f"--frames {frames}: must be at least 1"),
              (fps > 0, f"--fps {fps}: must be > 0"),
              (1 <= supersample <= 8, f"--supersample {supersample}: use 1 to 8")]
    for ok, message in checks:
        if not ok:
            raise Nst3dError(message)


@app.command("render")
def render_command(
    mesh: Path = typer.Argument(..., metavar="MESH", help=f"Mesh file ({', '.join(MESH_SUFFIXES)}). It is "
                                "centered and scaled to fit the unit sphere before rendering."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file: an image (.png, .jpg, ...) shows "
                                "one view; .gif or .mp4 shows a turntable (one full turn)."),
    texture: Path | None = typer.Option(None, "--texture", help="Image to use as the UV texture instead "
                                        "of the mesh's own (e.g. a stylized texture)."),
    size: int = typer.Option(512, "--size", help="Width and height of the output in pixels."),
    distance: float = typer.Option(2.8, "--distance", help="Camera distance from the mesh center, in "
                                   "mesh radii."),
    elevation: float = typer.Option(15.0, "--elevation", help="Camera height angle in degrees (0: level, "
                                    "90: from straight above)."),
    azimuth: float = typer.Option(30.0, "--azimuth", help="Single view only: camera angle around the "
                                  "vertical axis in degrees (0: seen from +Z, 90: from +X)."),
    fov: float = typer.Option(40.0, "--fov", help="Vertical field of view in degrees."),
    frames: int = typer.Option(36, "--frames", help="Turntable only: number of frames in one turn."),
    fps: float = typer.Option(12.0, "--fps", help="Turntable only: frames per second."),
    lit: bool = typer.Option(True, "--lit/--unlit", help="Lit: ambient light plus a light from the upper "
                             "left. Unlit: the plain texture colors."),
    background: str = typer.Option("white", "--background", help="Background color: a name, #rrggbb or "
                                   "r,g,b; 'none' for a transparent PNG."),
    supersample: int = typer.Option(1, "--supersample", help="Render N times larger and average down: "
                                    "smoother edges, N^2 times the work."),
    device: str = DEVICE,
) -> None:
    """Render a mesh with its texture: one view as an image, or a turntable as a GIF or MP4."""
    start = time.perf_counter()
    output = check_output_path(output, (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES))
    video = output.suffix.lower() in VIDEO_SUFFIXES
    if video:
        check_video_output(output)
    _check_numbers(size, distance, elevation, azimuth, fov, frames, fps, supersample)
    color = parse_background(background)
    if color is None and output.suffix.lower() != ".png":
        raise Nst3dError(f"--background {background}: a transparent background needs a .png output")
    surface = normalize(load_mesh(mesh, texture=texture)).to(resolve_device(device))
    if video:
        images = turntable_frames(surface, frames=frames, size=size, elevation=elevation, distance=distance,
                                  fov=fov, lit=lit, background=color, supersample=supersample)
        save_video(images, output, fps=fps)
        shape = f"{size}x{size}, {frames} frames"
    else:
        cameras = orbit_cameras(distance, elevation, azimuth, fov, device=surface.vertices.device)
        rgb, mask = render(surface, cameras, size, lit=lit, background=color, supersample=supersample)
        if color is None:
            save_rgba(rgb, mask, output)
        else:
            save_image(rgb, output)
        shape = f"{size}x{size}"
    print(f"wrote {output} ({shape}, {surface.num_faces} faces, {time.perf_counter() - start:.1f} s)")
