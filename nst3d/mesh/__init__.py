"""Triangle meshes for the 3D pipeline: load, normalize, UV atlases, seam padding, OBJ/GLB export."""

from nst3d.mesh.core import Mesh, normalization, normalize
from nst3d.mesh.export import export_glb, export_obj
from nst3d.mesh.load import MESH_SUFFIXES, load_mesh, referenced_files
from nst3d.mesh.unwrap import ensure_uvs
from nst3d.mesh.uvraster import bake_colors, pad_texture, uv_coverage_mask

__all__ = ["MESH_SUFFIXES", "Mesh", "bake_colors", "ensure_uvs", "export_glb", "export_obj", "load_mesh",
           "normalization", "normalize", "pad_texture", "referenced_files", "uv_coverage_mask"]
