"""extract(): real documents written by real libraries, read in-process and in the worker."""

from __future__ import annotations

import hashlib

import pytest

from examples.documents import (
    docx_bytes,
    ods_bytes,
    odt_bytes,
    pdf_bytes,
    scanned_pdf_bytes,
    xlsx_bytes,
    zip_bytes,
)
from intake_bot.extract import extract, sniff
from intake_bot.limits import Limits
from intake_bot.problem import CATALOG
from tests.messages import lzfu_literal, tnef_bytes

SECTIONS = [
    ("Stratégie", "Le projet modernise l'instruction des demandes.\n\nIl vise trois objectifs."),
    ("Finances", "Coût complet : 12 400 000 € TTC, dont 24 mois de MCO."),
    ("2. Gouvernance", "Un comité de pilotage mensuel présidé par le secrétaire général."),
]
LIMITS = Limits()


def codes(found) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in found.problems]


def test_pdf_text_pages_and_sections() -> None:
    found = extract("note.pdf", "application/pdf", pdf_bytes("Note de synthèse", SECTIONS, extra_pages=2), LIMITS,
                    inline=True)
    assert found.pages == 3 and not found.problems
    assert "12 400 000 €" in found.text and "Annexe technique" in found.text
    titles = {s.title: s for s in found.sections}
    assert {"Note de synthèse", "Stratégie", "Finances", "2. Gouvernance"} <= set(titles)
    assert titles["Finances"].location == "page 1" and "MCO" in titles["Finances"].text


def test_pdf_encrypted_is_reported_not_read() -> None:
    found = extract("secret.pdf", "application/pdf", pdf_bytes("Secret", SECTIONS, password="s3cret"), LIMITS,
                    inline=True)
    assert codes(found) == ["encrypted"] and found.text == ""
    assert found.problems[0].fr == "fichier chiffré (protégé par mot de passe) : impossible de le lire"


def test_pdf_scanned_is_reported() -> None:
    found = extract("scan.pdf", "application/pdf", scanned_pdf_bytes(), LIMITS, inline=True)
    assert codes(found) in (["scanned"], ["ocr"])
    assert "scanné, sans texte" in found.problems[0].fr


def test_docx_headings_levels_and_tables() -> None:
    data = docx_bytes("Note de synthèse", SECTIONS, tables=[[["Poste", "Montant"], ["Construction", "8 000 000"]]])
    found = extract("note.docx", "application/octet-stream", data, LIMITS, inline=True)
    assert not found.problems
    by_title = {s.title: s for s in found.sections}
    assert by_title["Note de synthèse"].level == 0
    assert by_title["Stratégie"].level == 1 and by_title["Stratégie"].location == "titre 1"
    assert "Construction\t8 000 000" in found.text
    assert "comité de pilotage" in by_title["2. Gouvernance"].text


def test_xlsx_sheets_are_sections() -> None:
    data = xlsx_bytes({"Budget": [["Poste", "Montant"], ["Construction", 8_000_000], ["MCO 24 mois", 4_400_000.0]],
                       "Planning": [["Jalon", "Date"], ["Cadrage", "2026-03-01"]]})
    found = extract("budget.xlsx", "", data, LIMITS, inline=True)
    sheets = {s.title: s for s in found.sections}
    assert sheets["Budget"].location == "feuille Budget"
    assert "MCO 24 mois\t4400000" in sheets["Budget"].text
    assert "Cadrage" in sheets["Planning"].text


def test_odt_and_ods() -> None:
    odt = extract("note.odt", "", odt_bytes("Note de synthèse", SECTIONS), LIMITS, inline=True)
    assert {("Stratégie", 2)} <= {(s.title, s.level) for s in odt.sections}
    assert "Coût complet" in odt.text
    ods = extract("budget.ods", "", ods_bytes({"Financement": [["Source", "Montant"], ["FTAP", 3_000_000]]}),
                  LIMITS, inline=True)
    assert [s.title for s in ods.sections] == ["Financement"] and "FTAP" in ods.text


def test_plain_csv_html_and_charsets() -> None:
    assert "Coût" in extract("note.txt", "text/plain", "Coût : 9 M€".encode("cp1252"), LIMITS).text
    assert "Coût" in extract("note.txt", "text/plain", "Coût : 9 M€".encode(), LIMITS).text
    assert "Poste;Montant" in extract("b.csv", "text/csv", b"Poste;Montant\nBuild;1\n", LIMITS).text
    html = extract("p.html", "text/html", b"<html><body><h1>Planning</h1><p>Jalon&nbsp;1</p></body></html>", LIMITS)
    assert html.text == "Planning\n\nJalon 1"


