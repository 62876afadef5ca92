"""Cameras: look-at views around the origin, OpenGL-style perspective, batched over B views.

Conventions (stated once, used everywhere in `nst3d.render`):
- World space is right-handed with +Y up. A camera looks at the origin; azimuth 0 sees the mesh from +Z.
- `world_to_clip` maps homogeneous world points to OpenGL clip space: x right, y up, w = depth along the
  view axis. The near plane is at depth `NEAR` (z_clip = -w_clip) and the far plane at `FAR`.
- NDC -> pixels: pixel (row r, column c) of an H x W image has its center at
  NDC x = (2c + 1) / W - 1 and NDC y = 1 - (2r + 1) / H, so row 0 is the top of the image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from nst3d.errors import Nst3dError

NEAR = 0.01   # meshes are normalized to the unit sphere and seen from ~2.5-3 units: 0.01 never clips them
FAR = 100.0
MAX_DISTANCE = 1e6  # mesh radii: farther, a unit mesh is far below one pixel and float32 loses its depth


class Cameras(NamedTuple):
    """A batch of B pinhole cameras."""

    world_to_clip: torch.Tensor  # (B, 4, 4)
    eye: torch.Tensor            # (B, 3) camera positions in world space


def pixel_centers(size: int, axis: str, device: torch.device | str | None = None) -> torch.Tensor:
    """NDC coordinates of the pixel centers along one image axis ('x': columns, 'y': rows, top first)."""
    centers = (2 * torch.arange(size, device=device, dtype=torch.float32) + 1) / size - 1
    return centers if axis == "x" else -centers


def _as_batch(*values: float | torch.Tensor, device: torch.device | str | None) -> list[torch.Tensor]:
    """Broadcast floats and 1-D tensors to a common (B,) float32 shape."""
    tensors = [torch.as_tensor(v, dtype=torch.float32, device=device).reshape(-1) for v in values]
    return list(torch.broadcast_tensors(*tensors))


def _checked(value: float | torch.Tensor, what: str, ok: Callable[[torch.Tensor], torch.Tensor],
             allowed: str) -> torch.Tensor:
    """`value` as a 1-D float64 CPU tensor; one Nst3dError line naming the first bad entry otherwise."""
    values = torch.as_tensor(value, dtype=torch.float64, device="cpu").reshape(-1)
    bad = torch.nonzero(~ok(values)).flatten()
    if len(bad):
        raise Nst3dError(f"camera {what} {values[bad[0]].item():g}: {allowed}")
    return values


def _angle(value: float | torch.Tensor, what: str) -> torch.Tensor:
    """Degrees wrapped into (-360, 360) by an exact float64 fmod: huge finite angles keep their true
    direction (float32 sin/cos of 1e300 would be meaningless), and smaller ones are left bit for bit."""
    return torch.fmod(_checked(value, what, torch.isfinite, "must be a finite number of degrees"), 360.0)


def perspective(fov: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
    """OpenGL perspective matrices (B, 4, 4) from vertical fields of view in degrees."""
    f = 1.0 / torch.tan(torch.deg2rad(fov) / 2)  # (B,)
    proj = torch.zeros(fov.shape[0], 4, 4, dtype=fov.dtype, device=fov.device)
    proj[:, 0, 0] = f / aspect
    proj[:, 1, 1] = f
    proj[:, 2, 2] = (FAR + NEAR) / (NEAR - FAR)
    proj[:, 2, 3] = 2 * FAR * NEAR / (NEAR - FAR)
    proj[:, 3, 2] = -1.0
    return proj


def orbit_cameras(distance: float | torch.Tensor, elevation: float | torch.Tensor,
                  azimuth: float | torch.Tensor, fov: float | torch.Tensor = 40.0,
                  device: torch.device | str | None = None, aspect: float = 1.0) -> Cameras:
    """Cameras on spheres around the origin looking at it, +Y up; angles in degrees, broadcast to (B,).

    Angles are wrapped modulo 360 first (any finite value works); a distance must be in (0, MAX_DISTANCE]
    and a field of view in (0, 180) degrees, else one Nst3dError line names the value.
    """
    distance = _checked(distance, "distance", lambda d: (d > 0) & (d <= MAX_DISTANCE),
                        f"must be a finite number > 0 and at most {MAX_DISTANCE:g} (in mesh radii)")
    fov = _checked(fov, "field of view", lambda f: (f > 0) & (f < 180),
                   "must be between 0 and 180 degrees (exclusive)")
    distance, elevation, azimuth, fov = _as_batch(distance, _angle(elevation, "elevation"),
                                                  _angle(azimuth, "azimuth"), fov, device=device)
    el, az = torch.deg2rad(elevation), torch.deg2rad(azimuth)
    zero = torch.zeros_like(az)
    eye = distance[:, None] * torch.stack([el.cos() * az.sin(), el.sin(), el.cos() * az.cos()], -1)  # (B, 3)
    forward = -eye / distance[:, None]
    right = torch.stack([az.cos(), zero, -az.sin()], -1)  # well defined even straight above or below
    up = torch.linalg.cross(right, forward)
    view = torch.zeros(eye.shape[0], 4, 4, device=eye.device)
    view[:, 0, :3], view[:, 1, :3], view[:, 2, :3] = right, up, -forward
    view[:, :3, 3] = -(view[:, :3, :3] @ eye[:, :, None])[..., 0]
    view[:, 3, 3] = 1.0
    return Cameras(perspective(fov, aspect) @ view, eye)


def random_views(n: int, generator: torch.Generator | None = None,
                 elevation: tuple[float, float] = (-15.0, 45.0), distance: tuple[float, float] = (2.5, 3.0),
                 fov: tuple[float, float] = (35.0, 45.0),
                 device: torch.device | str | None = None) -> Cameras:
    """n views with azimuth uniform over 360 degrees and elevation, distance, FoV uniform in their ranges,
    drawn as a Latin hypercube: each quantity takes one value in each of n equal slices of its range, the
    slices paired at random. The views cover every side evenly (independent draws leave gaps and
    clumps), so a small bank trains the whole surface whatever the seed."""
    def uniform(low: float, high: float) -> torch.Tensor:
        slices = torch.randperm(n, generator=generator) + torch.rand(n, generator=generator)  # (n,) in [0, n)
        return low + (high - low) * slices / n

    return orbit_cameras(uniform(*distance), uniform(*elevation), uniform(0.0, 360.0), uniform(*fov),
                         device=device)


def turntable_views(frames: int, elevation: float = 15.0, distance: float = 2.8, fov: float = 40.0,
                    device: torch.device | str | None = None) -> Cameras:
    """`frames` views evenly spaced over one full turn of azimuth, starting from the front (+Z)."""
    if frames < 1:
        raise Nst3dError(f"turntable frames {frames}: need at least 1")
    azimuth = torch.arange(frames, dtype=torch.float32) * (360.0 / frames)
    return orbit_cameras(distance, elevation, azimuth, fov, device=device)


def camera_axes(cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World-space unit (right, up, forward) vectors, each (B, 3), read off `world_to_clip`."""
    rows = torch.nn.functional.normalize(cameras.world_to_clip[:, [0, 1, 3], :3], dim=-1)  # (B, 3, 3)
    return rows[:, 0], rows[:, 1], rows[:, 2]


def project(vertices: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """World-space vertices (V, 3) -> clip-space positions (B, V, 4) for every camera."""
    homogeneous = torch.cat([vertices, torch.ones_like(vertices[:, :1])], dim=-1)  # (V, 4)
    return torch.einsum("bij,vj->bvi", cameras.world_to_clip.to(vertices.dtype), homogeneous)

