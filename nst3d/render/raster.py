"""Rasterization: the visible face, perspective-correct barycentrics and depth per pixel (no gradients).

Method: 2D homogeneous rasterization (Olano & Greer 1997). For a triangle with clip-space corners
h_i = (x_i, y_i, w_i), the three edge functions e_i(X, Y) = (h_j x h_k) . (X, Y, 1) are linear in NDC;
after multiplying by the sign of det = h_0 . (h_1 x h_2) a pixel center is inside iff all e_i >= 0, its
perspective-correct barycentrics are e / sum(e) and its depth (clip w) is |det| / sum(e). No division
by w happens before the inside test, so corners behind the camera need no special case. The near plane
(z_clip >= -w_clip) is a fourth linear test, sum_i (z_i + w_i) e_i >= 0: faces crossing it are clipped
exactly, per pixel, and faces entirely behind it are dropped.

- No cracks, no double coverage: a shared edge gets exactly negated edge functions in both triangles
  (products and sums are computed as separate, symmetric float operations), and a pixel center lying
  exactly on an edge belongs to the side whose inward edge normal (a, b) has a > 0, or a == 0 and b < 0
  (a top-left rule).
- Back faces are rasterized like front faces; faces with det == 0 (zero area, or seen edge-on) are skipped.
- Z-buffer: each covering (face, pixel) pair makes the int64 key (depth bits << 32 | face id), and a
  scatter_reduce(amin) keeps the nearest; equal depths go to the lower face id, deterministically.
- Candidates: each face's pixel bounding box is cut into rows, each row narrowed to the columns its
  four linear tests allow, and the (face, pixel) candidates are enumerated and tested in chunks of at
  most `max_candidates` pixels, so memory is linear in pixels + faces (never faces x pixels).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from nst3d.render.camera import pixel_centers

MAX_CANDIDATES = 1 << 20      # (face, pixel) pairs per chunk: bounds the working memory (~100 MB)
_ROWS_PER_CANDIDATE = 4       # a bounding-box row costs about as much memory as 4 candidates
_BBOX_SLACK = 1e-2            # pixels: bounding boxes are widened so rounding never drops a covered pixel
_EMPTY_KEY = torch.iinfo(torch.int64).max
_ON_EDGE = torch.finfo(torch.float32).tiny  # e >= tiny <=> e > 0: pixels exactly on a non-top-left edge fail


class Fragments(NamedTuple):
    """What each pixel sees; background pixels have face_id -1 and zeros elsewhere."""

    face_id: torch.Tensor                # (B, H, W) int64 index into faces, -1 on background
    bary: torch.Tensor                   # (B, H, W, 3) float32 perspective-correct barycentrics
    depth: torch.Tensor                  # (B, H, W) float32 view-space depth (clip w)
    bary_da: torch.Tensor | None = None  # (B, H, W, 3, 2) d bary / d (column, row), per pixel


class _FaceSetup(NamedTuple):
    """Per (view, face) item quantities, flattened over B * F."""

    planes: torch.Tensor     # (B*F, 4, 3) float32 (a, b, c) of the tests a X + b Y + c >= threshold:
                             # three sign-corrected edges, then the near plane
    threshold: torch.Tensor  # (B*F, 4) float32 0 or _ON_EDGE (top-left rule; near plane: 0)
    abs_det: torch.Tensor    # (B*F,) float32 |det|: depth = |det| / sum of the three edge functions
    cols: torch.Tensor       # (B*F, 2) int64 first and last bounding-box column (last < first: no pixels)
    rows: torch.Tensor       # (B*F, 2) int64 first and last pixel row


class _Rows(NamedTuple):
    """One entry per image row of each face that may cover pixels there."""

    line: torch.Tensor       # (R, 12) float32: slopes (4), intercepts (4), edge thresholds (3), |det|
    first: torch.Tensor      # (R,) int64 first pixel column to test
    count: torch.Tensor      # (R,) int64 number of pixel columns to test
    face: torch.Tensor       # (R,) int64 face index
    offset: torch.Tensor     # (R,) int64 flat pixel index of column 0 of this row in (B, H, W)


def _cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u x v with one rounding per product and per difference, so that v x u == -(u x v) exactly."""
    u1, u2, u3 = u.unbind(-1)
    v1, v2, v3 = v.unbind(-1)
    return torch.stack([u2 * v3 - u3 * v2, u3 * v1 - u1 * v3, u1 * v2 - u2 * v1], dim=-1)


