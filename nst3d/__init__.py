"""nst3d: neural style transfer on images and on the UV textures of 3D meshes.

The API is imported lazily: `import nst3d` is quick (no torch), and `nst3d.transfer` etc. load their
modules on first use, so the command line can catch Ctrl-C while the heavy imports run.
"""

import importlib
import os
import sys
import types

# OpenMP threads that spin while waiting make PyTorch 20-50x slower on CPUs shared with other busy
# processes; passive waiting costs ~2% when the machine is idle. Only effective before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nst3d.version import __version__  # noqa: E402

_API = {
    "transfer": "nst3d.image", "reconstruct": "nst3d.image", "stylize": "nst3d.image",
    "synthesize_texture": "nst3d.image", "stylize_mesh": "nst3d.stylize_mesh",
    "write_mesh_outputs": "nst3d.stylize_mesh", "ImageOptions": "nst3d.options",
    "ReconstructOptions": "nst3d.options", "TextureOptions": "nst3d.options", "MeshOptions": "nst3d.options",
    "RenderOptions": "nst3d.options",
}
__all__ = ["__version__", *_API]


class _PackageFace(types.ModuleType):
    """`nst3d.stylize_mesh` is the function even after the submodule of that name has been imported
    (importing a submodule sets the package attribute of its name)."""

    def __getattribute__(self, name: str):
        if name in _API:
            return getattr(importlib.import_module(_API[name]), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _PackageFace