@pytest.mark.parametrize(("name", "data", "code"), [
    ("ancien.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "format-not-read"),
    ("ancien.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "format-not-read"),
    ("protege.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "encrypted"),
    ("lettre.rtf", b"{\\rtf1\\ansi Bonjour}", "format-not-read"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(100), "format-not-read"),
    ("vide.pdf", b"", "empty-file"),
    ("casse.pdf", b"%PDF-1.4\n garbage", "unreadable"),
    ("casse.docx", zip_bytes({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<not-xml"}), "unreadable"),
])
def test_unread_formats_are_stated(name: str, data: bytes, code: str) -> None:
    found = extract(name, "application/octet-stream", data, LIMITS, inline=True)
    assert codes(found) == [code]
    assert found.problems[0].fr and found.problems[0].en


def test_legacy_doc_says_format_non_lu() -> None:
    found = extract("ancien.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), LIMITS)
    assert found.problems[0].fr.startswith("format non lu (.doc)")


def test_zip_members_listed_with_paths_and_hashes() -> None:
    pdf = pdf_bytes("Annexe", SECTIONS)
    data = zip_bytes({"Annexes/annexe.pdf": pdf, "budget.xlsx": xlsx_bytes({"B": [["x", 1]]})})
    found = extract("dossier.zip", "application/zip", data, LIMITS, inline=True)
    assert found.container
    members = {m.path: m for m in found.members}
    assert set(members) == {"Annexes/annexe.pdf", "budget.xlsx"}
    assert members["Annexes/annexe.pdf"].sha256 == hashlib.sha256(pdf).hexdigest()
    assert members["Annexes/annexe.pdf"].filename == "annexe.pdf" and "Stratégie" in members["Annexes/annexe.pdf"].text


def test_zip_member_names_are_sanitised_and_cp850_decoded() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("../../etc/passwd", b"root:x:0:0")
        archive.writestr("C:\\Windows\\evil.txt", b"x")
        info = zipfile.ZipInfo("r\u00e9sum\u00e9.txt".encode("cp850").decode("cp437"))  # Windows Explorer, France
        archive.writestr(info, b"Synth\xe8se")
    found = extract("d.zip", "application/zip", buf.getvalue(), LIMITS, inline=True)
    paths = sorted(m.path for m in found.members)
    assert paths == ["C:/Windows/evil.txt", "etc/passwd", "résumé.txt"]
    assert all(".." not in p and not p.startswith("/") for p in paths)


def test_tnef_body_and_attachments() -> None:
    pdf = pdf_bytes("Budget", SECTIONS)
    found = extract("winmail.dat", "application/ms-tnef",
                    tnef_bytes("Bonjour, voici le dossier. Coût : 9 M€", [("budget détaillé.pdf", pdf)]), LIMITS,
                    inline=True)
    assert found.container and "9 M€" in found.text
    (member,) = found.members
    assert member.filename == "budget détaillé.pdf" and member.sha256 == hashlib.sha256(pdf).hexdigest()
    assert "Finances" in member.text


def test_tnef_short_names_in_ansi() -> None:
    found = extract("winmail.dat", "application/ms-tnef", tnef_bytes("x", [("Annexe é.txt", b"abc")],
                                                                     long_names=False), LIMITS, inline=True)
    assert [m.filename for m in found.members] == ["Annexe é.txt"]


def test_compressed_rtf_body() -> None:
    from intake_bot.rtf import decompress, rtf_body_text

    rtf = rb"{\rtf1\ansi\ansicpg1252 Bonjour,\par Voici la saisine : co\'fbt 12 M\u8364?.\par}"
    assert decompress(lzfu_literal(rtf)) == rtf
    assert rtf_body_text(lzfu_literal(rtf)) == "Bonjour,\nVoici la saisine : coût 12 M€."
    # a back-reference into the dictionary's preloaded text: "{\rtf1\ansi\mac" is its first 15 bytes
    stream = bytes([0b101, 0x00, 15 - 2]) + b"}" + ((207 + 16) << 4).to_bytes(2, "big")
    header = (len(stream) + 12).to_bytes(4, "little") + (16).to_bytes(4, "little") + b"LZFu" + bytes(4)
    assert decompress(header + stream) == rb"{\rtf1\ansi\mac}"


def test_sniff_prefers_content_over_names() -> None:
    assert sniff("annexe.txt", "text/plain", pdf_bytes("x", [])) == "pdf"
    assert sniff("note", "application/octet-stream", docx_bytes("x", [])) == "docx"
    assert sniff("winmail.dat", "", tnef_bytes("x", [])) == "tnef"


def test_worker_mode_gives_the_same_result() -> None:
    data = docx_bytes("Note de synthèse", SECTIONS)
    assert extract("n.docx", "", data, LIMITS) == extract("n.docx", "", data, LIMITS, inline=True)


def test_every_problem_code_has_both_languages() -> None:
    for code, (fr, en, severity) in CATALOG.items():
        assert fr and en and severity in ("error", "warning"), code
