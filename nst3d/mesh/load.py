"""Reading any mesh trimesh reads into one canonical triangle Mesh with UVs.

Rules, in order: scene-graph transforms are applied and all geometries concatenated; quads and ngons
arrive triangulated; exactly coincident positions are merged (UV seams live in face_uvs); degenerate
faces are dropped with a note. Appearance per part (one part per geometry / material): a texture with
UVs is kept; vertex, face or material colours become a texture (a flat colour fills the existing UVs,
varying colours are baked into a fresh xatlas atlas); a part with nothing gets UVs only. Several
textured parts are packed into one grid atlas (UVs remapped); several untextured parts share one new
xatlas atlas, since their own UV layouts would overlap. An explicit texture uses the file's UVs as-is.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote

import numpy as np
import torch
import trimesh
from trimesh.resolvers import FilePathResolver
from trimesh.visual.material import PBRMaterial, SimpleMaterial, color_image

from nst3d.errors import Nst3dError
from nst3d.io import check_input_file, load_image, pil_to_tensor
from nst3d.mesh.atlas import pack_textures, place_uvs
from nst3d.mesh.core import Mesh, canonical_mesh, merge_rows, non_degenerate
from nst3d.mesh.unwrap import unwrap
from nst3d.mesh.uvraster import bake_colors
from nst3d.runtime import notice

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".off", ".ply", ".stl")
BAKE_SIZE = 1024            # side of textures made from colours
DEFAULT_ALBEDO = 0.8        # grey for untextured parts that share an atlas with textured ones
FLAT_TOLERANCE = 1 / 512    # colours closer than this count as one flat colour
FLOAT32_MAX = float(np.finfo(np.float32).max)
_RELATIVE_INDEX = re.compile(rb"^[ \t]*[fl][ \t][^\n]*?[ \t/]-[0-9]", re.M)  # OBJ f/l lines with an index < 0


@dataclass(frozen=True)
class _Part:
    """One geometry of the file, positions merged, with whatever appearance it brought."""

    vertices: np.ndarray                 # (V, 3) float64
    faces: np.ndarray                    # (F, 3) int64
    uvs: np.ndarray | None               # (U, 2)
    face_uvs: np.ndarray | None          # (F, 3)
    texture: torch.Tensor | None         # (3, H, W)
    texture_key: object                  # parts with equal keys share one texture
    colors: np.ndarray | None            # (F, 3, 3) per-corner RGB in [0, 1], used when there is no texture


def load_mesh(path: str | os.PathLike, texture: str | os.PathLike | None = None) -> Mesh:
    """Load a mesh file as one triangle Mesh with UVs; `texture` (an image file) replaces its texture."""
    path = _check_mesh_path(Path(path))
    override = None if texture is None else load_image(texture, "texture")[0]
    parts = _read_parts(path, load_textures=override is None)
    if override is not None:
        if any(part.uvs is None for part in parts):
            raise Nst3dError(f"mesh {path}: has no UV coordinates, so texture {texture} cannot be mapped")
        vertices, faces, uvs, face_uvs = _concat(parts)
        return canonical_mesh(vertices, faces, uvs, face_uvs, override)
    return _merge([_resolve(part, str(path)) for part in parts], str(path))


def _check_mesh_path(path: Path) -> Path:
    """Fail with one clear line on a missing file, a folder, a FIFO or device, or an unsupported suffix."""
    check_input_file(path, "mesh")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise Nst3dError(f"mesh {path}: unsupported format {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(MESH_SUFFIXES)}")
    return path


class _CheckedResolver(FilePathResolver):
    """trimesh's resolver for the files a mesh names (MTL, textures, glTF buffers), made safe: a path that
    is not a regular file (a FIFO would block) is refused, and an MTL is read as plain text (no BOM, LF)."""

    def __init__(self, mesh: Path):
        super().__init__(str(mesh))
        self.mesh = mesh

    def get(self, name: str) -> bytes:
        for candidate in (name.strip(), name.strip().lstrip("/"), os.path.split(name)[-1]):
            if (Path(self.parent) / candidate).exists():
                check_input_file(Path(self.parent) / candidate, f"mesh {self.mesh} names")
                break
        data = super().get(name)
        return _plain_text(data) if name.strip().lower().endswith(".mtl") else data


def _plain_text(data: bytes) -> bytes:
    """Text as trimesh's parsers expect it: no UTF-8 byte-order mark, LF line ends (not CRLF or CR)."""
    data = data.removeprefix(codecs.BOM_UTF8)
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def _obj_source(path: Path) -> io.BytesIO:
    """The OBJ file's bytes, rewritten so that trimesh reads them right: plain text, absolute indices."""
    data = _plain_text(path.read_bytes())
    return io.BytesIO(_absolute_indices(data, path) if _RELATIVE_INDEX.search(data) else data)


