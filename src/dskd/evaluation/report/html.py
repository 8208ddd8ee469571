"""Small HTML building blocks for offline reports: escaped text, tables, figures, one page.

No JavaScript and nothing fetched from the network: the style sheet is inline and every picture
is a relative link to a PNG in the report's folder, so the folder can be zipped and opened
anywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from dskd.metrics.suite import METRICS
from dskd.plots import FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE

__all__ = ["escape", "decimals", "fmt", "table", "figure", "link", "legend", "page", "write_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.9em; max-width: 60em; }
.figures img { max-width: 100%; margin: 0.3em; border: 1px solid #eee; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 8px; }
.gallery figure { margin: 0; font-size: 0.8em; }
.gallery img { width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 0.3em; }
"""


def escape(value: object) -> str:
    return html.escape(str(value))


def decimals(metric: str | None) -> int:
    """Decimals worth showing: 2 for pixel distances and component counts, 4 for ratios."""
    counts = ("betti_0_error", "betti_1_error", "component_ratio")
    return 2 if metric in counts or (metric in METRICS and METRICS[metric].group == "distance") else 4


def fmt(value: object, metric: str | None = None) -> str:
    """A number as report text: distances with 2 decimals, counts as integers, ratios with 4;
    None or NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{decimals(metric)}f}"
    return escape(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table; cells are inserted as given (escape or fmt them first)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _url(path: str) -> str:
    """A relative file path as a URL: spaces, '#' and '%' in image names must not break links."""
    return escape(quote(path))


def link(href: str, text: str) -> str:
    return f'<a href="{_url(href)}">{escape(text)}</a>'


def figure(src: str, alt: str) -> str:
    return f'<a href="{_url(src)}"><img src="{_url(src)}" alt="{escape(alt)}" loading="lazy"></a>'


def legend() -> str:
    def swatch(rgb: tuple[int, int, int]) -> str:
        return f'<span class="swatch" style="background: rgb{rgb}"></span>'
    return (f'<p class="note">{swatch(TRUE_POSITIVE)}true positive {swatch(FALSE_POSITIVE)}false '
            f'positive {swatch(FALSE_NEGATIVE)}false negative (missed vessel)</p>')


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f"</title><style>{_STYLE}</style></head>\n<body><h1>{escape(title)}</h1>\n{body}\n"
            "</body></html>\n")


def write_page(path: str | Path, title: str, body: str) -> Path:
    path = Path(path)
    path.write_text(page(title, body), encoding="utf-8")
    return path