def _pixel_bounds(corners: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel column and row ranges (B, F, 2) of each face's part in front of the near plane."""
    dist = corners[..., 2] + corners[..., 3]                                   # (B, F, 3) z + w
    start, end = corners, corners.roll(-1, dims=2)                             # edges (0,1), (1,2), (2,0)
    d0, d1 = dist, dist.roll(-1, dims=2)
    t = (d0 / (d0 - d1)).nan_to_num(0.0).unsqueeze(-1)
    crossing = start + t * (end - start)                                       # (B, F, 3, 4) on the plane
    points = torch.cat([corners, crossing], dim=2)                             # (B, F, 6, 4)
    valid = torch.cat([dist >= 0, d0 * d1 < 0], dim=2)                         # (B, F, 6)
    ndc = points[..., :2] / points[..., 3:4]
    inf = torch.tensor(float("inf"), dtype=ndc.dtype, device=ndc.device)
    low = torch.where(valid[..., None], ndc, inf).amin(dim=2)                  # (B, F, 2)
    high = torch.where(valid[..., None], ndc, -inf).amax(dim=2)
    height, width = size
    # continuous pixel coordinates, pixel centers at integers: column = (X+1) W/2 - 1/2, row = (1-Y) H/2 - 1/2
    col_lo, col_hi = (low[..., 0] + 1) * (width / 2) - 0.5, (high[..., 0] + 1) * (width / 2) - 0.5
    row_lo, row_hi = (1 - high[..., 1]) * (height / 2) - 0.5, (1 - low[..., 1]) * (height / 2) - 0.5

    def span(lo: torch.Tensor, hi: torch.Tensor, n: int) -> torch.Tensor:
        # an infinite bound clamps to the image edge; NaN (a float32 overflow) widens to the whole image:
        # the exact per-pixel tests decide, so a bounding box only has to be conservative
        lo = (lo - _BBOX_SLACK).ceil().nan_to_num(0, n, 0).clamp(0, n)
        hi = (hi + _BBOX_SLACK).floor().nan_to_num(n - 1, n - 1, -1).clamp(-1, n - 1)
        return torch.stack([lo, hi], dim=-1).long()

    return span(col_lo, col_hi, width), span(row_lo, row_hi, height)


def _setup_faces(clip: torch.Tensor, faces: torch.Tensor, size: tuple[int, int]) -> _FaceSetup:
    """Edge functions, near-plane test and pixel bounding box of every face in every view (in float64)."""
    batch, num_faces = clip.shape[0], faces.shape[0]
    corners = clip.double().index_select(1, faces.flatten()).view(batch, num_faces, 3, 4)
    h = torch.cat([corners[..., :2], corners[..., 3:]], dim=-1)                # (B, F, 3, 3) x, y, w
    edges = _cross(h.roll(-1, dims=2), h.roll(1, dims=2))                      # (B, F, 3, 3) h_i+1 x h_i+2
    det = (h[:, :, 0] * edges[:, :, 0]).sum(-1)                                # (B, F)
    edges = edges * det.sign()[..., None, None]
    a, b = edges[..., 0], edges[..., 1]
    top_left = (a > 0) | ((a == 0) & (b < 0))
    near_dist = corners[..., 2] + corners[..., 3]                              # (B, F, 3) z + w per corner
    near = (near_dist[..., None] * edges).sum(dim=2)                           # (B, F, 3)
    near[(near_dist >= 0).all(dim=-1)] = torch.tensor([0.0, 0.0, 1.0], dtype=near.dtype, device=near.device)
    threshold = torch.cat([torch.where(top_left, 0.0, _ON_EDGE), torch.zeros_like(det)[..., None]], dim=-1)
    cols, rows = _pixel_bounds(corners.float(), size)
    planes, abs_det = _unit_scale(torch.cat([edges, near[:, :, None]], dim=2), det.abs())  # (B, F, 4, 3)
    drawable = (det != 0) & abs_det.isfinite() & planes.flatten(2).isfinite().all(dim=-1)
    cols[..., 1] = torch.where(drawable, cols[..., 1], -1)
    return _FaceSetup(planes.flatten(0, 1), threshold.float().flatten(0, 1), abs_det.flatten(),
                      cols.flatten(0, 1), rows.flatten(0, 1))


def _unit_scale(planes: torch.Tensor, abs_det: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per face, float64 planes (B, F, 4, 3) and |det| (B, F) times the power of two that brings the
    largest edge coefficient into [0.5, 1), in float32.

    Edge functions and |det| are homogeneous, so a common positive factor changes no inside test,
    barycentric or depth; a power of two is exact, so results are bit for bit those of unscaled float32
    wherever that neither overflowed nor underflowed, and huge clip coordinates (up to the float32 limit)
    no longer overflow. `planes` is scaled in place.
    """
    largest = planes[:, :, :3].abs().amax(dim=(2, 3))                          # (B, F)
    exponent = torch.frexp(largest.nan_to_num(0.0, 0.0, 0.0)).exponent.double()
    scale = torch.ldexp(torch.ones_like(largest), -exponent)                   # (B, F) powers of two
    return planes.mul_(scale[..., None, None]).float(), (abs_det * scale).float()


def _face_rows(setup: _FaceSetup, items: torch.Tensor, heights: torch.Tensor, xs: torch.Tensor,
               ys: torch.Tensor, num_faces: int) -> _Rows:
    """Cut the bounding boxes of `items` (K,), `heights` (K,) rows tall, into rows; narrow each row to the
    columns that its face's tests allow."""
    height, width, device = len(ys), len(xs), xs.device
    item = items.repeat_interleave(heights)                                    # (R,)
    y = torch.arange(len(item), device=device) + (
        setup.rows.index_select(0, items)[:, 0] - (heights.cumsum(0) - heights)).repeat_interleave(heights)
    planes = setup.planes.index_select(0, item)                                # (R, 4, 3)
    slope = planes[..., 0]                                                     # (R, 4)
    base = planes[..., 1] * ys.index_select(0, y)[:, None] + planes[..., 2]   # (R, 4): test = slope X + base
    threshold = setup.threshold.index_select(0, item)
    # slope X + base >= threshold bounds X from below (slope > 0) or above (slope < 0); the exact
    # per-pixel test follows, so these bounds only need to be conservative.
    bound = (threshold - base) / slope
    inf = torch.tensor(float("inf"), device=device)
    lo = torch.where(slope > 0, bound, -inf).amax(dim=1).clamp(-2.0, 2.0)
    hi = torch.where(slope < 0, bound, inf).amin(dim=1).clamp(-2.0, 2.0)
    lo = torch.where(((slope == 0) & (base < threshold)).any(dim=1), inf, lo)
    cols = setup.cols.index_select(0, item)
    first = torch.maximum(((lo + 1) * (width / 2) - 0.5 - _BBOX_SLACK).ceil().long(), cols[:, 0])
    last = torch.minimum(((hi + 1) * (width / 2) - 0.5 + _BBOX_SLACK).floor().long(), cols[:, 1])
    keep = torch.nonzero(last >= first).squeeze(1)
    line = torch.cat([slope, base, threshold[:, :3], setup.abs_det.index_select(0, item)[:, None]], dim=1)
    item, first = item.index_select(0, keep), first.index_select(0, keep)
    return _Rows(line.index_select(0, keep), first, last.index_select(0, keep) - first + 1, item % num_faces,
                 ((item // num_faces) * height + y.index_select(0, keep)) * width)


def _image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(H, W) from an int or a pair."""
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {size}")
    return int(height), int(width)


def _chunks(counts: torch.Tensor, limit: int) -> list[tuple[int, int, int]]:
    """Split counts into contiguous (first, end, total) ranges whose totals exceed `limit` by < one count."""
    ends = counts.cumsum(0)
    total = int(ends[-1]) if len(ends) else 0
    if total <= limit:
        return [(0, len(counts), total)] if total else []
    cuts = torch.searchsorted(ends, torch.arange(limit, total, limit, device=ends.device), right=True)
    bounds = sorted({0, *cuts.tolist(), len(counts)})
    sums = [0, *ends[[end - 1 for end in bounds[1:]]].tolist()]
    return [(bounds[i], bounds[i + 1], sums[i + 1] - sums[i]) for i in range(len(bounds) - 1)]


def _depth_test_rows(rows: _Rows, candidates: int, xs: torch.Tensor, zbuf: torch.Tensor) -> None:
    """Test every candidate pixel of the given rows against its face; keep the nearest key per pixel."""
    device = zbuf.device
    row = torch.arange(len(rows.count), device=device).repeat_interleave(rows.count, output_size=candidates)
    step = torch.arange(candidates, device=device) - (rows.count.cumsum(0) - rows.count).index_select(0, row)
    col = rows.first.index_select(0, row) + step                               # (N,)
    x = xs.index_select(0, col)
    line = rows.line.index_select(0, row)                                      # (N, 12)
    e = [torch.addcmul(line[:, 4 + i], line[:, i], x) for i in range(3)]      # edge functions, (N,) each
    inside = ((e[0] >= line[:, 8]) & (e[1] >= line[:, 9]) & (e[2] >= line[:, 10])
              & (torch.addcmul(line[:, 7], line[:, 3], x) >= 0))
    depth = line[:, 11] / (e[0] + e[1] + e[2])
    key = (depth.view(torch.int32).long() << 32) | rows.face.index_select(0, row)
    key = torch.where(inside, key, _EMPTY_KEY)
    zbuf.scatter_reduce_(0, rows.offset.index_select(0, row) + col, key, "amin")


def _resolve(zbuf: torch.Tensor, setup: _FaceSetup, batch: int, num_faces: int, xs: torch.Tensor,
             ys: torch.Tensor, derivatives: bool) -> Fragments:
    """Decode the z-buffer into face ids and depths; barycentrics (and derivatives) of the winners."""
    height, width = len(ys), len(xs)
    zbuf = zbuf.view(batch, height, width)
    view, row, col = torch.nonzero(zbuf != _EMPTY_KEY).unbind(1)               # (P,) each: covered pixels
    pixel = (view * height + row) * width + col
    key = zbuf.view(-1).index_select(0, pixel)
    face = key & 0xFFFFFFFF
    planes = setup.planes[:, :3].flatten(1).index_select(0, view * num_faces + face)  # (P, 9)
    a, b = planes[:, 0:9:3], planes[:, 1:9:3]                                  # (P, 3) each
    e = a * xs.index_select(0, col)[:, None] + b * ys.index_select(0, row)[:, None] + planes[:, 2:9:3]
    total = e.sum(dim=1, keepdim=True)
    bary = e / total

    def scatter(values: torch.Tensor, fill: float) -> torch.Tensor:
        out = torch.full((zbuf.numel(), *values.shape[1:]), fill, dtype=values.dtype, device=zbuf.device)
        return out.index_copy_(0, pixel, values).view(*zbuf.shape, *values.shape[1:])

    bary_da = None
    if derivatives:
        # d bary / dq = (de/dq - bary * dS/dq) / S for q = column (dX = 2/W) and row (dY = -2/H)
        de = torch.stack([a * (2 / width), b * (-2 / height)], dim=-1)         # (P, 3, 2)
        bary_da = scatter((de - bary[..., None] * de.sum(dim=1, keepdim=True)) / total[..., None], 0.0)
    depth = (key >> 32).int().view(torch.float32)
    return Fragments(scatter(face, -1), scatter(bary, 0.0), scatter(depth, 0.0), bary_da)


@torch.no_grad()
def rasterize(clip: torch.Tensor, faces: torch.Tensor, size: int | tuple[int, int], *,
              derivatives: bool = False, max_candidates: int = MAX_CANDIDATES) -> Fragments:
    """Rasterize triangles `faces` (F, 3) with clip-space corners `clip` (B, V, 4) into (H, W) images.

    With `derivatives`, also the screen-space derivatives of the barycentrics (for mip-mapping).
    """
    height, width = _image_size(size)
    batch, num_faces, device = clip.shape[0], faces.shape[0], clip.device
    faces = faces.to(device=device, dtype=torch.int64)
    xs, ys = pixel_centers(width, "x", device), pixel_centers(height, "y", device)
    zbuf = torch.full((batch * height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)
    setup = _setup_faces(clip, faces, (height, width))
    heights = (setup.rows[:, 1] - setup.rows[:, 0] + 1) * (setup.cols[:, 1] >= setup.cols[:, 0])
    items = torch.nonzero(heights > 0).squeeze(1)                              # (K,) faces with pixels
    heights = heights.index_select(0, items)
    limit = max(max_candidates, width)
    for first, end, _ in _chunks(heights, limit // _ROWS_PER_CANDIDATE):      # groups of faces
        rows = _face_rows(setup, items[first:end], heights[first:end], xs, ys, num_faces)
        for lo, hi, candidates in _chunks(rows.count, limit):
            _depth_test_rows(_Rows(*(field[lo:hi] for field in rows)), candidates, xs, zbuf)
    return _resolve(zbuf, setup, batch, num_faces, xs, ys, derivatives)
