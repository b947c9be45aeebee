"""Text of Office Open XML files: Word (python-docx: headings, paragraphs, tables) and Excel (openpyxl: sheets, cells)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable

from .limits import Limits
from .model import Extraction, Section
from .problem import problem

_HEADING_NAME = re.compile(r"^(?:heading|titre|überschrift|titolo|título)\s*(\d)$", re.IGNORECASE)
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
    levels = _HeadingLevels(document.styles.element)
    sink = TextSink(limits)
    for block in document.iter_inner_content():
        if sink.full:
            break
        if isinstance(block, Table):
            for row in _table_rows(block):
                sink.line(row)
            continue
        text = block.text.strip()
        level = levels.of(block._p.style) if text else None  # the style id, without python-docx's slow lookup
        if level is not None:
            sink.heading(text, level, "titre du document" if level == 0 else f"titre {level}")
        else:
            sink.line(text)
    return sink.result()


class _HeadingLevels:
    """style id -> heading level (0 for the document title, None for body text), computed once per style used.

    Word stores built-in names in English ("heading 2") whatever the UI language; custom heading styles
    are recognised by their outline level or by the style they are based on.
    """

    def __init__(self, styles) -> None:  # type: ignore[no-untyped-def]
        self.styles, self.known = styles, {}  # type: ignore[var-annotated]

    def of(self, style_id: str | None, hops: int = 0) -> int | None:
        if not style_id or hops > 5:
            return None
        if style_id not in self.known:
            self.known[style_id] = self._compute(style_id, hops)
        return self.known[style_id]  # type: ignore[no-any-return]

    def _compute(self, style_id: str, hops: int) -> int | None:
        style = self.styles.get_by_id(style_id)
        if style is None:
            return None
        name = (style.name_val or "").strip().lower()
        if name in _TITLE_NAMES:
            return 0
        match = _HEADING_NAME.match(name)
        if match:
            return int(match.group(1))
        outline = style.xpath("./w:pPr/w:outlineLvl/@w:val")
        if outline and outline[0].isdigit() and int(outline[0]) < 9:
            return int(outline[0]) + 1
        return self.of(style.basedOn_val, hops + 1)


def _table_rows(table) -> Iterable[str]:  # type: ignore[no-untyped-def]
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:  # a merged cell comes back once per grid column it spans
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
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
