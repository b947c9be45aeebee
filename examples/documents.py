"""Factories for real office documents (PDF, DOCX, XLSX, ODT, ODS, ZIP) returned as bytes."""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from xml.sax.saxutils import escape

__all__ = [
    "pdf_bytes",
    "scanned_pdf_bytes",
    "docx_bytes",
    "xlsx_bytes",
    "odt_bytes",
    "ods_bytes",
    "zip_bytes",
]

Sections = Sequence[tuple[str, str]]
Rows = Sequence[Sequence[object]]

# Fixed timestamp for archive members and document metadata: same input, same bytes.
_FIXED_DATE = (2026, 11, 2, 9, 0, 0)

# Namespaces declared in every ODF part we write (see _canonical_odf_namespaces).
_ODF_PREFIXES = frozenset(
    {"chart", "dc", "draw", "fo", "manifest", "meta", "number", "office", "presentation", "style", "svg",
     "table", "text", "xlink"}
)


def _iso(stamp: tuple[int, int, int, int, int, int]) -> str:
    """'2026-11-02T09:00:00' from a (year, month, day, hour, minute, second) tuple."""
    year, month, day, hour, minute, second = stamp
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _paragraphs(body: str) -> list[str]:
    """Split a section body on blank lines into non-empty paragraphs."""
    return [p.strip() for p in body.split("\n\n") if p.strip()]


def pdf_bytes(title: str, sections: Sections, *, extra_pages: int = 0, password: str | None = None) -> bytes:
    """A text PDF: title, bold headings (skipped when empty), paragraphs; filler pages; encryption."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story: list[object] = [Paragraph(escape(title), styles["Title"])]
    for heading, body in sections:
        if heading:
            story.append(Paragraph(f"<b>{escape(heading)}</b>", styles["Heading2"]))
        story.extend(Paragraph(escape(p), styles["BodyText"]) for p in _paragraphs(body))
        story.append(Spacer(1, 6))
    for n in range(1, extra_pages + 1):
        story.append(PageBreak())
        story.append(Paragraph(f"Annexe technique – page complémentaire {n}", styles["BodyText"]))
    buf = io.BytesIO()
    encrypt = None
    if password is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        encrypt = StandardEncryption(password, canPrint=1)
    doc = SimpleDocTemplate(
        buf, pagesize=A4, title=title, author="intake-bot examples", encrypt=encrypt, invariant=1
    )
    doc.build(story)
    return buf.getvalue()


def scanned_pdf_bytes(lines: Sequence[str] = ()) -> bytes:
    """A PDF holding one raster image and no text layer, like a scanned page: ``lines`` of printed text
    (what OCR should read back), or scribbles when none are given."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("L", (1240, 1754) if lines else (620, 877), color=255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for n, line in enumerate(lines):
        draw.text((100, 150 + 80 * n), line, fill=0, font=font)
    for y in range(120, 800, 24) if not lines else ():
        draw.line((60, y, 560 - (y * 7) % 180, y), fill=40, width=6)
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    width, height = A4
    pdf.drawImage(ImageReader(image), 0, 0, width=width, height=height)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def docx_bytes(title: str, sections: Sections, *, tables: Sequence[Rows] = ()) -> bytes:
    """A Word document: title (Heading 0), one Heading 1 per section with its paragraphs, then tables."""
    import datetime as dt

    from docx import Document

    document = Document()
    props = document.core_properties
    props.title, props.author = title, "intake-bot examples"
    props.created = props.modified = dt.datetime(*_FIXED_DATE)
    document.add_heading(title, level=0)
    for heading, body in sections:
        if heading:
            document.add_heading(heading, level=1)
        for paragraph in _paragraphs(body):
            document.add_paragraph(paragraph)
    for rows in tables:
        _docx_table(document, rows)
    buf = io.BytesIO()
    document.save(buf)
    return _normalise_zip(buf.getvalue())


def _docx_table(document: object, rows: Rows) -> None:
    """Append one grid table to a python-docx document."""
    if not rows:
        return
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table.cell(i, j).text = str(value)


