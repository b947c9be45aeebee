"""Text of Office Open XML files: Word (python-docx: headings, paragraphs, tables) and Excel (openpyxl: sheets, cells)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable

from .limits import Limits
from .model import Extraction, Section
from .problem import problem

_HEADING_NAME = re.compile(r"^(?:heading|titre|überschrift|titolo|título)\s*(\d)$", re.I)
_TITLE_NAMES = frozenset({"title", "titre"})


class TextSink:
    """Collects text and sections up to the configured number of characters."""

    def __init__(self, limits: Limits) -> None:
        self.budget = limits.max_text_chars
        self.limit = limits.max_text_chars
        self.lines: list[str] = []
        self.sections: list[Section] = []
        self.current: list[str] | None = None
        self.pending: tuple[str, int, str] | None = None

    @property
    def full(self) -> bool:
        return self.budget <= 0

    def line(self, text: str) -> None:
        if text and not self.full:
            self.lines.append(text)
            self.budget -= len(text) + 1
            if self.current is not None:
                self.current.append(text)

    def heading(self, title: str, level: int, location: str) -> None:
        self._close()
        self.current = None
        self.line(title)
        self.pending, self.current = (title, level, location), []

    def _close(self) -> None:
        if self.pending is not None and self.current is not None:
            title, level, location = self.pending
            self.sections.append(Section(title, level, location, "\n".join(self.current)))
        self.pending = None

    def result(self, pages: int | None = None) -> Extraction:
        self._close()
        problems = (problem("text-truncated", limit=self.limit),) if self.full else ()
        return Extraction(text="\n".join(self.lines), sections=tuple(self.sections), pages=pages, problems=problems)


def read_docx(data: bytes, limits: Limits) -> Extraction:
    from docx import Document
    from docx.table import Table

    document = Document(io.BytesIO(data))
    levels = _heading_levels(document)
    sink = TextSink(limits)
    for block in document.iter_inner_content():
        if sink.full:
            break
        if isinstance(block, Table):
            for row in _table_rows(block):
                sink.line(row)
            continue
        text = block.text.strip()
        level = levels.get(block._p.style or "")  # noqa: SLF001 - the style id, without python-docx's slow lookup
        if level is not None and text:
            sink.heading(text, level, "titre du document" if level == 0 else f"titre {level}")
        else:
            sink.line(text)
    return sink.result()


def _heading_levels(document) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """style id -> heading level (0 for the document title), following `basedOn` for custom heading styles."""
    levels: dict[str, int] = {}
    for style in document.styles:
        chain, level = style, None
        for _ in range(5):
            if chain is None or level is not None:
                break
            level = _style_level(chain)
            chain = getattr(chain, "base_style", None)
        if level is not None:
            levels[style.style_id] = level
    return levels


def _style_level(style) -> int | None:  # type: ignore[no-untyped-def]
    name = (style.name or "").strip().lower()
    if name in _TITLE_NAMES:
        return 0
    match = _HEADING_NAME.match(name)
    if match:
        return int(match.group(1))
    outline = style.element.xpath("./w:pPr/w:outlineLvl/@w:val")
    return int(outline[0]) + 1 if outline and outline[0].isdigit() and int(outline[0]) < 9 else None


def _table_rows(table) -> Iterable[str]:  # type: ignore[no-untyped-def]
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:  # a merged cell comes back once per grid column it spans
            if id(cell._tc) not in seen:  # noqa: SLF001
                seen.add(id(cell._tc))  # noqa: SLF001
                cells.append(cell.text.strip())
        if any(cells):
            yield "\t".join(cells)


def read_xlsx(data: bytes, limits: Limits) -> Extraction:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sink = TextSink(limits)
    try:
        for sheet in workbook.worksheets:
            sink.heading(sheet.title, 1, f"feuille {sheet.title}")
            for row in sheet.iter_rows(values_only=True):
                if sink.full:
                    break
                sink.line(cells_line(row))
    finally:
        workbook.close()
    return sink.result()


def cells_line(row: Iterable[object]) -> str:
    """One row of a sheet as tab-separated text, trailing empty cells dropped."""
    cells = [cell_text(v) for v in row]
    while cells and not cells[-1]:
        cells.pop()
    return "\t".join(cells)


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()
