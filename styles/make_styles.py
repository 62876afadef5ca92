"""Generate the sample style images in styles/ and the sample content photo in examples/.

Everything here is procedural (NumPy, SciPy, Pillow; fixed seeds), so a fresh clone can rebuild the
exact files with `python styles/make_styles.py`. No external artwork is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import cKDTree

HERE = Path(__file__).resolve().parent
SIZE = 512


def palette(values: np.ndarray, colors: list[tuple[int, int, int]]) -> np.ndarray:
    """Map values in [0, 1] to RGB by piecewise-linear interpolation through `colors`."""
    stops = np.linspace(0, 1, len(colors))
    table = np.asarray(colors, dtype=np.float64) / 255
    return np.stack([np.interp(values, stops, table[:, c]) for c in range(3)], -1)


def to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def swirls(rng: np.random.Generator) -> Image.Image:
    """Night-sky swirls: noise smeared along a vortex flow field (line-integral convolution)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    vx, vy = np.zeros_like(x), np.zeros_like(y)
    for cx, cy, spin in rng.uniform([0, 0, -1], [SIZE, SIZE, 1], (7, 3)):
        dx, dy = x - cx, y - cy
        fall = np.exp(-(dx**2 + dy**2) / (2 * (SIZE / 5) ** 2))
        vx, vy = vx - np.sign(spin) * dy * fall, vy + np.sign(spin) * dx * fall
    vx, vy = vx + 0.15 * SIZE / 5, vy  # a gentle drift so no region is still
    norm = np.hypot(vx, vy) + 1e-9
    vx, vy = vx / norm, vy / norm
    noise = gaussian_filter(rng.random((SIZE, SIZE)), 0.8)
    acc = np.zeros_like(x)
    for direction in (1, -1):
        px, py = x.copy(), y.copy()
        for _ in range(14):
            acc += map_coordinates(noise, [py, px], order=1, mode="wrap")
            ix, iy = np.clip(px, 0, SIZE - 1).astype(int), np.clip(py, 0, SIZE - 1).astype(int)
            px, py = px + direction * 1.5 * vx[iy, ix], py + direction * 1.5 * vy[iy, ix]
    strokes = (acc - acc.min()) / (acc.max() - acc.min())
    field = gaussian_filter(rng.random((SIZE, SIZE)), 40)
    field = (field - field.min()) / (field.max() - field.min())
    base = palette(0.6 * field + 0.4 * strokes, [(12, 24, 70), (30, 70, 150), (90, 140, 200),
                                                 (230, 210, 110), (250, 240, 190)])
    return to_image(base * (0.75 + 0.5 * (strokes[..., None] - 0.5)))


def mosaic(rng: np.random.Generator) -> Image.Image:
    """Stained glass: Voronoi cells in saturated colors with dark lead lines."""
    points = rng.uniform(0, SIZE, (260, 2))
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    dist, index = cKDTree(points).query(np.stack([y.ravel(), x.ravel()], 1), k=2)
    colors = palette(rng.random(len(points)), [(170, 20, 30), (240, 170, 20), (20, 110, 60),
                                               (20, 60, 160), (120, 30, 140)])
    rgb = colors[index[:, 0]].reshape(SIZE, SIZE, 3)
    edge = (dist[:, 1] - dist[:, 0]).reshape(SIZE, SIZE) < 3.0
    rgb[edge] = 0.08
    shade = gaussian_filter(rng.random((SIZE, SIZE)), 3)
    return to_image(rgb * (0.8 + 0.4 * (shade - shade.mean()) / shade.std() * 0.2)[..., None])


def waves(rng: np.random.Generator) -> Image.Image:
    """Woodblock waves: stacked wave bands in Prussian blue with white foam crests."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    phase = 0.06 * x + 3 * np.sin(0.017 * x + 0.9 * np.sin(0.011 * y))
    band = (y / 26 + 1.8 * np.sin(phase) + 0.4 * np.sin(2.3 * phase)) % 1.0
    value = palette(band, [(10, 30, 80), (25, 70, 130), (80, 140, 190), (230, 235, 225), (250, 248, 240)])
    paper = gaussian_filter(rng.random((SIZE, SIZE)), 1.2)
    return to_image(value * (0.92 + 0.16 * (paper - 0.5))[..., None] * np.array([1.0, 0.98, 0.93]))


def brush(rng: np.random.Generator) -> Image.Image:
    """Impasto: thousands of short, thick, warm brush strokes on a canvas weave."""
    canvas = Image.new("RGB", (SIZE, SIZE), (235, 220, 190))
    draw = ImageDraw.Draw(canvas, "RGBA")
    warm = [(200, 60, 30), (240, 150, 40), (250, 210, 90), (120, 40, 30), (60, 90, 120), (240, 240, 220)]
    for _ in range(2600):
        x0, y0 = rng.uniform(-20, SIZE + 20, 2)
        angle = rng.normal(0.6, 0.5)
        length = rng.uniform(10, 34)
        color = warm[rng.integers(len(warm))]
        jitter = tuple(int(np.clip(c + rng.normal(0, 18), 0, 255)) for c in color)
        draw.line([(x0, y0), (x0 + length * np.cos(angle), y0 + length * np.sin(angle))],
                  fill=(*jitter, 200), width=int(rng.integers(4, 10)))
    return canvas.filter(ImageFilter.SMOOTH)


def landscape(rng: np.random.Generator) -> Image.Image:
    """A sample 'photo' for content: sky, sun, layered hills, a lake and a little house."""
    w, h = 640, 448
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = palette(y / h, [(70, 120, 200), (150, 190, 230), (250, 220, 180)])
    rgb[(x - 470) ** 2 + (y - 110) ** 2 < 45**2] = (1.0, 0.93, 0.6)
    for depth, (base, amp, color) in enumerate([(250, 40, (0.35, 0.45, 0.55)), (300, 30, (0.2, 0.45, 0.25)),
                                                (350, 20, (0.15, 0.35, 0.15))]):
        ridge = base - amp * np.sin(x / (90 - 20 * depth) + depth) - 0.5 * amp * np.sin(x / 33 + 2 * depth)
        rgb[y > ridge] = color
    lake = (y > 380) & (np.abs(x - 250) < 200 - 0.9 * (y - 380))
    rgb[lake] = (0.3, 0.5, 0.75)
    image = to_image(rgb + rng.normal(0, 0.015, rgb.shape))
    draw = ImageDraw.Draw(image)
    draw.rectangle([80, 300, 150, 360], fill=(200, 180, 150))
    draw.polygon([(70, 300), (115, 260), (160, 300)], fill=(150, 50, 40))
    draw.rectangle([105, 325, 125, 360], fill=(90, 60, 40))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def main() -> None:
    makers = [("swirls", swirls), ("mosaic", mosaic), ("waves", waves), ("brush", brush)]
    for seed, (name, make) in enumerate(makers):
        make(np.random.default_rng(seed)).save(
            HERE / f"{name}.jpg", quality=92)
    (HERE.parent / "examples").mkdir(exist_ok=True)
    landscape(np.random.default_rng(1)).save(HERE.parent / "examples" / "landscape.jpg", quality=92)


if __name__ == "__main__":
    main()
