"""nst3d: neural style transfer on images and on the UV textures of 3D meshes."""

__version__ = "0.1.0"
