"""Parse report HTML: external references and tables (shared by the report tests)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_URL_IN_CSS = re.compile(r"url\(\s*['\"]?\s*(?!data:)([^)'\"]+)", re.IGNORECASE)
_HTTP = re.compile(r"https?://", re.IGNORECASE)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._in: str | None = None
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href", "srcset", "action", "data", "poster"):
            if values.get(name) is not None:
                self.refs.append((tag, name, str(values[name])))
        if values.get("style"):
            self.styles.append(str(values["style"]))
        if tag in ("style", "script"):
            self._in = tag
        if tag == "table":
            self._table = str(values.get("id", ""))
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._in = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def external_references(html: str) -> list[str]:
    """Every src/href that is neither a data: URI nor an in-page anchor, plus URLs."""
    page = parse(html)
    bad = [
        f"<{tag} {name}={value[:60]}>"
        for tag, name, value in page.refs
        if not (value.startswith("data:") or value.startswith("#"))
    ]
    for css in page.styles:
        bad += [f"css url({u})" for u in _URL_IN_CSS.findall(css)]
        bad += [f"css {m}" for m in _HTTP.findall(css)]
    for script in page.scripts:
        bad += [f"script {m}" for m in _HTTP.findall(script)]
        if "fetch(" in script or "XMLHttpRequest" in script or "import(" in script:
            bad.append("script makes a network request")
    return bad


def table(html: str, table_id: str) -> list[dict[str, str]]:
    """Rows of the table with ``id=table_id`` as {header: cell} dicts."""
    rows = parse(html).tables[table_id]
    header, body = rows[0], rows[1:]
    return [dict(zip(header, row, strict=True)) for row in body]
