"""One small HTML writer for the pages nst3d leaves beside its outputs.

Pages are self-contained: inline CSS (and inline scripts, where a page has any), images by relative path
into the output folder or as data URIs, nothing from elsewhere, readable at phone width. Text is always
escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from nst3d.io import atomic_output, rgb_image, upright_image

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1rem auto; max-width: 1100px; padding: 0 1rem;
       color: #222; background: #fafafa; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: .2rem 0; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .6rem; }
.card img { width: 100%; height: auto; background: #eee; }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(80px, 1fr)); gap: .4rem; }
figure { margin: 0; } figcaption { color: #666; font-size: .8rem; }
.failed { border-color: #c33; } .muted { color: #666; font-size: .9rem; }
table { border-collapse: collapse; } td, th { padding: .15rem .5rem; text-align: left; }
"""


def escape(text: object) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(text), quote=True)


def base64_text(data: bytes) -> str:
    """Bytes as base64 text (for data URIs, and binary data a page's script decodes)."""
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes, mime: str) -> str:
    """A data: URI of some bytes (images inlined into a page, so it needs no other file)."""
    return f"data:{mime};base64,{base64_text(data)}"


def thumbnail_jpeg(source: str | os.PathLike, side: int) -> bytes | None:
    """A JPEG (quality 85) of an image file, upright, at most `side` pixels a side; None if unreadable.

    Pages show inputs this way, so they neither depend on where the inputs are nor carry their full size.
    """
    try:
        with Image.open(source) as img:
            img = rgb_image(upright_image(img))  # as load_image sees it (16-bit, float by their range)
            img.thumbnail((side, side))
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=85)
    except Exception:  # a picture a page cannot show is left out, never fatal to a run
        return None
    return out.getvalue()


def image(src: str | os.PathLike, alt: str, lazy: bool = True) -> str:
    """An <img> by relative path or data URI, with its alt text (lazy by default: galleries can hold
    hundreds; a page of a few images loads them all at once)."""
    src = src if isinstance(src, str) and src.startswith("data:") else quote(Path(src).as_posix())
    loading = ' loading="lazy"' if lazy else ""
    return f'<img src="{escape(src)}" alt="{escape(alt)}"{loading}>'


def figure(src: str | os.PathLike, caption: str, alt: str, lazy: bool = True) -> str:
    """An image with a caption under it."""
    return f"<figure>{image(src, alt, lazy)}<figcaption>{escape(caption)}</figcaption></figure>"


def script_json(element_id: str, value: object) -> str:
    """Data for a page's script, as <script type="application/json"> (no "</" inside, so it cannot end
    the element early)."""
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def script(code: str) -> str:
    """An inline <script> (the code must not contain "</script")."""
    if "</script" in code.lower():
        raise ValueError("inline script code contains </script")
    return f"<script>{code}</script>"


def _cells(values: Iterable[object]) -> str:
    """Table data cells of some values, escaped."""
    return "".join(f"<td>{escape(v)}</td>" for v in values)


def table(rows: Iterable[tuple[object, ...]], header: Sequence[str] = ()) -> str:
    """A table of (name, value, ...) rows, the name as the row's header cell; `header` names the columns."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(f'<tr><th scope="row">{escape(name)}</th>{_cells(values)}</tr>' for name, *values in rows)
    return f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>"


def page(title: str, body: str, style: str = "") -> str:
    """A complete HTML document around `body` (already HTML); `style` is CSS added after the shared."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head>"
            f"<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def write_page(path: str | os.PathLike, title: str, body: str, style: str = "") -> Path:
    """Write a page atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(page(title, body, style), encoding="utf-8")
    return Path(path)
