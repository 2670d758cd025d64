"""Self-contained HTML rendering: one file, images as base64 data URIs, inline CSS/JS.

The page structure is a small tree of frozen dataclasses (:class:`HtmlReport` →
:class:`Section` → :class:`Table` / :class:`Figure`) rendered by one jinja2 template
with autoescaping on, so model names, feature names or config text can never inject
markup. Nothing in the output refers to the network or to other files: the report can
be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from perpml.exceptions import ReportError

__all__ = [
    "Figure",
    "HtmlReport",
    "Section",
    "Table",
    "format_cell",
    "format_time",
    "format_value",
    "is_number",
    "kv_table",
    "png_data_uri",
    "render_html",
    "write_text_atomic",
]

_TEMPLATES = Path(__file__).parent / "templates"


def format_value(value: Any, digits: int = 4) -> str:
    """Format one table cell; the single formatting rule of every report table.

    Floats get ``digits`` decimals, integral counts (``n``) none, missing values an em
    dash. Tests compare report cells with ``format_value(metrics_json_value)``.
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}"
    try:  # numpy scalars
        return format_value(value.item(), digits)
    except AttributeError:
        return str(value)


@dataclass(frozen=True)
class Table:
    """A table of pre-formatted cells.

    Attributes
    ----------
    table_id : str
        HTML id (tests and in-page links find tables by it).
    columns : list of str
        Header cells.
    rows : list of list of str
        Body cells, already formatted with :func:`format_value`.
    footer : list of list of str
        Rows kept below the body when sorting (e.g. mean ± std).
    caption : str
        Text above the table.
    """

    table_id: str
    columns: list[str]
    rows: list[list[str]]
    footer: list[list[str]] = field(default_factory=list)
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """An embedded PNG: ``data_uri`` holds the whole image; ``wide`` spans the row."""

    title: str
    data_uri: str
    filename: str
    caption: str = ""
    wide: bool = False


@dataclass(frozen=True)
class Section:
    """One titled part of the report; ``notes`` are rendered as paragraphs.

    ``collapsed`` sections (long lists: features, versions, config) render inside a
    closed ``<details>`` element, so the first screen stays on the answer.
    """

    section_id: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    preformatted: str = ""
    collapsed: bool = False
    #: HTML built by perpml itself (escaped where it holds text), e.g. the backtest.
    trusted_html: str = ""


@dataclass(frozen=True)
class HtmlReport:
    """The whole page. ``headline_kind`` is ``"good"``, ``"bad"`` or ``"neutral"``."""

    title: str
    subtitle: str
    headline: str
    headline_kind: str
    sections: list[Section]
    footer: str = ""


def png_data_uri(path: Path) -> str:
    """Return ``data:image/png;base64,...`` for a PNG file."""
    try:
        payload = Path(path).read_bytes()
    except OSError as exc:
        raise ReportError(
            f"Cannot embed figure {path}: {exc}. Regenerate the plots first."
        ) from exc
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


def render_html(report: HtmlReport) -> str:
    """Render ``report`` with the bundled template (autoescape on)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html").render(report=report)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically; a failure raises :class:`ReportError`."""
    from perpml.rundir.io import write_text_atomic as _write

    try:
        return _write(path, text)
    except OSError as exc:
        raise ReportError(
            f"Could not write {path}: {exc}. Check that the directory is writable."
        ) from exc


def is_number(value: Any) -> bool:
    """True for an int/float that is not NaN (JSON numbers of metrics)."""
    return isinstance(value, (int, float)) and not (
        isinstance(value, float) and math.isnan(value)
    )


def format_time(value: Any) -> str:
    """Format an ISO timestamp as ``YYYY-MM-DD HH:MM UTC`` (em dash when missing)."""
    if value is None:
        return "—"
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, TypeError):
        return str(value)


def format_cell(value: Any, column: str = "") -> str:
    """:func:`format_value` plus counts (columns ``n*``) as ints, lists and dicts."""
    if column.startswith("n") and is_number(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return format_value(value)


def kv_table(table_id: str, pairs: Mapping[str, Any], caption: str = "") -> Table:
    """Two-column (item, value) table of a flat mapping."""
    rows = [[str(k), format_cell(v, str(k))] for k, v in pairs.items()]
    return Table(table_id, ["item", "value"], rows, caption=caption)
