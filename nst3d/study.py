"""Studies: the classic comparison tables (Gatys et al.) as one run each, with a labelled contact sheet.

A study is a list of *cells*, each one 2D job (content reconstruction, texture synthesis or style
transfer) whose options are the study's base options with one setting changed (`dataclasses.replace`):
the layers of a reconstruction or a texture, or the style weight and the init of a transfer. This module
builds and checks the cells before anything runs, runs them in order through a job function the caller
passes (`nst3d.image.reconstruct` / `synthesize_texture` / `transfer`: the optimization is theirs, and
this module stays below the pipelines), and writes into one folder each cell's image and record,
`sheet.png` (inputs first, one column per setting, one row per init) and `study.json`.

Cells share the loaded backbone (`features.load_backbone` is cached); each builds its own truncated
FeatureNet and targets, which costs one forward pass. Ctrl-C keeps the finished cells and a sheet of them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from nst3d import features as feats
from nst3d.errors import Nst3dError
from nst3d.io import atomic_output, check_output_dir, save_image, to_uint8
from nst3d.options import IMAGE_INITS, ImageOptions, check_choice, check_positive
from nst3d.records import write_record
from nst3d.style import parse_weighted_layers

if TYPE_CHECKING:
    from nst3d.image import StylizeResult

Job = Callable[..., "StylizeResult"]

# the classic tables; conv_N is the N-th convolution of the backbone (features.canonical_layer)
RECONSTRUCT_LAYERS = ("conv_2", "conv_4", "conv_8", "conv_2,conv_4,conv_8")
TEXTURE_LAYERS = ("conv_5", "conv_1..conv_5", "all")
STYLE_WEIGHTS = ("0.1", "1", "10")    # content kept, mixed, style only (content weight 1)
INITS = ("content", "noise")
SHEET, RECORD = "sheet.png", "study.json"
FONT_PX, LINE_PX = 15, 19              # labels: readable at 100% on any screen
SMALL_PX, SMALL_LINE_PX = 12, 15       # captions under the tiles (final losses, seconds)
MARGIN, GAP = 10, 8
MIN_COLUMN_PX, ROW_LABEL_PX = 128, 104  # columns narrower than this would wrap their labels too often
INK, FAINT, FRAME = (20, 20, 20), (85, 85, 85), (200, 200, 200)


@dataclass(frozen=True)
class Cell:
    """One job of a study: its file name, where it sits on the sheet, its options and what it varies."""

    name: str                          # file stem in the folder, e.g. "01_conv_2"
    column: str                        # the setting's label, e.g. "conv_2+conv_4"
    row: str | None                    # e.g. "from noise"; None: the study has one row
    options: ImageOptions
    settings: dict[str, Any]           # the fields this cell changes, e.g. {"content_layers": "conv_2"}


@dataclass
class Study:
    """The cells of one study and what they share: the kind, the base options and the input images."""

    kind: str                          # "layers" | "texture" | "weights"
    base: ImageOptions
    cells: list[Cell]
    images: dict[str, Any]             # the job's image keywords: content=(1, 3, H, W), styles=[...]
    sources: dict[str, Any]            # their paths, for the records


@dataclass
class CellResult:
    """A finished cell: its image, final losses and wall time."""

    cell: Cell
    image: torch.Tensor
    record: dict
    seconds: float
    stop: bool = False          # Ctrl-C came after its last step: it is whole, the study stops after it


@dataclass
class StudyResult:
    """What a study wrote: the finished cells (all, unless interrupted) and the files."""

    done: list[CellResult] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


# --- settings: checked before anything runs ---------------------------------------------------------

def backbone_arch(options: ImageOptions) -> str:
    """vgg16 or vgg19: the architecture that layer names refer to (the backbone load is cached)."""
    return feats.load_backbone(options.backbone, options.weights).arch


def expand_layers(spec: str, arch: str) -> str:
    """The study's shorthands in a comma-separated layer list: 'all' (every conv layer) and runs such as
    'conv_1..conv_5' (every layer of one kind from the first to the last); other items stay as given."""
    items: list[str] = []
    for item in (i.strip() for i in spec.split(",")):
        if item.lower() == "all":
            items += [n for n in feats.layer_names(arch) if n.startswith("conv")]
        elif ".." in item:
            items += _layer_run(item, arch)
        else:
            items.append(item)
    return ",".join(items)


def _layer_run(item: str, arch: str) -> list[str]:
    """'conv_1..conv_5' -> the canonical conv layers from conv_1 to conv_5, in network order."""
    names = feats.layer_names(arch)
    first, last = (names.index(feats.canonical_layer(n, arch)) for n in item.split("..", 1))
    kind = names[first].rstrip("0123456789_")
    if last < first or names[last].rstrip("0123456789_") != kind:
        raise Nst3dError(f"layer run {item!r} must go from a layer to a deeper one of the same kind")
    return [n for n in names[first:last + 1] if n.startswith(kind)]


def _check_given(flag: str, values: Sequence[str]) -> None:
    """A setting list needs at least one value (the CLI's defaults fill in when a flag is not given)."""
    if not values:
        raise Nst3dError(f"{flag}: give at least one value")


def _check_unique(flag: str, keyed: Iterable[tuple[str, Any]]) -> None:
    """One error for the first value whose key (what it means, not how it is written) came before."""
    seen: dict[Any, str] = {}
    for text, key in keyed:
        if key in seen:
            also = "" if seen[key] == text else f" (the same as {seen[key]!r})"
            raise Nst3dError(f"{flag} {text!r} is given twice{also}: each setting makes one cell")
        seen[key] = text


def layer_settings(values: Sequence[str], arch: str) -> list[tuple[str, str]]:
    """(label, expanded layer list) per --layers value: known layers, none empty, none repeated."""
    _check_given("--layers", values)
    parsed = []
    for value in values:
        try:
            spec = expand_layers(value, arch)
            key = tuple(sorted(parse_weighted_layers(spec, arch).items()))
        except Nst3dError as exc:
            raise Nst3dError(f"--layers {value!r}: {exc}") from None
        parsed.append((value, spec, key))
    _check_unique("--layers", ((value, key) for value, _, key in parsed))
    return [(_layer_label(value), spec) for value, spec, _ in parsed]


def _layer_label(value: str) -> str:
    """'conv_2,conv_4' -> 'conv_2+conv_4'; 'all' says what it is."""
    items = [i.strip() for i in value.split(",") if i.strip()]
    return "+".join("all conv layers" if i.lower() == "all" else i for i in items)


def style_weights(values: Sequence[str]) -> list[float]:
    """--style-weight values as numbers: finite, >= 0, none repeated."""
    _check_given("--style-weight", values)
    weights = []
    for text in values:
        try:
            weight = float(text)
        except ValueError:
            raise Nst3dError(f"--style-weight must be a number, got {text!r}") from None
        check_positive("--style-weight", weight, allow_zero=True)
        weights.append(weight)
    _check_unique("--style-weight", zip(values, weights, strict=True))
    return weights


def inits(values: Sequence[str]) -> list[str]:
    """--init values: known inits, none repeated."""
    _check_given("--init", values)
    for value in values:
        check_choice("--init", value, IMAGE_INITS)
    _check_unique("--init", ((v, v) for v in values))
    return list(values)


def _file_stem(index: int, label: str) -> str:
    """'01_conv_2+conv_4': numbered in run order, characters a file name can hold."""
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9_+.=-]', '-', label)}"