def xlsx_bytes(sheets: Mapping[str, Rows]) -> bytes:
    """An Excel workbook with one worksheet per mapping entry (name → rows of cells)."""
    import datetime as dt

    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(title=name[:31])
        for row in rows:
            sheet.append(list(row))
    workbook.properties.creator = "intake-bot examples"
    workbook.properties.created = workbook.properties.modified = dt.datetime(*_FIXED_DATE)
    buf = io.BytesIO()
    workbook.save(buf)  # openpyxl stamps dcterms:modified with the current time here
    return _normalise_zip(buf.getvalue(), rewrite={"docProps/core.xml": _fixed_modified})


def odt_bytes(title: str, sections: Sections) -> bytes:
    """An OpenDocument text: title as a level-1 heading, sections as level-2 headings and paragraphs."""
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=title))
    for heading, body in sections:
        if heading:
            document.text.addElement(H(outlinelevel=2, text=heading))
        for paragraph in _paragraphs(body):
            document.text.addElement(P(text=paragraph))
    return _odf_save(document)


def ods_bytes(sheets: Mapping[str, Rows]) -> bytes:
    """An OpenDocument spreadsheet with one table per mapping entry; numbers are typed as floats."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    for name, rows in sheets.items():
        table = Table(name=name)
        for row in rows:
            table_row = TableRow()
            for value in row:
                table_row.addElement(_ods_cell(TableCell, P, value))
            table.addElement(table_row)
        document.spreadsheet.addElement(table)
    return _odf_save(document)


def _ods_cell(cell_cls: type, p_cls: type, value: object) -> object:
    """One ODS cell: float-typed for numbers, string-typed otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cell = cell_cls(valuetype="float", value=value)
    else:
        cell = cell_cls(valuetype="string")
    cell.addElement(p_cls(text="" if value is None else str(value)))
    return cell


def _odf_save(document: object) -> bytes:
    """Serialise an odfpy document with fixed metadata dates."""
    from odf.dc import Date
    from odf.meta import CreationDate

    stamp = _iso(_FIXED_DATE)
    meta = document.meta  # type: ignore[attr-defined]
    for element in list(meta.childNodes):
        if element.qname[1] in {"creation-date", "date", "generator"}:
            meta.removeChild(element)
    meta.addElement(CreationDate(text=stamp))
    meta.addElement(Date(text=stamp))
    buf = io.BytesIO()
    with _canonical_odf_namespaces():
        document.write(buf)  # type: ignore[attr-defined]
    return _normalise_zip(buf.getvalue())


@contextlib.contextmanager
def _canonical_odf_namespaces() -> Iterator[None]:
    """Declare a fixed, sorted namespace set while writing.

    odfpy keeps the declared namespaces in a class-level dict that grows with every document built in
    the process, so without this the XML depends on what was built before.
    """
    from odf.element import Element
    from odf.namespaces import nsdict

    known: dict[str, str] = Element.namespaces
    saved = dict(known)
    wanted = {uri: nsdict[uri] for uri in nsdict if nsdict[uri] in _ODF_PREFIXES} | saved
    known.clear()
    known.update(sorted(wanted.items(), key=lambda item: item[1]))
    try:
        yield
    finally:
        known.clear()
        known.update(saved)


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """A ZIP archive of the given members; names are stored as UTF-8 (general-purpose flag bit 11)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.flag_bits |= 0x800
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()


def _fixed_modified(xml: bytes) -> bytes:
    """Replace the dcterms:modified value of an OOXML core.xml with the fixed date."""
    stamp = f"{_iso(_FIXED_DATE)}Z".encode()
    return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", xml)


def _normalise_zip(data: bytes, rewrite: Mapping[str, Callable[[bytes], bytes]] | None = None) -> bytes:
    """Rewrite an OOXML/ODF package with fixed member timestamps (mimetype stays first and stored)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED if member.filename == "mimetype" else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            content = source.read(member.filename)
            fix = (rewrite or {}).get(member.filename)
            target.writestr(info, fix(content) if fix else content)
    return out.getvalue()