def _absolute_indices(data: bytes, path: Path) -> bytes:
    """Replace the relative (negative) v/vt/vn indices of f and l lines with the absolute ones they mean.

    OBJ's -1 is the latest vertex defined above the line; trimesh counts it from the end of the file.
    """
    counts = {b"v": 0, b"vt": 0, b"vn": 0}
    lines = data.split(b"\n")
    for number, line in enumerate(lines):
        words = line.split()
        if words and words[0] in counts:
            counts[words[0]] += 1
        elif words and words[0] in (b"f", b"l") and b"-" in line:
            where = f"mesh {path}: line {number + 1}"
            lines[number] = b" ".join([words[0], *(_absolute_corner(w, counts, where) for w in words[1:])])
    return b"\n".join(lines)


def _absolute_corner(word: bytes, counts: dict[bytes, int], where: str) -> bytes:
    """One face corner 'v/vt/vn' (vt, vn optional) with negative indices counted back from `counts`."""
    parts = word.split(b"/")
    for k, (part, table) in enumerate(zip(parts, (b"v", b"vt", b"vn"), strict=False)):
        if not part.startswith(b"-"):
            continue
        try:
            index = counts[table] + int(part) + 1
        except ValueError:
            raise Nst3dError(f"{where}: {word.decode(errors='replace')!r} is not a face corner") from None
        if index < 1:
            raise Nst3dError(f"{where}: index {int(part)} points before the first {table.decode()} "
                             f"(only {counts[table]} defined above it)")
        parts[k] = str(index).encode()
    return b"/".join(parts)


