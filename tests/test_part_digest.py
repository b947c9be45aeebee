"""part_with_digest(): one piece of a stored message, found by SHA-256 on the walk parse_message makes."""

from __future__ import annotations

import base64
import hashlib
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from examples.documents import docx_bytes, pdf_bytes, xlsx_bytes, zip_bytes
from intake_bot.limits import Limits
from intake_bot.parsing import parse_message, part_with_digest
from tests import messages as m

LIMITS = Limits()
PDF = pdf_bytes("Note de synthèse", [("Stratégie", "Objectifs du projet."), ("Finances", "Coût : 12 M€.")])
DOCX = docx_bytes("Courrier de saisine", [("Objet", "Saisine pour avis conforme.")])
XLSX = xlsx_bytes({"Budget": [["poste", "montant"], ["licences", 1200]]})
CSV = "poste;montant\nlicences;1 200 €\nprestations;3 400 €\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find(raw: bytes, data: bytes) -> bytes | None:
    return part_with_digest(raw, sha(data), LIMITS)


def test_base64_attachments_are_returned_as_sent() -> None:
    raw = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF), ("saisine.docx", "application/octet-stream", DOCX),
                                 ("budget.xlsx", "application/vnd.ms-excel", XLSX)]))
    assert b"Content-Transfer-Encoding: base64" in raw
    for data in (PDF, DOCX, XLSX):
        assert find(raw, data) == data
    assert part_with_digest(raw, sha(DOCX).upper(), LIMITS) == DOCX


def test_quoted_printable_attachment() -> None:
    msg = m.message()
    msg.add_attachment(CSV.decode(), subtype="csv", cte="quoted-printable", disposition="attachment",
                       filename="budget.csv")
    raw = m.raw(msg)
    assert b"Content-Transfer-Encoding: quoted-printable" in raw and b"=E2=82=AC" in raw
    assert find(raw, CSV.replace(b"\n", b"\r\n")) == CSV.replace(b"\n", b"\r\n")  # as parse_message hashed it
    (piece,) = parse_message(raw, LIMITS, inline=True).pieces
    assert part_with_digest(raw, piece.sha256, LIMITS) is not None


def test_forwarded_message_and_its_own_attachment() -> None:
    inner = m.message("Saisine initiale", "Texte du SG.", [("note.docx", "application/octet-stream", DOCX)])
    raw = m.forwarded([("note.pdf", "application/pdf", PDF)], inner)
    assert find(raw, DOCX) == DOCX  # inside the message/rfc822 part
    assert find(raw, PDF) == PDF
    listed = {a.path: a for a in parse_message(raw, LIMITS, inline=True).attachments}
    eml = part_with_digest(raw, listed["transfert.eml"].sha256, LIMITS)  # the forwarded mail as a whole
    assert eml is not None and b"Subject: Saisine initiale" in eml and len(eml) == listed["transfert.eml"].size


def test_forwarded_message_transfer_encoded_in_base64() -> None:
    inner = m.raw(m.message("Saisine initiale", "Texte.", [("note.pdf", "application/pdf", PDF)]))
    raw = (b"From: sg@interieur.gouv.fr\r\nSubject: TR: saisine\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: text/plain\r\n\r\nVoir ci-joint.\r\n"
           b"--b1\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(inner) + b"--b1--\r\n")
    assert find(raw, PDF) == PDF
    assert find(raw, inner) == inner


def test_attachment_inside_signed_and_related_parts() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    raw = m.with_inline_image('<p>Bonjour</p><img src="cid:logo@interieur">', png)
    assert find(raw, png) == png  # an inline image is listed too (not a piece, but a stored part)
    signed = EmailMessage(policy=policy.SMTP)
    signed["From"], signed["Subject"] = m.SENDER, "Saisine signée"
    signed.set_type("multipart/signed")
    signed.set_param("protocol", "application/pgp-signature")
    content = m.message(files=[("note.pdf", "application/pdf", PDF)])
    del content["From"], content["To"], content["Subject"], content["Message-ID"], content["Date"]
    signed.attach(content)
    sig = EmailMessage()
    sig.set_content(b"-----BEGIN PGP SIGNATURE-----\n...\n", maintype="application", subtype="pgp-signature")
    signed.attach(sig)
    assert find(m.raw(signed), PDF) == PDF


@pytest.mark.skipif(not m.have("openssl"), reason="openssl CLI not installed")
@pytest.mark.parametrize("opaque", [False, True])
def test_attachment_of_smime_signed_mail(tmp_path: Path, opaque: bool) -> None:
    entity = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF)]))
    raw = m.smime_signed(tmp_path, entity, opaque=opaque)
    assert find(raw, PDF) == PDF


def test_every_part_parse_message_lists_is_found() -> None:
    inner = m.message("Saisine initiale", "Texte du SG.", [("note.docx", "application/octet-stream", DOCX)])
    raw = m.forwarded([("note.pdf", "application/pdf", PDF), ("budget.xlsx", "application/octet-stream", XLSX)], inner)
    listed = parse_message(raw, LIMITS, inline=True).attachments
    assert len(listed) == 4
    for piece in listed:
        data = part_with_digest(raw, piece.sha256, LIMITS)
        assert data is not None and sha(data) == piece.sha256 and len(data) == piece.size, piece.path


def test_not_found_is_none() -> None:
    raw = m.raw(m.message(files=[("dossier.zip", "application/zip", zip_bytes({"annexe.pdf": PDF}))]))
    assert part_with_digest(raw, "0" * 64, LIMITS) is None
    assert part_with_digest(raw, "", LIMITS) is None
    assert find(raw, PDF) is None  # a ZIP member is not a MIME part: not looked for
    assert find(m.raw(m.message()), PDF) is None  # no attachment at all


def test_body_text_and_whole_message_are_not_pieces() -> None:
    msg = m.message(body="Bonjour,\n\nle dossier est joint.", html="<p>Bonjour</p>",
                    files=[("note.pdf", "application/pdf", PDF)])
    raw = m.raw(msg)
    for body in (msg.get_body(("plain",)), msg.get_body(("html",))):
        assert body is not None
        text = body.get_payload(decode=True)
        assert isinstance(text, bytes) and text
        assert find(raw, text) is None
    assert find(raw, raw) is None
    assert find(raw, PDF) == PDF
