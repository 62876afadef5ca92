"""nst3d: neural style transfer on images and on the UV textures of 3D meshes."""

import os

# OpenMP threads that spin while waiting make PyTorch 20-50x slower on CPUs shared with other busy
# processes; passive waiting costs ~2% when the machine is idle. Only effective before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