def _read_geometries(path: Path) -> list[trimesh.Trimesh]:
    """Every triangle geometry in the file, moved by its scene-graph transform."""
    try:
        source = _obj_source(path) if path.suffix.lower() == ".obj" else path
        with np.errstate(all="ignore"):  # trimesh computes normals even of non-finite input; we check after
            geometries = trimesh.load_scene(source, file_type=path.suffix.lower()[1:], process=False,
                                            resolver=_CheckedResolver(path)).dump()
    except Nst3dError:
        raise
    except PermissionError as exc:
        raise Nst3dError(f"mesh {path}: permission denied") from exc
    except Exception as exc:  # trimesh's parsers raise anything on malformed input
        detail = (str(exc).splitlines() or [""])[0][:160]
        raise Nst3dError(f"mesh {path}: corrupt or unreadable {path.suffix} file "
                         f"({type(exc).__name__}: {detail})") from exc
    meshes = [g for g in geometries if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    if not meshes:
        if any(isinstance(g, trimesh.PointCloud | trimesh.Trimesh) and len(g.vertices) for g in geometries):
            raise Nst3dError(f"mesh {path}: is a point cloud (vertices but no faces); need a triangle mesh")
        raise Nst3dError(f"mesh {path}: contains no faces (empty or unreadable file)")
    return meshes


def _read_parts(path: Path, load_textures: bool) -> list[_Part]:
    """The file's geometries as parts: finite positions, duplicates merged, degenerate faces dropped."""
    materials = _obj_materials(path) if path.suffix.lower() == ".obj" else None
    cache: dict[object, torch.Tensor] = {}
    parts, dropped = [], 0
    for geometry in _read_geometries(path):
        vertices = np.asarray(geometry.vertices, dtype=np.float64)  # (V, 3)
        if not _fits_float32(vertices):
            raise Nst3dError(f"mesh {path}: vertex coordinates contain NaN or infinity, or values beyond "
                             f"the float32 range (+-{FLOAT32_MAX:.3g}) that meshes are stored in")
        faces = np.asarray(geometry.faces, dtype=np.int64)  # (F, 3)
        uv = getattr(geometry.visual, "uv", None)
        has_uvs = uv is not None and len(uv) == len(vertices) and _fits_float32(np.asarray(uv, np.float64))
        texture, key, colors = _appearance(geometry, materials, cache, load_textures)
        if texture is not None and not has_uvs:
            notice(f"mesh {path}: a texture is ignored because its faces have no UV coordinates")
        merged, merged_faces = merge_rows(vertices, faces)
        keep = non_degenerate(merged, merged_faces)
        dropped += int((~keep).sum())
        if keep.any():
            parts.append(_Part(merged, merged_faces[keep], np.asarray(uv, np.float64) if has_uvs else None,
                               faces[keep] if has_uvs else None, texture if has_uvs else None, key,
                               None if colors is None else colors[keep]))
    if dropped:
        notice(f"mesh {path}: dropped {dropped} degenerate face(s) (zero area or a repeated vertex)")
    if not parts:
        raise Nst3dError(f"mesh {path}: every face is degenerate (zero area); nothing to render")
    return parts


def _fits_float32(values: np.ndarray) -> bool:
    """True if every value is finite and stays finite as float32 (what a Mesh stores)."""
    return bool(np.isfinite(values).all() and (np.abs(values) <= FLOAT32_MAX).all())


def _appearance(geometry: trimesh.Trimesh, materials: dict[str, tuple] | None, cache: dict,
                load_textures: bool) -> tuple[torch.Tensor | None, object, np.ndarray | None]:
    """(texture (3, H, W), texture key, per-corner colours (F, 3, 3)) of one geometry; unused ones None."""
    visual, faces = geometry.visual, geometry.faces
    if visual.kind == "vertex":
        return None, None, visual.vertex_colors[:, :3][faces] / 255.0
    if visual.kind == "face":
        return None, None, np.repeat(visual.face_colors[:, None, :3], 3, axis=1) / 255.0
    material = getattr(visual, "material", None)
    image, factor, key = None, None, None
    if materials is not None:  # OBJ: the MTL as written decides, so a texture that fails to open is an error
        factor, texture_path = materials.get(getattr(material, "name", None), (None, None))
        if texture_path is not None and load_textures:
            if texture_path not in cache:
                cache[texture_path] = load_image(texture_path, "texture")[0]
            return cache[texture_path], texture_path, None
    elif isinstance(material, PBRMaterial):
        image = material.baseColorTexture
        factor = None if material.baseColorFactor is None else np.asarray(material.baseColorFactor[:3]) / 255
    elif isinstance(material, SimpleMaterial) and not _is_placeholder(material.image):
        image = material.image
    if image is not None and load_textures:
        key = (id(image), None if factor is None else tuple(factor))
        if key not in cache:
            tint = torch.ones(3) if factor is None else torch.as_tensor(factor, dtype=torch.float32)
            cache[key] = pil_to_tensor(image)[0] * tint[:, None, None]
        return cache[key], key, None
    if factor is None:
        return None, None, None
    return None, None, np.broadcast_to(np.asarray(factor, dtype=np.float64), (len(faces), 3, 3))


def _is_placeholder(image: object) -> bool:
    """True for trimesh's stand-in image (2x2 grey) on materials that have no texture."""
    return image is None or (image.size == (2, 2)
                             and np.array_equal(np.asarray(image), np.asarray(color_image())))


def _obj_materials(path: Path) -> dict[str, tuple[np.ndarray | None, Path | None]]:
    """Material name -> (Kd colour, map_Kd path) from the OBJ's first mtllib, as trimesh reads it."""
    try:
        return _read_obj_materials(path)
    except (OSError, ValueError, IndexError) as exc:
        raise Nst3dError(f"mesh {path}: cannot read its materials ({exc})") from None


def _mtl_library(path: Path) -> tuple[str, Path] | None:
    """The OBJ's first mtllib line -> (as written, the path it names), or None without one."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        library = next((line.split(None, 1)[1].strip() for line in handle
                        if line.startswith("mtllib") and len(line.split(None, 1)) == 2), None)
    return None if library is None else (library, path.parent / library.replace("\\", "/"))


def referenced_files(path: str | os.PathLike) -> list[Path]:
    """The existing files besides `path` that load_mesh reads for it (an OBJ's material library and its
    textures, a glTF's external buffers and images): what a result depends on beyond the mesh file."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        named = _mtl_library(path)
        if named is None or not named[1].is_file():
            return []
        textures = {texture for _, texture in _obj_materials(path).values() if texture is not None}
        return [named[1], *sorted(t for t in textures if t.is_file())]
    if path.suffix.lower() == ".gltf":
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            return []  # load_mesh reports what is wrong with the file itself
        lists = [document.get(key) for key in ("buffers", "images")] if isinstance(document, dict) else []
        uris = {e.get("uri") for entries in lists if isinstance(entries, list) for e in entries
                if isinstance(e, dict)}
        files = (path.parent / unquote(u) for u in uris if isinstance(u, str) and not u.startswith("data:"))
        return sorted(f for f in files if f.is_file())
    return []


def _read_obj_materials(path: Path) -> dict[str, tuple[np.ndarray | None, Path | None]]:
    named = _mtl_library(path)
    if named is None:
        return {}
    library, mtl = named
    if not mtl.exists():
        notice(f"mesh {path}: material library {library} not found; loading without materials")
        return {}
    check_input_file(mtl, f"mesh {path}: material library")
    materials: dict[str, list] = {}
    current = None
    for line in mtl.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        fields = line.split(None, 1)
        key, rest = (fields[0].lower(), fields[1].strip()) if len(fields) == 2 else ("", "")
        if key == "newmtl":
            current = materials.setdefault(rest, [None, None])
        elif current is not None and key == "kd":
            current[0] = np.array([float(x) for x in rest.split()[:3]]).clip(0, 1)
        elif current is not None and key == "map_kd":
            current[1] = _texture_file(mtl.parent, rest)
    return {name: tuple(entry) for name, entry in materials.items()}


def _texture_file(folder: Path, spec: str) -> Path:
    """The image a map_Kd line names: the whole rest of the line, or its last word after options; an
    absolute path from the exporting machine (C:\\Users\\..., /home/...) also by its name beside the MTL."""
    words = [spec, spec.split()[-1]]
    candidates = [folder / w.replace("\\", "/") for w in words]
    candidates += [folder / PureWindowsPath(w).name for w in words]
    return next((c for c in candidates if c.exists()), candidates[1])


def _resolve(part: _Part, source: str) -> _Part:
    """Turn a part's colours into a texture: a flat colour fills its UVs, varying ones are baked."""
    if part.texture is not None or part.colors is None:
        return part
    colors = part.colors.reshape(-1, 3)
    if np.abs(colors - colors[0]).max() <= FLAT_TOLERANCE:
        return _flat(part, colors[0])
    if part.uvs is not None:
        notice(f"{source}: baking vertex colours into a new UV atlas (the file's UVs are replaced)")
    uvs, face_uvs, _ = unwrap(part.vertices, part.faces)
    texture = bake_colors(torch.from_numpy(uvs), torch.from_numpy(face_uvs),
                          torch.from_numpy(part.colors).float(), (BAKE_SIZE, BAKE_SIZE))
    return replace(part, uvs=uvs, face_uvs=face_uvs, texture=texture, texture_key=object(), colors=None)


def _flat(part: _Part, color: np.ndarray) -> _Part:
    """The part with UVs (made if missing) and a texture of one colour."""
    if part.uvs is not None:
        uvs, face_uvs = part.uvs, part.face_uvs
    else:
        uvs, face_uvs, _ = unwrap(part.vertices, part.faces)
    texture = torch.as_tensor(color, dtype=torch.float32)[:, None, None].repeat(1, BAKE_SIZE, BAKE_SIZE)
    return replace(part, uvs=uvs, face_uvs=face_uvs, texture=texture, texture_key=object(), colors=None)


def _merge(parts: list[_Part], source: str) -> Mesh:
    """One Mesh from resolved parts: keep a lone part's UVs, pack textures, or unwrap untextured parts."""
    if len(parts) == 1 and parts[0].uvs is not None:
        part = parts[0]
        return canonical_mesh(part.vertices, part.faces, part.uvs, part.face_uvs, part.texture)
    if all(part.texture is None for part in parts):
        if len(parts) > 1 and any(part.uvs is not None for part in parts):
            notice(f"{source}: {len(parts)} parts with overlapping UV layouts; made one new UV atlas")
        vertices, faces = merge_rows(*_concat(parts)[:2])
        uvs, face_uvs, _ = unwrap(vertices, faces)
        return canonical_mesh(vertices, faces, uvs, face_uvs)
    parts = [p if p.texture is not None else _flat(p, np.full(3, DEFAULT_ALBEDO)) for p in parts]
    keys = list(dict.fromkeys(part.texture_key for part in parts))
    atlas, placements = pack_textures([next(p.texture for p in parts if p.texture_key == k) for k in keys])
    parts = [replace(p, uvs=place_uvs(p.uvs, placements[keys.index(p.texture_key)], source)) for p in parts]
    vertices, faces, uvs, face_uvs = _concat(parts)
    return canonical_mesh(vertices, faces, uvs, face_uvs, atlas)


def _concat(parts: list[_Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Stack parts into one vertex table and (if every part has UVs) one UV table, offsetting indices."""
    vertex_offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, vertex_offsets, strict=False)])
    if any(p.uvs is None for p in parts):
        return vertices, faces, None, None
    uv_offsets = np.cumsum([0] + [len(p.uvs) for p in parts])
    uvs = np.concatenate([p.uvs for p in parts])
    face_uvs = np.concatenate([p.face_uvs + o for p, o in zip(parts, uv_offsets, strict=False)])
    return vertices, faces, uvs, face_uvs