def layer_cells(base: ImageOptions, field_name: str, values: Sequence[str]) -> list[Cell]:
    """One cell per layer list, which replaces `field_name` (content_layers or style_layers) of `base`."""
    settings = layer_settings(values, backbone_arch(base))
    return [Cell(_file_stem(i, label), label, None, dataclasses.replace(base, **{field_name: spec}),
                 {field_name: spec}) for i, (label, spec) in enumerate(settings, start=1)]


def weight_cells(base: ImageOptions, weights: Sequence[str], starts: Sequence[str]) -> list[Cell]:
    """One cell per (init, style weight): a row per init, a column per weight, run row by row."""
    pairs = [(init, weight) for init in inits(starts) for weight in style_weights(weights)]
    return [Cell(_file_stem(i, f"style_weight_{w:g}_from_{init}"), f"style weight {w:g}", f"from {init}",
                 dataclasses.replace(base, style_weight=w, init=init), {"style_weight": w, "init": init})
            for i, (init, w) in enumerate(pairs, start=1)]


# --- the folder -------------------------------------------------------------------------------------

def prepare_folder(folder: str | Path, force: bool) -> Path:
    """Create the output folder; an existing one with files needs `force`. A study written there before
    stays whole until the new one has a finished cell, and is then replaced (see _remove_previous)."""
    folder = check_output_dir(folder, force)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove_previous(folder: Path, keep: Sequence[str]) -> None:
    """Delete the files of the study written in `folder` before (listed in its study.json) that the new
    one does not write, so that two studies' cells never mix."""
    try:
        previous = json.loads((folder / RECORD).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        previous = []
    for name in previous:
        plain = isinstance(name, str) and name == Path(name).name and name not in keep
        if plain and (folder / name).is_file():
            (folder / name).unlink()


# --- running ----------------------------------------------------------------------------------------

def run_study(study: Study, job: Job, folder: Path, progress: bool = True) -> StudyResult:
    """Run the cells in order with one progress bar over them, writing each cell's image and record as it
    finishes; then the sheet and study.json. Ctrl-C stops the study: the finished cells are kept."""
    outcome, started = StudyResult(), time.perf_counter()
    bar = tqdm(total=len(study.cells), desc=f"study {study.kind}", unit="cell", disable=not progress,
               dynamic_ncols=True)
    try:
        for cell in study.cells:
            bar.set_postfix_str(cell.column + (f", {cell.row}" if cell.row else ""))
            done = _run_cell(study, cell, job, folder)
            if done is None:
                outcome.interrupted = True
                break
            outcome.done.append(done)
            outcome.files += [f"{cell.name}.png", f"{cell.name}.json"]
            bar.update(1)
            if progress:
                tqdm.write(f"{cell.name}: {_losses_text(done.record['final_losses'])} ({done.seconds:.1f} s)")
            if done.stop:
                outcome.interrupted = True
                break
    except KeyboardInterrupt:
        outcome.interrupted = True
    except BaseException:
        if outcome.done:  # an error in a later cell: still a sheet and a record of the finished ones
            _write_summary(study, outcome, folder, time.perf_counter() - started)
        raise
    finally:
        bar.close()
    if outcome.done or not (folder / RECORD).exists():  # nothing finished: an earlier study stays whole
        _write_summary(study, outcome, folder, time.perf_counter() - started)
    return outcome


def _run_cell(study: Study, cell: Cell, job: Job, folder: Path) -> CellResult | None:
    """One job, its image and record written; None when Ctrl-C stopped it (nothing is written)."""
    begin = time.perf_counter()
    result = job(options=cell.options, progress=False, **study.images)
    if result.interrupted:
        return None
    seconds = time.perf_counter() - begin
    image = save_image(result.image, folder / f"{cell.name}.png")
    record = {"command": f"study {study.kind}", "cell": cell.settings, "inputs": study.sources,
              "outputs": [str(image), str(folder / f"{cell.name}.json")], **result.record}
    write_record(record, folder / f"{cell.name}.json")
    return CellResult(cell, result.image, result.record, seconds, result.stop_requested)


def _losses_text(losses: dict[str, float]) -> str:
    """'content 0.0123, style 0.0456': the totals, not the per-layer terms."""
    return ", ".join(f"{k} {losses[k]:.3g}" for k in ("content", "style", "tv") if k in losses)


# --- the sheet and study.json -----------------------------------------------------------------------

def sheet_tiles(study: Study, done: Sequence[CellResult]) -> list[Tile]:
    """The inputs (content, then each style) in the first row, then one tile per finished cell."""
    first_row = study.cells[0].row if study.cells else None
    styles = study.images.get("styles", [])
    sources = study.sources.get("styles", [])
    inputs = ([("content", study.images["content"], study.sources["content"])]
              if "content" in study.images else [])
    inputs += [("style" if len(styles) == 1 else f"style {i}", s, path)
               for i, (s, path) in enumerate(zip(styles, sources, strict=True), start=1)]
    tiles = [Tile(label, first_row, _pil(image), Path(path).name, "input") for label, image, path in inputs]
    captions = [f"{_losses_text(d.record['final_losses'])}, {d.seconds:.1f} s" for d in done]
    return tiles + [Tile(d.cell.column, d.cell.row, _pil(d.image), caption, d.cell.name)
                    for d, caption in zip(done, captions, strict=True)]


def _pil(image: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) in [0, 1] -> an RGB Pillow image."""
    return Image.fromarray(to_uint8(image))


def _title(study: Study, done: Sequence[CellResult]) -> str:
    """What the sheet shows and what every cell shares."""
    opts = study.base
    backbone = done[0].record["backbone"] if done else opts.backbone
    names = [Path(p).name for p in ([study.sources.get("content")] + study.sources.get("styles", [])) if p]
    fixed = f", content weight {opts.content_weight:g}" if study.kind == "weights" else ""
    what = {"layers": "content reconstruction from noise", "texture": "texture synthesis from noise",
            "weights": "style transfer"}[study.kind]
    steps = f"{opts.steps} steps" + (f" x {opts.scales} scales" if opts.scales > 1 else "")
    done_of = f"{len(done)} of {len(study.cells)}"
    stopped = "" if len(done) == len(study.cells) else f"; stopped after {done_of} cells"
    return (f"nst3d study {study.kind}: {what}; {', '.join(names)}; {backbone}, {opts.size} px, {steps}, "
            f"seed {opts.seed}{fixed}{stopped}")


def _write_summary(study: Study, outcome: StudyResult, folder: Path, seconds: float) -> None:
    """sheet.png of the finished cells and study.json: settings, final losses and seconds per cell."""
    outcome.seconds = seconds
    widths, heights = [d.image.shape[-1] for d in outcome.done], [d.image.shape[-2] for d in outcome.done]
    box = max(widths, default=study.base.size), max(heights, default=study.base.size)
    sheet, layout = draw_sheet(_title(study, outcome.done), sheet_tiles(study, outcome.done), box)
    with atomic_output(folder / SHEET) as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    outcome.files += [SHEET, RECORD]
    _remove_previous(folder, outcome.files)
    cells = [{"name": d.cell.name, "column": d.cell.column, "row": d.cell.row, "settings": d.cell.settings,
              "image": f"{d.cell.name}.png", "record": f"{d.cell.name}.json",
              "final_losses": d.record["final_losses"], "seconds": d.seconds,
              "diverged": d.record.get("diverged", False)} for d in outcome.done]
    write_record({"command": f"study {study.kind}", "inputs": study.sources,
                  "parameters": dataclasses.asdict(study.base),  # each cell changes the "varied" fields
                  "varied": sorted({k for c in study.cells for k in c.settings}),
                  "planned_cells": len(study.cells),
                  "interrupted": outcome.interrupted, "total_seconds": outcome.seconds, "cells": cells,
                  "sheet": {"file": SHEET, **layout}, "files": outcome.files}, folder / RECORD)


# --- drawing the sheet ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    """One picture on the sheet: its column and row labels, and a caption under it."""

    column: str
    row: str | None
    image: Image.Image
    caption: str = ""
    name: str = ""                     # the cell's file stem, or "input"


@dataclass(frozen=True)
class Grid:
    """Where the columns and rows of a sheet go: the image box, the column width, the first tile."""

    columns: list[str]
    rows: list[str | None]
    box: tuple[int, int]               # (width, height) every image is fitted into
    column_px: int
    row_px: int                        # image box plus its caption
    left: int
    top: int

    def origin(self, tile: Tile) -> tuple[int, int]:
        """Top-left corner of a tile's column and row."""
        return (self.left + self.columns.index(tile.column) * (self.column_px + GAP),
                self.top + self.rows.index(tile.row) * (self.row_px + GAP))


def _unique(values: Iterable[Any]) -> list[Any]:
    """The distinct values in first-seen order."""
    return list(dict.fromkeys(values))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own scalable font (no font files needed)."""
    return ImageFont.load_default(size=size)


def wrap(text: str, font: Any, width: int, breaks: str = "+, ") -> list[str]:
    """Greedy line breaks after any of the characters `breaks`, so that each line fits `width` pixels
    (a single word wider than that keeps its own line)."""
    chars = re.escape(breaks)
    lines = [""]
    for token in re.findall(rf"[^{chars}]+[{chars}]*|[{chars}]+", text):
        if lines[-1] and font.getlength((lines[-1] + token).rstrip()) > width:
            lines.append("")
        lines[-1] += token
    return [line.rstrip() for line in lines if line.strip()]


def _draw_text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], lines: list[str], font: Any, line_px: int,
               width: int | None = None, fill: tuple[int, int, int] = INK) -> dict:
    """Lines from `xy` down (centered in `width` if given); returns the text and its bounding box."""
    x0, y0 = xy
    boxes = []
    for i, line in enumerate(lines):
        x = x0 + (round((width - font.getlength(line)) / 2) if width else 0)
        draw.text((x, y0 + i * line_px), line, font=font, fill=fill)
        boxes.append(draw.textbbox((x, y0 + i * line_px), line, font=font))
    box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
           max(b[3] for b in boxes)] if boxes else [x0, y0, x0, y0]
    return {"text": " ".join(lines), "box": box}


def _fit(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """The image scaled (aspect kept) to fit `box`; unchanged if it already has the box's size."""
    scale = min(box[0] / image.width, box[1] / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.LANCZOS)


def draw_sheet(title: str, tiles: Sequence[Tile], box: tuple[int, int]) -> tuple[Image.Image, dict]:
    """The contact sheet: a title, column labels on top, row labels on the left (when there are rows),
    each tile fitted into `box` with its caption under it. Returns the image and its layout (every
    label's text and box, every tile's box) for study.json."""
    font, small = _font(FONT_PX), _font(SMALL_PX)
    columns, rows = _unique(t.column for t in tiles), _unique(t.row for t in tiles)
    column_px = max(box[0], MIN_COLUMN_PX)
    left = MARGIN + (ROW_LABEL_PX + GAP if any(rows) else 0)
    width = left + len(columns) * (column_px + GAP) - GAP + MARGIN
    title_lines = wrap(title, font, width - 2 * MARGIN)
    headers = [wrap(c, font, column_px) for c in columns]
    captions = [wrap(t.caption, small, column_px, breaks=",") for t in tiles]  # keep "style 0.012" whole
    header_top = MARGIN + len(title_lines) * LINE_PX + GAP
    top = header_top + max(map(len, headers), default=0) * LINE_PX + 4
    row_px = box[1] + 4 + max(map(len, captions), default=0) * SMALL_LINE_PX
    grid = Grid(columns, rows, box, column_px, row_px, left, top)
    sheet = Image.new("RGB", (width, top + len(rows) * (row_px + GAP) - GAP + MARGIN), "white")
    draw = ImageDraw.Draw(sheet)
    labels = [{"kind": "title", **_draw_text(draw, (MARGIN, MARGIN), title_lines, font, LINE_PX)}]
    labels += [{"kind": "column", **_draw_text(draw, (left + i * (column_px + GAP), header_top), lines, font,
                                               LINE_PX, column_px)} for i, lines in enumerate(headers)]
    labels += [{"kind": "row", **_draw_text(draw, (MARGIN, top + j * (row_px + GAP) + box[1] // 2 - LINE_PX),
                                            wrap(row, font, ROW_LABEL_PX), font, LINE_PX)}
               for j, row in enumerate(rows) if row]
    placed = []
    for tile, lines in zip(tiles, captions, strict=True):
        placed.append(_paste(sheet, draw, grid, tile))
        if lines:
            ox, oy = grid.origin(tile)
            labels.append({"kind": "caption", **_draw_text(draw, (ox, oy + box[1] + 4), lines, small,
                                                           SMALL_LINE_PX, column_px, FAINT)})
    return sheet, {"size": list(sheet.size), "columns": columns, "rows": rows, "labels": labels,
                   "tiles": placed}


def _paste(sheet: Image.Image, draw: ImageDraw.ImageDraw, grid: Grid, tile: Tile) -> dict:
    """One tile, centered in its box with a thin frame; returns where it went."""
    image = _fit(tile.image.convert("RGB"), grid.box)
    ox, oy = grid.origin(tile)
    x, y = ox + (grid.column_px - image.width) // 2, oy + (grid.box[1] - image.height) // 2
    draw.rectangle([x - 1, y - 1, x + image.width, y + image.height], outline=FRAME)
    sheet.paste(image, (x, y))
    return {"column": tile.column, "row": tile.row, "name": tile.name,
            "box": [x, y, x + image.width, y + image.height]}
