"""One small HTML writer for the pages nst3d leaves beside its outputs.

Pages are self-contained: inline CSS (and inline scripts, where a page has any), images by relative path
into the output folder or as data URIs, nothing from elsewhere, readable at phone width. Text is always
escaped.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable
from pathlib import Path

from nst3d.io import atomic_output

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


def data_uri(data: bytes, mime: str) -> str:
    """A data: URI of some bytes (images inlined into a page, so it needs no other file)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(src: str | os.PathLike, alt: str, lazy: bool = True) -> str:
    """An <img> by relative path or data URI, with its alt text (lazy by default: galleries can hold
    hundreds; a page of a few images loads them all at once)."""
    src = src if isinstance(src, str) and src.startswith("data:") else Path(src).as_posix()
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


def table(rows: Iterable[tuple[object, object]]) -> str:
    """A two-column table of (name, value) rows."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


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
