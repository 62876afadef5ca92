"""Reading and writing images and animations: strict on input, atomic on output.

Images are float tensors in [0, 1], RGB, shape (1, 3, H, W). Every writer goes through
`atomic_output`, so a crash or Ctrl-C never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from nst3d.errors import Nst3dError
from nst3d.runtime import notice

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF", ".webp": "WEBP"}
MIN_IMAGE_SIDE = 16      # VGG's fifth block needs a few pixels left after four poolings
MAX_IMAGE_SIDE = 8192    # larger inputs are downscaled on load; nothing here needs more
Image.MAX_IMAGE_PIXELS = 1_000_000_000  # we check sizes ourselves and downscale while decoding


def check_output_path(path: str | os.PathLike, suffixes: Sequence[str] | None = None) -> Path:
    """Fail early, before any work, if `path` cannot be written or has an unsupported suffix."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise Nst3dError(f"{path}: unsupported output format {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(sorted(suffixes))}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise Nst3dError(f"{path}: output folder {parent} does not exist")
    if path.is_dir():
        raise Nst3dError(f"{path}: is a folder, expected a file name")
    try:  # the only reliable permission check (root, read-only mounts, ACLs) is to try
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise Nst3dError(f"{path}: cannot write in {parent} ({exc.strerror or exc})") from None
    return path


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it into place only on success."""
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode (palette, gray, 16-bit, float, alpha, CMYK) to 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, what: str = "image") -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1], whatever its mode."""
    path = Path(path)
    if not path.exists():
        raise Nst3dError(f"{what} {path}: no such file")
    if path.is_dir():
        raise Nst3dError(f"{what} {path}: is a folder, expected an image file")
    try:
        with Image.open(path) as img:
            if max(img.size) > MAX_IMAGE_SIDE:
                notice(f"{what} {path} is {img.size[0]}x{img.size[1]} px; downscaling to "
                       f"{MAX_IMAGE_SIDE} px on the long side while reading")
                img.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
            img.load()
            rgb = _to_rgb(img)
    except PermissionError as exc:
        raise Nst3dError(f"{what} {path}: permission denied") from exc
    except UnidentifiedImageError as exc:
        raise Nst3dError(f"{what} {path}: not an image file Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise Nst3dError(f"{what} {path}: too many pixels to read safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Nst3dError(f"{what} {path}: corrupt or truncated image ({exc})") from exc
    if min(rgb.size) < MIN_IMAGE_SIDE:
        raise Nst3dError(f"{what} {path} is {rgb.size[0]}x{rgb.size[1]} px; "
                         f"need at least {MIN_IMAGE_SIDE} px on each side")
    return pil_to_tensor(rgb)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """Any in-memory Pillow image (e.g. a texture embedded in a GLB) -> (1, 3, H, W) float in [0, 1]."""
    array = np.asarray(_to_rgb(img), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    if image.dim() == 4:
        image = image[0]
    array = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    return array.cpu().numpy()


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write an image tensor atomically; the format follows the file suffix."""
    path = check_output_path(path, IMAGE_SUFFIXES)
    with atomic_output(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format=IMAGE_SUFFIXES[path.suffix.lower()])
    return path


def save_rgba(rgb: torch.Tensor, alpha: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write premultiplied rgb (1, 3, H, W) and its alpha (1, 1, H, W) as a transparent PNG, atomically."""
    path = check_output_path(path, [".png"])
    rgb, alpha = (t[0] if t.dim() == 4 else t for t in (rgb, alpha))
    color = (rgb / alpha.clamp(min=1e-6)).clamp(0, 1)  # the PNG stores straight (not premultiplied) color
    with atomic_output(path) as tmp:
        Image.fromarray(to_uint8(torch.cat([color, alpha])), "RGBA").save(tmp, format="PNG")
    return path


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 10.0,
             final_hold: float = 1.0) -> Path:
    """Write (H, W, 3) uint8 frames as a looping GIF; the last frame is held `final_hold` seconds."""
    path = check_output_path(path, [".gif"])
    if not frames:
        raise Nst3dError(f"{path}: no frames to write")
    images = [Image.fromarray(f) for f in frames]
    frame_ms = max(20, round(1000 / fps))
    durations = [frame_ms] * len(images)
    durations[-1] = max(frame_ms, round(1000 * final_hold))
    with atomic_output(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                       loop=0, optimize=False, disposal=1)
    return path


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above `path` that exists (where a missing output folder would be created)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def check_output_dir(path: str | os.PathLike, force: bool) -> Path:
    """Fail early if OUTDIR cannot be created, or exists with files and `force` is off."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise Nst3dError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise Nst3dError(f"{path}: folder exists and is not empty; use --force to overwrite its outputs")
    check_output_path(_existing_ancestor(path) / f"{path.name}.probe")
    return path


@contextmanager
def staged_directory(path: str | os.PathLike, force: bool = False,
                     owned: Sequence[str] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success move its files into `path`.

    Files named in `owned` (all a job can write) that this run did not write are removed from `path`,
    so a folder never mixes the outputs of two runs. On failure (or Ctrl-C) the temporary folder is
    removed and `path` is left exactly as it was.
    """
    path = check_output_dir(path, force)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=_existing_ancestor(path)))
    try:
        yield stage
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            stage.chmod(0o755)
            os.replace(stage, path)
            return
        written = {item.name for item in stage.iterdir()}
        for name in written:
            os.replace(stage / name, path / name)
        for name in set(owned) - written:
            if (path / name).is_file():
                (path / name).unlink()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
