"""Text of Office Open XML files: Word (python-docx: headings, paragraphs, tables) and Excel (openpyxl: sheets, cells)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator

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
    document, styles = _word_parts(data)
    word, levels = _word(), _HeadingLevels(styles)
    sink = TextSink(limits)
    body = document.find(_W_BODY)
    for block in word.blocks(body) if body is not None else ():
        if sink.full:
            break
        if block.tag == word.table:
            for row in word.table_rows(block):
                sink.line(row)
            continue
        text = word.paragraph_text(block).strip()
        level = levels.of(word.style(block)) if text else None
        if level is not None:
            sink.heading(text, level, "titre du document" if level == 0 else f"titre {level}")
        else:
            sink.line(text)
    return sink.result()


_RELS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_W_BODY = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}body"


def _word_parts(data: bytes):  # type: ignore[no-untyped-def]
    """The main document and styles parts of a Word package, parsed by python-docx's own XML parser (its element
    classes, no entity resolution). Only these two are read: `docx.Document()` parses every XML part and loads
    every image of the package — 5 ms for an empty document, and the whole weight of a dossier's photos."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.parser import parse_xml

    with zipfile.ZipFile(io.BytesIO(data)) as package:
        main = _related(package, "", RT.OFFICE_DOCUMENT) or "word/document.xml"
        document = parse_xml(package.read(main))
        styles_part = _related(package, main, RT.STYLES)
        try:
            styles = parse_xml(package.read(styles_part)) if styles_part else None
        except KeyError:  # a relationship to a missing part: headings are then known by Word's style ids
            styles = None
    return document, styles


def _related(package: zipfile.ZipFile, source: str, reltype: str) -> str | None:
    """The member name of the part `source` (the package itself when "") points to with `reltype`, if any."""
    from docx.oxml.parser import parse_xml

    folder, _, name = source.rpartition("/")
    rels = f"{folder}/_rels/{name}.rels" if source else "_rels/.rels"
    try:
        root = parse_xml(package.read(rels.lstrip("/")))
    except KeyError:
        return None
    for rel in root.iter(_RELS_NS):
        if rel.get("Type") == reltype and rel.get("TargetMode") != "External" and rel.get("Target"):
            target = rel.get("Target")
            path = target if target.startswith("/") else f"{folder}/{target}"
            return posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
    return None


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
        style = self.styles.get_by_id(style_id) if self.styles is not None else None
        name = (style.name_val or "").strip().lower() if style is not None else style_id.lower()  # no styles part:
        if name in _TITLE_NAMES:  # Word's built-in ids ("Heading1", "Title") say it
            return 0
        match = _HEADING_NAME.match(name)
        if match:
            return int(match.group(1))
        if style is None:
            return None
        outline = style.xpath("./w:pPr/w:outlineLvl/@w:val")
        if outline and outline[0].isdigit() and int(outline[0]) < 9:
            return int(outline[0]) + 1
        return self.of(style.basedOn_val, hops + 1)


# Where runs may sit inside a paragraph: hyperlinks, tracked insertions and moves, smart tags, custom XML, simple
# fields, content controls, bidi wrappers. Runs in deletions (w:del, w:moveFrom) are left out, and so are text boxes
# (their paragraphs sit inside a run's drawing, twice: mc:Choice and mc:Fallback) and mc:AlternateContent runs.
_RUN_PARENTS = ("p", "hyperlink", "ins", "moveTo", "smartTag", "customXml", "fldSimple", "sdtContent", "dir", "bdo")
_RUN_MARKS = ("t", "tab", "br", "cr", "noBreakHyphen", "ptab")  # what python-docx's CT_R.text reads


class _WordPaths:
    """Compiled XPaths over python-docx's element tree: python-docx's own `Paragraph.text` and `_Cell.text` compile
    an XPath on every call, and skip the runs wrapped in insertions, smart tags or content controls."""

    def __init__(self) -> None:
        from docx.oxml.ns import nsmap, qn
        from lxml import etree  # type: ignore[import-untyped]

        def xpath(expression: str, **options: bool) -> etree.XPath:
            return etree.XPath(expression, namespaces=nsmap, **options)

        def any_of(axis: str, names: Iterable[str]) -> str:
            return " or ".join(f"{axis}::w:{name}" for name in names)

        # one pass: the text nodes of w:t, and the w:tab, w:br... elements themselves, in document order
        self._run_content = xpath(f".//w:r[{any_of('parent', _RUN_PARENTS)}]"
                                  "[not(ancestor::w:del or ancestor::w:moveFrom or ancestor::w:txbxContent)]"
                                  f"/*[{any_of('self', _RUN_MARKS)}]/descendant-or-self::node()[not(self::w:t)]",
                                  smart_strings=False)
        self.style = xpath("string(w:pPr/w:pStyle/@w:val)")
        self._rows = xpath("w:tr | w:sdt/w:sdtContent/w:tr | w:customXml/w:tr")
        self._cells = xpath("w:tc | w:sdt/w:sdtContent/w:tc | w:customXml/w:tc")
        self._continued = xpath("boolean(w:tcPr/w:vMerge[not(@w:val) or @w:val = 'continue'])")
        self.paragraph, self.table = qn("w:p"), qn("w:tbl")
        self._sdt, self._sdt_content, self._custom = qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")

    def blocks(self, parent):  # type: ignore[no-untyped-def]
        """Paragraphs and tables of a body or a cell in document order, content controls and custom XML opened."""
        for child in parent.iterchildren(self.paragraph, self.table, self._sdt, self._custom):
            if child.tag == self._sdt:
                content = child.find(self._sdt_content)
                if content is not None:
                    yield from self.blocks(content)
            elif child.tag == self._custom:
                yield from self.blocks(child)
            else:
                yield child

    def paragraph_text(self, p) -> str:  # type: ignore[no-untyped-def]
        """What python-docx's `Paragraph.text` gives (str(w:tab) is a tab...), plus the runs it does not reach."""
        return "".join(item if isinstance(item, str) else str(item) for item in self._run_content(p))

    def table_rows(self, tbl) -> Iterator[str]:  # type: ignore[no-untyped-def]
        """One tab-separated line per row; a merged cell once, a vertically merged cell empty below its first row."""
        for tr in self._rows(tbl):
            cells = ["" if self._continued(tc) else self._cell_text(tc) for tc in self._cells(tr)]
            if any(cells):
                yield "\t".join(cells)

    def _cell_text(self, tc) -> str:  # type: ignore[no-untyped-def]
        lines: list[str] = []
        for block in self.blocks(tc):
            if block.tag == self.table:
                lines.extend(self.table_rows(block))  # a nested table: its rows, one line each, within the cell
            else:
                lines.append(self.paragraph_text(block))
        return "\n".join(lines).strip()


@functools.cache
def _word() -> _WordPaths:
    return _WordPaths()


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
