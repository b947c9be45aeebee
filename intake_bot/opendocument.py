"""Text of OpenDocument files with odfpy: ODT headings, paragraphs and tables; ODS sheets and cells."""

from __future__ import annotations

import io

from .limits import Limits
from .model import Extraction
from .office import TextSink

MAX_REPEAT = 100  # a row or cell repeated a million times (an ODS habit for blank areas) counts this much at most
_SKIPPED = frozenset({"table-of-content", "alphabetical-index", "illustration-index", "bibliography",
                      "tracked-changes", "sequence-decls", "variable-decls", "user-field-decls"})
_CONTAINERS = frozenset({"section", "list", "list-item", "list-header", "frame", "text-box", "table-row-group",
                         "table-header-rows", "table-rows", "span", "a"})


def _local(node) -> str:  # type: ignore[no-untyped-def]
    qname = getattr(node, "qname", None)
    return qname[1] if qname else ""


def read_odt(data: bytes, limits: Limits) -> Extraction:
    from odf.opendocument import load

    document = load(io.BytesIO(data))
    sink = TextSink(limits)
    _walk(document.text, sink)
    return sink.result()


def _walk(element, sink: TextSink) -> None:  # type: ignore[no-untyped-def]
    from odf import teletype

    for node in element.childNodes:
        if sink.full:
            return
        name = _local(node)
        if name == "h":
            level = _int(node.getAttribute("outlinelevel"), 1)
            title = teletype.extractText(node).strip()
            if title:
                sink.heading(title, level, f"titre {level}")
        elif name == "p":
            sink.line(teletype.extractText(node).strip())
        elif name == "table":
            for line in _table_lines(node):
                sink.line(line)
        elif name in _CONTAINERS and name not in _SKIPPED:
            _walk(node, sink)


def read_ods(data: bytes, limits: Limits) -> Extraction:
    from odf.opendocument import load
    from odf.table import Table

    document = load(io.BytesIO(data))
    sink = TextSink(limits)
    for table in document.spreadsheet.getElementsByType(Table):
        name = str(table.getAttribute("name") or "")
        sink.heading(name, 1, f"feuille {name}")
        for line in _table_lines(table):
            if sink.full:
                break
            sink.line(line)
    return sink.result()


def _table_lines(table):  # type: ignore[no-untyped-def]
    from odf import teletype
    from odf.table import TableRow

    for row in table.getElementsByType(TableRow):
        cells: list[str] = []
        for cell in row.childNodes:
            if _local(cell) not in ("table-cell", "covered-table-cell"):
                continue
            text = teletype.extractText(cell).strip()
            repeat = _int(cell.getAttribute("numbercolumnsrepeated"), 1)
            cells.extend([text] * (min(repeat, MAX_REPEAT) if text else min(repeat, 1)))
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            line = "\t".join(cells)
            for _ in range(min(_int(row.getAttribute("numberrowsrepeated"), 1), MAX_REPEAT)):
                yield line


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default
