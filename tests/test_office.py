"""read_docx on real python-docx files, with the constructs Word writes that python-docx cannot (raw XML edits)."""

from __future__ import annotations

import io
import zipfile

from intake_bot.limits import Limits
from intake_bot.model import Extraction
from intake_bot.office import read_docx

LIMITS = Limits()


def docx(build=None, xml: str = "") -> bytes:  # type: ignore[no-untyped-def]
    """A document saved by python-docx after `build(document)`, then `xml` (body-level WordprocessingML using the
    `w:` prefix of the package) spliced in before the body's section properties, as Word would have written it."""
    from docx import Document

    document = Document()
    if build is not None:
        build(document)
    buf = io.BytesIO()
    document.save(buf)
    if not xml:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename == "word/document.xml":
                head, sep, tail = content.rpartition(b"<w:sectPr")
                assert sep, "python-docx's template ends its body with w:sectPr"
                content = head + xml.encode() + sep + tail
            target.writestr(member, content)
    return out.getvalue()


def lines(found: Extraction) -> list[str]:
    return found.text.split("\n")


def p(*runs: str, style: str = "") -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{ppr}{''.join(runs)}</w:p>"


def r(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def test_headings_paragraphs_tabs_and_breaks_written_by_python_docx() -> None:
    from docx.enum.text import WD_BREAK

    def build(document) -> None:  # type: ignore[no-untyped-def]
        document.add_heading("Note de synthèse", level=0)
        document.add_heading("Coûts", level=2)
        run = document.add_paragraph("Poste\tMontant").add_run(" total")
        run.add_break()
        run.add_text("ligne 2")
        run.add_break(WD_BREAK.PAGE)  # a page break is no text
        run.add_text("suite")
        document.add_paragraph("   ")

    found = read_docx(docx(build), LIMITS)
    assert found.text == "Note de synthèse\nCoûts\nPoste\tMontant total\nligne 2suite"
    assert [(s.title, s.level, s.location) for s in found.sections] == [
        ("Note de synthèse", 0, "titre du document"), ("Coûts", 2, "titre 2")]
    assert found.sections[1].text == "Poste\tMontant total\nligne 2suite"


def test_runs_python_docx_skips_are_read_deleted_text_is_not() -> None:
    xml = p(
        r("Voir "),
        '<w:hyperlink r:id="rIdX"><w:r><w:t>le site</w:t></w:r></w:hyperlink>',
        r(", coût "),
        '<w:ins w:id="1" w:author="A" w:date="2026-01-01T00:00:00Z">' + r("12 M€") + "</w:ins>",
        '<w:del w:id="2" w:author="A" w:date="2026-01-01T00:00:00Z">'
        '<w:r><w:delText>9 M€</w:delText></w:r><w:r><w:tab/></w:r></w:del>',
        '<w:smartTag w:uri="urn:x" w:element="place">' + r(" à Paris") + "</w:smartTag>",
        '<w:fldSimple w:instr=" DATE "><w:r><w:t>, le 2 mars</w:t></w:r></w:fldSimple>',
        '<w:sdt><w:sdtPr><w:alias w:val="Nom"/></w:sdtPr><w:sdtContent>' + r(", par M. Dupont")
        + "</w:sdtContent></w:sdt>",
        '<w:r><w:t>, n</w:t><w:noBreakHyphen/><w:t>1</w:t><w:cr/><w:t>fin</w:t><w:ptab w:relativeTo="margin" '
        'w:alignment="right" w:leader="none"/><w:t>.</w:t></w:r>',
    )
    text = read_docx(docx(xml=xml), LIMITS).text
    assert text == "Voir le site, coût 12 M€ à Paris, le 2 mars, par M. Dupont, n-1\nfin\t."


def test_nested_wrappers_and_moves() -> None:
    xml = p(
        '<w:ins w:id="1" w:author="A"><w:hyperlink w:anchor="x">' + r("lien inséré") + "</w:hyperlink></w:ins>",
        '<w:moveFrom w:id="2" w:author="A">' + r(" déplacé d'ici") + "</w:moveFrom>",
        '<w:moveTo w:id="3" w:author="A">' + r(" déplacé là") + "</w:moveTo>",
        '<w:del w:id="4" w:author="A"><w:ins w:id="5" w:author="B">' + r(" effacé") + "</w:ins></w:del>",
    )
    assert read_docx(docx(xml=xml), LIMITS).text == "lien inséré déplacé là"


def test_text_boxes_and_alternate_content_are_not_doubled() -> None:
    box = ('<w:txbxContent><w:p><w:r><w:t>dans la boîte</w:t></w:r></w:p></w:txbxContent>')
    xml = p(
        r("Avant"),
        '<w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
        f'<mc:Choice Requires="wps"><w:drawing>{box}</w:drawing></mc:Choice>'
        f"<mc:Fallback><w:pict>{box}</w:pict></mc:Fallback></mc:AlternateContent></w:r>",
        r(" après"),
    )
    assert read_docx(docx(xml=xml), LIMITS).text == "Avant après"


def test_body_content_controls_are_read_with_their_headings() -> None:
    xml = ('<w:sdt><w:sdtPr><w:alias w:val="Objet"/></w:sdtPr><w:sdtContent>'
           + p(r("Objet de la saisine"), style="Heading1") + p(r("Avis conforme demandé."))
           + '<w:sdt><w:sdtContent>' + p(r("Imbriqué.")) + "</w:sdtContent></w:sdt>"
           + "</w:sdtContent></w:sdt>" + p(r("Après le contrôle.")))
    found = read_docx(docx(lambda d: d.add_paragraph("Avant."), xml), LIMITS)
    assert lines(found) == ["Avant.", "Objet de la saisine", "Avis conforme demandé.", "Imbriqué.", "Après le contrôle."]
    (section,) = found.sections
    assert (section.title, section.level) == ("Objet de la saisine", 1)
    assert section.text == "Avis conforme demandé.\nImbriqué.\nAprès le contrôle."


def test_merged_cells_once_per_row_vertical_continuations_empty() -> None:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        table = document.add_table(rows=3, cols=3)
        for i, row in enumerate(table.rows):
            for j, cell in enumerate(row.cells):
                cell.text = f"c{i}{j}"
        table.cell(0, 0).merge(table.cell(0, 1)).text = "Titre fusionné"  # gridSpan
        table.cell(1, 2).merge(table.cell(2, 2)).text = "Haut"  # vMerge restart, then continue

    assert lines(read_docx(docx(build), LIMITS)) == ["Titre fusionné\tc02", "c10\tc11\tHaut", "c20\tc21\t"]


def test_cells_keep_their_paragraphs_and_nested_tables() -> None:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text = "Poste"
        table.cell(0, 1).text = "Détail"
        table.cell(1, 0).text = "Construction"
        cell = table.cell(1, 1)
        cell.text = "Deux lots :"
        cell.add_paragraph("voir ci-dessous")
        inner = cell.add_table(rows=2, cols=2)
        for i, (a, b) in enumerate([("Lot 1", "5 M€"), ("Lot 2", "3 M€")]):
            inner.cell(i, 0).text, inner.cell(i, 1).text = a, b
        document.add_table(rows=2, cols=2)  # an empty table gives no line

    text = read_docx(docx(build), LIMITS).text
    assert text == "Poste\tDétail\nConstruction\tDeux lots :\nvoir ci-dessous\nLot 1\t5 M€\nLot 2\t3 M€"


def test_rows_and_cells_inside_content_controls() -> None:
    def tc(text: str) -> str:
        return f"<w:tc><w:tcPr><w:tcW w:w='2000' w:type='dxa'/></w:tcPr>{p(r(text))}</w:tc>"

    xml = ("<w:tbl><w:tblPr><w:tblW w:w='0' w:type='auto'/></w:tblPr>"
           "<w:tblGrid><w:gridCol w:w='2000'/><w:gridCol w:w='2000'/></w:tblGrid>"
           f"<w:tr>{tc('Jalon')}{tc('Date')}</w:tr>"
           f"<w:sdt><w:sdtContent><w:tr>{tc('Cadrage')}"
           f"<w:sdt><w:sdtContent>{tc('mars 2026')}</w:sdtContent></w:sdt></w:tr></w:sdtContent></w:sdt>"
           "</w:tbl>")
    assert lines(read_docx(docx(xml=xml), LIMITS)) == ["Jalon\tDate", "Cadrage\tmars 2026"]


def test_the_text_limit_still_applies() -> None:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        for n in range(50):
            document.add_paragraph(f"Paragraphe {n:02d} " + "x" * 80)

    found = read_docx(docx(build), Limits(max_text_chars=500))
    assert [p.code for p in found.problems] == ["text-truncated"]
    assert 500 <= len(found.text) < 500 + 100 and found.text.startswith("Paragraphe 00")


def _repackaged(data: bytes, rename: dict[str, str | None], edit: dict[str, tuple[bytes, bytes]]) -> bytes:
    """The package with members renamed (None: dropped) and byte replacements made in some members."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member.filename)
            for old, new in [edit[member.filename]] if member.filename in edit else []:
                assert old in content, (member.filename, old)
                content = content.replace(old, new)
            name = rename.get(member.filename, member.filename)
            if name is not None:
                target.writestr(name, content)
    return out.getvalue()


def _headed() -> bytes:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        document.add_heading("Architecture", level=1)
        document.add_paragraph("Hébergement mutualisé.")

    return docx(build)


def test_the_main_part_is_found_through_the_package_relationships() -> None:
    """Word names the main part as it likes (document2.xml after some edits; absolute targets from other tools)."""
    moved = _repackaged(_headed(), {"word/document.xml": "word/document2.xml",
                                    "word/_rels/document.xml.rels": "word/_rels/document2.xml.rels"},
                        {"_rels/.rels": (b'Target="word/document.xml"', b'Target="/word/document2.xml"'),
                         "[Content_Types].xml": (b"/word/document.xml", b"/word/document2.xml")})
    found = read_docx(moved, LIMITS)
    assert found.text == "Architecture\nHébergement mutualisé."
    assert [(s.title, s.level) for s in found.sections] == [("Architecture", 1)]


def test_a_package_without_styles_still_knows_word_s_heading_ids() -> None:
    bare = _repackaged(_headed(), {"word/styles.xml": None}, {})
    found = read_docx(bare, LIMITS)
    assert found.text == "Architecture\nHébergement mutualisé."
    assert [(s.title, s.level) for s in found.sections] == [("Architecture", 1)]
