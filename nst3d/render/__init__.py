"""A mesh renderer in plain PyTorch (CPU and CUDA): cameras, rasterization without gradients, and
shading with exact gradients with respect to a UV texture. Conventions are stated in `camera.py`."""

from nst3d.render.camera import Cameras, orbit_cameras, project, random_views, turntable_views
from nst3d.render.raster import Fragments, rasterize
from nst3d.render.shade import (
    interpolate,
    rasterize_mesh,
    render,
    sample_texture,
    shade,
    uv_derivatives,
    vertex_normals,
)

__all__ = ["Cameras", "Fragments", "interpolate", "orbit_cameras", "project", "random_views", "rasterize",
           "rasterize_mesh", "render", "sample_texture", "shade", "turntable_views", "uv_derivatives",
           "vertex_normals"]
