"""parse_message(): envelope, headers, bodies, pieces, containers and signatures."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.documents import docx_bytes, pdf_bytes, xlsx_bytes, zip_bytes
from intake_bot.limits import Limits
from intake_bot.model import ParsedMessage
from intake_bot.parsing import parse_message
from tests import messages as m

SECTIONS = [("Stratégie", "Objectifs du projet."), ("Finances", "Coût complet : 12 M€ TTC.")]
PDF = pdf_bytes("Note de synthèse", SECTIONS)
DOCX = docx_bytes("Courrier de saisine", [("Objet", "Saisine pour avis conforme.")])


def parse(raw: bytes, **limits: int) -> ParsedMessage:
    return parse_message(raw, Limits(**limits), inline=True)  # type: ignore[arg-type]


def test_envelope_and_headers() -> None:
    raw = (b"Return-Path: <SG@Interieur.Gouv.FR>\r\nReceived: from a\r\nReceived: from b\r\n"
           b"From: =?iso-8859-1?q?J=E9r=F4me_Dupont?= <Jerome.Dupont@Interieur.Gouv.FR>\r\n"
           b"To: grandsprojets.si@numerique.gouv.fr, Autre <autre@numerique.gouv.fr>\r\nCc: <cab@interieur.gouv.fr>\r\n"
           b"Subject: =?utf-8?q?Saisine_=E2=80=94_projet_=C3=89sope?=\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
           b"Message-ID: <abc@interieur.gouv.fr>\r\nIn-Reply-To: <x1@numerique.gouv.fr>\r\n"
           b"References: <x0@numerique.gouv.fr>\r\n <x1@numerique.gouv.fr>\r\nAuto-Submitted: auto-replied\r\n"
           b"Precedence: bulk\r\nX-Auto-Response-Suppress: All\r\nList-Id: <liste.example>\r\n"
           b"List-Unsubscribe: <mailto:u@x>\r\nAuthentication-Results: mx; dkim=pass header.d=interieur.gouv.fr\r\n"
           b"X-Loop: gp\r\nX-Failed-Recipients: a@b\r\nDelivered-To: gp@numerique.gouv.fr\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n")
    msg = parse(raw)
    assert (msg.from_addr, msg.from_name) == ("jerome.dupont@interieur.gouv.fr", "Jérôme Dupont")
    assert msg.subject == "Saisine — projet Ésope" and msg.message_id == "<abc@interieur.gouv.fr>"
    assert msg.to == ("grandsprojets.si@numerique.gouv.fr", "autre@numerique.gouv.fr")
    assert msg.cc == ("cab@interieur.gouv.fr",)
    assert msg.in_reply_to == ("<x1@numerique.gouv.fr>",)
    assert msg.references == ("<x0@numerique.gouv.fr>", "<x1@numerique.gouv.fr>")
    assert msg.date_header is not None and msg.date_header.isoformat() == "2026-03-02T10:00:00+01:00"
    assert msg.headers["received"] == ("from a", "from b")
    for name in ("auto-submitted", "precedence", "x-auto-response-suppress", "list-id", "list-unsubscribe",
                 "return-path", "authentication-results", "content-type", "x-loop", "x-failed-recipients",
                 "delivered-to"):
        assert msg.header(name), name
    assert msg.body_text == "Bonjour." and not msg.problems


def test_pieces_with_hashes_and_text() -> None:
    raw = m.raw(m.message(files=[("note de synthèse.pdf", "application/pdf", PDF),
                                 ("courrier.docx", "application/octet-stream", DOCX)]))
    msg = parse(raw)
    pdf, docx = msg.pieces
    assert pdf.filename == "note de synthèse.pdf" and pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    assert pdf.size == len(PDF) and pdf.pages == 1 and "12 M€" in pdf.text and pdf.path == "note de synthèse.pdf"
    assert docx.content_type.endswith("wordprocessingml.document") and "Saisine pour avis" in docx.text


@pytest.mark.parametrize("header", [
    b'Content-Disposition: attachment; filename="=?utf-8?q?budget_d=C3=A9taill=C3=A9.xlsx?="',
    b"Content-Disposition: attachment; filename*=utf-8''budget%20d%C3%A9taill%C3%A9.xlsx",
    b"Content-Disposition: attachment; filename*0*=iso-8859-1''budget%20d%E9;\r\n filename*1*=taill%E9.xlsx",
    b'Content-Disposition: attachment; filename="budget d\xc3\xa9taill\xc3\xa9.xlsx"',  # raw UTF-8 (swaks, mpack)
    b'Content-Disposition: attachment\r\nContent-Type: application/vnd.ms-excel; name="budget d\xe9taill\xe9.xlsx"',
])
def test_encoded_filenames_with_accents(header: bytes) -> None:
    raw = (b"From: a@interieur.gouv.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n--b\r\n" + header +
           b"\r\nContent-Transfer-Encoding: base64\r\n\r\nQk9O\r\n--b--\r\n")
    (piece,) = parse(raw).pieces
    assert piece.filename == "budget détaillé.xlsx"


@pytest.mark.parametrize(("given", "expected"), [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\x\\note.pdf", "note.pdf"), ("note\u202egpj.exe", "notegpj.exe"),
    ("a\x00b\x1fc.pdf", "abc.pdf"), ("..", "piece-1.pdf"), ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
])
def test_filenames_are_sanitised(given: str, expected: str) -> None:
    msg = EmailMessage()
    msg["From"] = "a@b.fr"
    msg.set_content("x")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=given)
    (piece,) = parse(msg.as_bytes()).pieces
    assert piece.filename == expected and "/" not in piece.path


def test_html_only_body_and_inline_images() -> None:
    html = ('<html><body><p>Bonjour,</p><p>Le co&ucirc;t est de <b>12&nbsp;M&euro;</b>.</p>'
            '<img src="cid:logo@interieur"></body></html>')
    raw = m.with_inline_image(html, b"\x89PNG\r\n\x1a\n" + bytes(64))
    msg = parse(raw)
    assert msg.body_text == "Bonjour (texte)."
    (logo,) = msg.attachments
    assert logo.inline and logo.filename == "image001.png" and msg.pieces == ()
    only_html = m.message("HTML", "", html="<div>Coût&nbsp;: 9 M€<br>Planning joint</div>")
    only_html.get_body(("plain",)).set_content("")  # type: ignore[union-attr]
    assert parse(m.raw(only_html)).body_text == "Coût : 9 M€\nPlanning joint"


def test_inline_pdf_with_filename_is_a_piece() -> None:
    raw = (b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=\"-\"\r\n\r\n---\r\n\r\nBonjour\r\n---\r\n"
           b"Content-Type: application/pdf; name=\"note.pdf\"\r\nContent-Disposition: inline; filename=\"note.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + __import__("base64").encodebytes(PDF) + b"-----\r\n")
    msg = parse(raw)
    assert [p.filename for p in msg.pieces] == ["note.pdf"] and msg.body_text == "Bonjour"


@pytest.mark.parametrize(("charset", "cte"), [("iso-8859-1", "quoted-printable"), ("windows-1252", "8bit"),
                                              ("utf-8", "base64"), ("us-ascii", "8bit")])
def test_body_charsets(charset: str, cte: str) -> None:
    import base64
    import quopri

    text = "Coût complet : 12 M€ – « dossier » prêt"
    data = text.encode("utf-8" if charset in ("utf-8", "us-ascii") else "cp1252")
    body = {"quoted-printable": quopri.encodestring(data), "base64": base64.encodebytes(data), "8bit": data}[cte]
    raw = (f"From: a@b.fr\r\nContent-Type: text/plain; charset={charset}\r\n"
           f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body
    msg = parse(raw)
    assert msg.body_text == text and not msg.problems


def test_unknown_charset_is_a_warning() -> None:
    msg = parse(b"From: a@b.fr\r\nContent-Type: text/plain; charset=x-martian\r\n\r\nCo\xfbt\r\n")
    assert msg.body_text == "Coût"
    assert [(p.code, p.severity) for p in msg.problems] == [("bad-charset", "warning")]


def test_forwarded_message_with_its_own_attachments() -> None:
    inner = m.message("Saisine initiale", "Texte du SG.", [("note.docx", "application/octet-stream", DOCX)])
    msg = parse(m.forwarded([("budget.xlsx", "application/octet-stream", xlsx_bytes({"Budget": [["x", 1]]}))],
                            inner))
    paths = {a.path: a for a in msg.attachments}
    assert set(paths) == {"budget.xlsx", "transfert.eml", "transfert.eml/note.docx"}
    assert paths["transfert.eml"].container and "Objet : Saisine initiale" in paths["transfert.eml"].text
    assert "Texte du SG." in paths["transfert.eml"].text
    assert {p.path for p in msg.pieces} == {"budget.xlsx", "transfert.eml/note.docx"}


def test_zip_and_nested_paths() -> None:
    inner = zip_bytes({"annexe.pdf": PDF})
    raw = m.raw(m.message(files=[("dossier.zip", "application/zip", zip_bytes({"sous.zip": inner, "note.docx": DOCX}))]))
    paths = [(a.path, a.container) for a in parse(raw).attachments]
    assert paths == [("dossier.zip", True), ("dossier.zip/sous.zip", True), ("dossier.zip/sous.zip/annexe.pdf", False),
                     ("dossier.zip/note.docx", False)]


def test_winmail_dat_pieces_and_body() -> None:
    tnef = m.tnef_bytes("Madame, veuillez trouver le budget. Coût : 9 M€.",
                        [("budget.xlsx", xlsx_bytes({"Budget": [["Total", 9_000_000]]}))])
    msg = parse(m.winmail_message(tnef))
    assert [a.path for a in msg.attachments] == ["winmail.dat", "winmail.dat/budget.xlsx"]
    assert msg.attachments[0].container and "Total\t9000000" in msg.attachments[1].text
    assert "Coût : 9 M€" in msg.body_text


def test_winmail_dat_rtf_body() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1252\fromtext \deff0 Bonjour,\par Voici la saisine du minist\'e8re.\par}"
    msg = parse(m.winmail_message(m.tnef_with_rtf_body(rtf)))
    assert msg.body_text == "Bonjour,\nVoici la saisine du ministère."


def test_report_and_null_sender() -> None:
    raw = (b"From: Mail Delivery System <>\r\nSubject: Undelivered\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nEchec.\r\n--r\r\n"
           b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nAction: failed\r\n--r--\r\n")
    msg = parse(raw)
    assert msg.is_report and msg.from_addr == "" and msg.body_text == "Echec." and msg.attachments == ()


def test_smime_detached_signature(tmp_path: Path) -> None:
    content = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF)]))
    entity = content[content.index(b"Content-Type:"):]
    msg = parse(m.smime_signed(tmp_path, entity))
    assert [s.kind for s in msg.signatures] == ["smime"]
    assert msg.signatures[0].subject == "CN=Jérôme Dupont,O=Ministère de l'Intérieur,C=FR"
    assert [p.filename for p in msg.attachments] == ["note.pdf"] and "dossier" in msg.body_text


def test_smime_opaque_signature_keeps_the_content(tmp_path: Path) -> None:
    entity = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSaisine sign\xc3\xa9e.\r\n"
    msg = parse(m.smime_signed(tmp_path, entity, opaque=True))
    assert msg.body_text == "Saisine signée." and msg.signatures[0].subject.startswith("CN=Jérôme Dupont")
    assert msg.attachments == ()


def test_smime_encrypted_is_stated(tmp_path: Path) -> None:
    msg = parse(m.smime_encrypted(tmp_path, b"Content-Type: text/plain\r\n\r\nsecret\r\n"))
    assert [p.code for p in msg.problems] == ["encrypted-message"]


@pytest.mark.skipif(not m.have("gpg"), reason="gpg not installed")
def test_pgp_mime_signature(tmp_path: Path) -> None:
    raw, fingerprint = m.pgp_signed(tmp_path, b"Content-Type: text/plain; charset=utf-8\r\n\r\nSaisine.\r\n")
    msg = parse(raw)
    assert msg.body_text == "Saisine." and msg.attachments == ()
    assert [s.kind for s in msg.signatures] == ["pgp"] and fingerprint in msg.signatures[0].subject


def test_too_many_attachments() -> None:
    files = [(f"annexe-{i}.txt", "text/plain", b"x") for i in range(6)]
    msg = parse(m.raw(m.message(files=files)), max_attachments=4)
    assert len(msg.pieces) == 4 and [p.code for p in msg.problems] == ["too-many-attachments"]


def test_message_too_large_keeps_the_envelope() -> None:
    raw = m.raw(m.message(files=[("a.pdf", "application/pdf", PDF)]))
    msg = parse(raw, max_message_bytes=1000)
    assert msg.from_addr == "sg@interieur.gouv.fr" and msg.attachments == ()
    assert [p.code for p in msg.problems] == ["message-too-large"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(parse(data), ParsedMessage)


_SAMPLE = m.raw(m.message(files=[("a.txt", "text/plain", b"abc"), ("b.zip", "application/zip",
                                                                    zip_bytes({"c.txt": b"x"}))],
                          html="<p>x</p>"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE) - 1), st.binary(min_size=0, max_size=8)), max_size=6))
def test_mutated_messages_never_raise(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(_SAMPLE)
    for at, junk in edits:
        data[at:at + len(junk)] = junk
    assert isinstance(parse(bytes(data)), ParsedMessage)


def test_raw_eight_bit_headers_are_read_as_windows_1252() -> None:
    msg = parse(b"From: sg@interieur.gouv.fr\r\nSubject: Dossier de saisine \xe9t\xe9 2026\r\n\r\nx\r\n")
    assert msg.subject == "Dossier de saisine été 2026" and msg.headers["subject"] == ("Dossier de saisine été 2026",)


def test_unreferenced_inline_image_is_a_piece() -> None:
    raw = (b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n"
           b"Voir le scan.\r\n--z\r\nContent-Type: image/jpeg; name=scan.jpg\r\nContent-Disposition: inline; "
           b"filename=scan.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--z--\r\n")
    (piece,) = parse(raw).pieces
    assert piece.filename == "scan.jpg" and not piece.inline and piece.problems[0].code == "format-not-read"


def test_long_body_is_cut_with_a_warning() -> None:
    msg = parse(b"From: a@b.fr\r\n\r\n" + b"x" * 5000, max_text_chars=1000)
    assert len(msg.body_text) == 1000 and [p.code for p in msg.problems] == ["text-truncated"]
