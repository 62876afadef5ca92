"""A mesh renderer in plain PyTorch (CPU and CUDA): cameras, rasterization without gradients, and
shading with exact gradients with respect to a UV texture. Conventions are stated in `camera.py`."""

from nst3d.render.camera import Cameras, orbit_cameras, project, random_views, turntable_views
from nst3d.render.raster import Fragments, rasterize

__all__ = ["Cameras", "Fragments", "orbit_cameras", "project", "random_views", "rasterize", "turntable_views"]
