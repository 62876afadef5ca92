"""Reading and writing images and animations: strict on input, atomic on output.

Images are float tensors in [0, 1], RGB, shape (1, 3, H, W). Every writer goes through
`atomic_output`, so a crash or Ctrl-C never leaves a half-written file behind.
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from nst3d.errors import Nst3dError
from nst3d.runtime import notice

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF", ".webp": "WEBP"}
MIN_IMAGE_SIDE = 16      # VGG's fifth block needs a few pixels left after four poolings
MAX_IMAGE_SIDE = 8192    # larger inputs are downscaled on load; nothing here needs more
Image.MAX_IMAGE_PIXELS = 1_000_000_000  # we check sizes ourselves and downscale while decoding
MAX_GIF_DELAY = 600.0    # seconds; GIF stores a frame's delay in centiseconds in 16 bits (at most 655 s)
FRAME_RATES = {          # suffix -> (lowest fps, highest fps, why)
    ".gif": (0.01, 50.0, "GIF delays are whole centiseconds, and viewers slow delays under 2 cs to 10 cs"),
    ".mp4": (0.01, 240.0, "video players show at most 240 fps"),
}


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


_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """Fail with one line unless `path` is an existing regular file; checked before anything opens it.

    Opening a FIFO blocks forever and a device never ends; symbolic links are followed.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise Nst3dError(f"{what} {path}: no such file") from None
    except PermissionError:
        raise Nst3dError(f"{what} {path}: permission denied") from None
    except (OSError, ValueError) as exc:  # a name too long, a symlink loop, a NUL byte
        raise Nst3dError(f"{what} {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if stat.S_ISREG(mode):
        return path
    if stat.S_ISDIR(mode):
        raise Nst3dError(f"{what} {path}: is a folder, expected a file")
    kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
    raise Nst3dError(f"{what} {path}: is {kind}, not a regular file; give the path of a file")


def _gray_to_unit(img: Image.Image) -> np.ndarray:
    """(H, W) float64 in [0, 1] from a 16-bit, 32-bit integer or float gray image, by its real range.

    16-bit modes ('I;16*') divide by 65535. 32-bit integers ('I', which is also how Pillow opens some
    16-bit PNG/TIFF/PGM files) divide by 65535 when they lie in 0..65535, else by their own min..max.
    Floats ('F') in [0, 1] are used as they are; floats outside it (HDR, depth maps) are scaled from their
    own min..max. NaN and -inf count as the lowest finite value, +inf as the highest; a constant image
    out of range is clipped.
    """
    a = np.asarray(img, dtype=np.float64)
    finite = a[np.isfinite(a)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    a = np.nan_to_num(a, nan=low, posinf=high, neginf=low)
    if img.mode.startswith("I;16") or (img.mode == "I" and low >= 0 and high <= 65535):
        return a / 65535.0
    if img.mode == "F" and low >= 0 and high <= 1:
        return a
    return (a - low) / (high - low) if high > low else a.clip(0, 1)


def rgb_image(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode (palette, gray, 16-bit, float, alpha, CMYK) to 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.clip(_gray_to_unit(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1: upright, 5 to 8: turned by 90 degrees); 1 if absent or unreadable."""
    try:
        return int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # Pillow raises many types on malformed EXIF; the pixels are still fine
        return 1


def upright_image(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation tag says, as image viewers show it."""
    if _orientation(img) == 1:
        return img
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # as in _orientation: a malformed tag is ignored
        return img


def _check_image_size(img: Image.Image, what: str, path: Path) -> None:
    """Fail with one line naming the file's own size (as shown) unless its short side survives loading."""
    width, height = img.size[::-1] if _orientation(img) in (5, 6, 7, 8) else img.size
    short, long = min(width, height), max(width, height)
    if short * min(1.0, MAX_IMAGE_SIDE / long) >= MIN_IMAGE_SIDE:  # the short side once the long one fits
        return
    limits = f"need at least {MIN_IMAGE_SIDE} px on each side"
    if short >= MIN_IMAGE_SIDE:
        limits += (f" after the long side is downscaled to {MAX_IMAGE_SIDE} px, i.e. an aspect ratio of at "
                   f"most {MAX_IMAGE_SIDE // MIN_IMAGE_SIDE}:1")
    raise Nst3dError(f"{what} {path} is {width}x{height} px; {limits}")


def load_image(path: str | os.PathLike, what: str = "image") -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1], whatever its mode, upright per EXIF."""
    path = check_input_file(path, what)
    try:
        with Image.open(path) as img:
            _check_image_size(img, what, path)
            if max(img.size) > MAX_IMAGE_SIDE:
                notice(f"{what} {path} is {img.size[0]}x{img.size[1]} px; downscaling to "
                       f"{MAX_IMAGE_SIDE} px on the long side while reading")
                img.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
            img.load()
            rgb = rgb_image(upright_image(img))
    except PermissionError as exc:
        raise Nst3dError(f"{what} {path}: permission denied") from exc
    except UnidentifiedImageError as exc:
        raise Nst3dError(f"{what} {path}: not an image file Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise Nst3dError(f"{what} {path}: too many pixels to read safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Nst3dError(f"{what} {path}: corrupt or truncated image ({exc})") from exc
    return pil_to_tensor(rgb)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """Any in-memory Pillow image (e.g. a texture embedded in a GLB) -> (1, 3, H, W) float in [0, 1]."""
    array = np.asarray(rgb_image(img), dtype=np.float32) / 255.0  # (H, W, 3)
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


def check_frame_rate(fps: float, path: str | os.PathLike) -> float:
    """Fail with one line unless `fps` is a frame rate the animation format of `path` can store and play.

    See FRAME_RATES: GIF delays are whole centiseconds (and viewers show delays under 2 cs as 10 cs).
    """
    suffix = Path(path).suffix.lower()
    low, high, why = FRAME_RATES[suffix]
    if not (math.isfinite(fps) and low <= fps <= high):
        raise Nst3dError(f"{path}: frame rate {fps:g} fps: {suffix[1:].upper()} needs {low:g} to {high:g} "
                         f"fps ({why})")
    return fps


def shared_palette(frames: Sequence[np.ndarray]) -> list[Image.Image]:
    """(H, W, 3) uint8 frames -> palette images that share one 256-colour palette, taken from a sample of
    all the frames: no colour flicker between frames, and a tenth of the time of a palette per frame."""
    sample = np.concatenate([f[::4, ::4] for f in frames[::max(1, len(frames) // 12)]])  # (h, w, 3)
    palette = Image.fromarray(np.ascontiguousarray(sample)).quantize(256, method=Image.Quantize.FASTOCTREE)
    return [Image.fromarray(f).quantize(palette=palette) for f in frames]


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 10.0,
             final_hold: float = 1.0) -> Path:
    """Write (H, W, 3) uint8 frames as a looping GIF; the last frame is held `final_hold` seconds.

    Frame delays are rounded to whole centiseconds, as GIF stores them (12 fps plays at 12.5).
    """
    path = check_output_path(path, [".gif"])
    check_frame_rate(fps, path)
    if not (math.isfinite(final_hold) and 0 <= final_hold <= MAX_GIF_DELAY):
        raise Nst3dError(f"{path}: final hold {final_hold:g} s: use 0 to {MAX_GIF_DELAY:g} s")
    if not frames:
        raise Nst3dError(f"{path}: no frames to write")
    images = shared_palette(frames)
    frame_ms = round(1000 / fps)
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
    so a folder never mixes the outputs of two runs. Replacing is all or nothing: on failure (or Ctrl-C),
    during the job or while moving its outputs, the temporary folder is removed and `path` is left
    exactly as it was.
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
        _replace_outputs(stage, path, owned)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace_outputs(stage: Path, path: Path, owned: Sequence[str]) -> None:
    """Move the files of `stage` into `path` and remove the stale `owned` ones, all or nothing.

    Every destination is checked first; then the old files are moved aside into a hidden folder in
    `path` (plain renames, on the outputs' own file system), the new ones moved in, and the old ones
    deleted. Any failure (or Ctrl-C) moves the old files back before the error is raised.
    """
    written = sorted(item.name for item in stage.iterdir())
    for name in written:
        if (path / name).is_dir() and not (path / name).is_symlink():
            raise Nst3dError(f"{path / name}: is a folder, so the new {name} cannot replace it; move it away "
                             "or write to another folder (nothing was changed)")
    old = [name for name in [*written, *sorted(set(owned) - set(written))]
           if (path / name).is_symlink() or (path / name).is_file()]
    moved: list[str] = []
    placed: list[str] = []
    aside = None
    try:
        aside = Path(tempfile.mkdtemp(prefix=".nst3d-replaced.", dir=path))
        for name in old:
            os.replace(path / name, aside / name)
            moved.append(name)
        for name in written:
            os.replace(stage / name, path / name)
            placed.append(name)
    except BaseException as exc:
        if aside is not None:
            _restore(path, aside, moved, placed)
        if isinstance(exc, OSError):
            raise Nst3dError(f"{path}: could not replace its outputs ({exc.strerror or exc}); "
                             "nothing was changed") from exc
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _restore(path: Path, aside: Path, moved: Sequence[str], placed: Sequence[str]) -> None:
    """Undo a partial `_replace_outputs`: delete the new files placed in `path`, move the old ones back."""
    try:
        for name in placed:
            (path / name).unlink(missing_ok=True)
        for name in moved:
            os.replace(aside / name, path / name)
        aside.rmdir()
    except OSError as exc:
        raise Nst3dError(f"{path}: could not replace its outputs, nor put the old ones back "
                         f"({exc.strerror or exc}); the old files are in {aside}") from exc
