"""nst3d: neural style transfer on images and on the UV textures of 3D meshes."""

import os

# OpenMP threads that spin while waiting make PyTorch 20-50x slower on CPUs shared with other busy
# processes; passive waiting costs ~2% when the machine is idle. Only effective before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nst3d.image import reconstruct, stylize, synthesize_texture, transfer  # noqa: E402
from nst3d.options import ImageOptions, MeshOptions, ReconstructOptions, RenderOptions, TextureOptions  # noqa: E402
from nst3d.stylize_mesh import stylize_mesh, write_mesh_outputs  # noqa: E402
from nst3d.version import __version__  # noqa: E402

__all__ = ["ImageOptions", "MeshOptions", "ReconstructOptions", "RenderOptions", "TextureOptions",
           "__version__", "reconstruct", "stylize", "stylize_mesh", "synthesize_texture", "transfer",
           "write_mesh_outputs"]
