"""The HTML of the reports (a run's and a what-if study's): one stylesheet, escaping, numbers,
tables and figures, in self-contained pages.

A page has no script and loads nothing: its style is inline, its figures are inline SVG or PNG
images embedded as base64 ``data:`` URLs, so a report opens offline, from a mail attachment or a
copied folder, as it was written.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1em}
th,td{padding:3px 8px;border-bottom:1px solid #ddd}th{text-align:left;background:#f7f7f7}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.first td{border-top:2px solid #999}
.better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}
img,figure svg{max-width:100%;height:auto}img{margin:1em 0}
figure{margin:1em 0 2em}figcaption{font-size:13px;color:#555;margin-top:0.3em}
code,pre{background:#f5f5f5;padding:2px 4px}.note{color:#555;font-size:13px}
nav a{margin-right:1em}"""


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``; empty for a missing or non-finite number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return format(value, spec)


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document: ``title`` as its title and first heading, then ``body``."""
    head = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
    )
    return "\n".join([head, *body, "</body></html>\n"])


def meta_list(meta: Mapping[str, Any]) -> str:
    """``key: value`` lines as a list."""
    items = "".join(f"<li><b>{escape(str(k))}</b>: {escape(str(v))}</li>" for k, v in meta.items())
    return f"<ul>{items}</ul>"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool]) -> str:
    """A table; cells are escaped text, ``numeric`` columns aligned right."""
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in header), "</tr>"]
    for row in rows:
        out.append("<tr>")
        out += [
            f"<td class='n'>{escape(str(cell))}</td>" if num else f"<td>{escape(str(cell))}</td>"
            for cell, num in zip(row, numeric, strict=True)
        ]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def png_image(path: Path, alt: str) -> str:
    """The PNG file at ``path`` as an ``<img>`` with its bytes embedded."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def figure(content: str, caption: str) -> str:
    """A figure (inline ``<svg>`` or ``<img>``) with its caption."""
    return f"<figure>{content}<figcaption>{escape(caption)}</figcaption></figure>"
