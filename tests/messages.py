"""Builders of test messages and hostile files: stdlib `email` for MIME, openssl / gpg for signatures.

Documents themselves come from examples/documents.py (real writers: reportlab, python-docx, openpyxl, odfpy).
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path

SENDER = "Secrétariat général <sg@interieur.gouv.fr>"
BOT = "grandsprojets.si@numerique.gouv.fr"
MiB = 1024 * 1024

File = tuple[str, str, bytes]  # (file name, content type, bytes)


def message(subject: str = "Saisine", body: str = "Bonjour,\n\nVeuillez trouver ci-joint le dossier.",
            files: Sequence[File] = (), *, html: str | None = None, sender: str = SENDER,
            headers: dict[str, str] | None = None) -> EmailMessage:
    """A message as a mail client writes it: text (+ HTML alternative) and attachments."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, BOT, subject
    msg["Message-ID"] = f"<test.{abs(hash(subject)) % 10**8}@interieur.gouv.fr>"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0100"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, ctype, data in files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def with_inline_image(html_body: str, image: bytes, cid: str = "logo@interieur") -> bytes:
    """multipart/related: an HTML body showing a cid: image (an Outlook signature logo), plus a PDF piece."""
    msg = message("Saisine avec logo", "Bonjour (texte).", html=html_body)
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html_part.add_related(image, maintype="image", subtype="png", cid=f"<{cid}>", filename="image001.png")
    return raw(msg)


def forwarded(outer_files: Sequence[File], inner: EmailMessage) -> bytes:
    """A message forwarding another as an attachment (message/rfc822), each with its own files."""
    msg = message("TR: Saisine du ministère", "Je vous transfère la saisine ci-dessous.", outer_files)
    msg.add_attachment(inner, filename="transfert.eml")
    return raw(msg)


def tnef_bytes(body: str, files: Sequence[tuple[str, bytes]], *, long_names: bool = True) -> bytes:
    """A minimal TNEF stream (winmail.dat) as Outlook writes it: version, code page, body, attachments."""
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))
    out += _tnef_attr(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_attr(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += _tnef_attr(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\x00")  # attMessageClass
    out += _tnef_attr(1, 0x800C, 0x0002, body.encode("cp1252"))  # attBody
    for name, data in files:
        out += _tnef_attr(2, 0x9002, 0x0006, bytes(14))  # attAttachRendData starts an attachment
        out += _tnef_attr(2, 0x8010, 0x0001, name.encode("cp1252") + b"\x00")  # attAttachTitle (8.3, ANSI)
        out += _tnef_attr(2, 0x800F, 0x0006, data)  # attAttachData
        if long_names:
            out += _tnef_attr(2, 0x9005, 0x0006, _mapi_unicode(0x3707, name))  # PR_ATTACH_LONG_FILENAME
    return bytes(out)


def _tnef_attr(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _mapi_unicode(prop: int, text: str) -> bytes:
    value = text.encode("utf-16-le") + b"\x00\x00"
    padded = value + bytes(-len(value) % 4)
    return struct.pack("<IHHII", 1, 0x001F, prop, 1, len(value)) + padded


def lzfu_literal(rtf: bytes) -> bytes:
    """Compressed RTF (MS-OXRTFCP) written with literals only, ended by the back-reference to the write cursor."""
    body, write = bytearray(), 207
    chunks = [rtf[i:i + 8] for i in range(0, len(rtf), 8)]
    for chunk in chunks:
        body.append(0)
        body += chunk
        write = (write + len(chunk)) % 4096
    end = struct.pack(">H", write << 4)
    if len(chunks[-1]) == 8:
        body += b"\x01" + end
    else:
        body[-len(chunks[-1]) - 1] = 1 << len(chunks[-1])
        body += end
    return struct.pack("<IIII", len(body) + 12, len(rtf), 0x75465A4C, 0) + bytes(body)


def tnef_with_rtf_body(rtf: bytes) -> bytes:
    """A TNEF stream whose only body is PR_RTF_COMPRESSED in the MAPI properties (Outlook's usual form)."""
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))
    out += _tnef_attr(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    compressed = lzfu_literal(rtf)
    props = struct.pack("<IHHII", 1, 0x0102, 0x1009, 1, len(compressed)) + compressed + bytes(-len(compressed) % 4)
    out += _tnef_attr(1, 0x9003, 0x0006, props)  # attMsgProps
    return bytes(out)


def winmail_message(tnef: bytes) -> bytes:
    msg = message("Saisine (Outlook RTF)", "")
    msg.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return raw(msg)


def zip_bomb(size: int = 1024 * MiB) -> bytes:
    """`size` bytes of zeros deflated into one member (1 GiB -> about 1 MB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("rapport.txt", (2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            block = bytes(MiB)
            for _ in range(size // MiB):
                member.write(block)
    return buf.getvalue()


def lying_zip(real: int = 50 * MiB, declared: int = 64 * 1024) -> bytes:
    """A member whose headers declare `declared` bytes while its deflate stream holds `real` bytes."""
    payload = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = payload.compress(bytes(real)) + payload.flush()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("annexe.txt", (2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        archive.writestr(info, data)  # stored, then patched below to claim deflate and a small size
    out = bytearray(buf.getvalue())
    for signature, method_at, size_at in ((b"PK\x03\x04", 8, 22), (b"PK\x01\x02", 10, 24)):
        at = out.find(signature)
        struct.pack_into("<H", out, at + method_at, zipfile.ZIP_DEFLATED)
        struct.pack_into("<I", out, at + size_at, declared)
    return bytes(out)


def nested_zip(levels: int, inner: dict[str, bytes]) -> bytes:
    """`levels` archives inside one another, the innermost holding `inner`."""
    from examples.documents import zip_bytes

    data = zip_bytes(inner)
    for level in range(levels - 1, 0, -1):
        data = zip_bytes({f"niveau-{level + 1}.zip": data})
    return data


def huge_page_tree_pdf(fanout: int = 10, depth: int = 9) -> bytes:
    """A valid PDF whose page tree is a DAG: `depth` levels of `fanout` kids sharing one node (fanout**depth pages)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    count = fanout ** depth
    for level in range(depth):
        kids = b" ".join(b"%d 0 R" % (level + 3) for _ in range(fanout))
        parent = b" /Parent %d 0 R" % (level + 1) if level else b""
        objs.append(b"<< /Type /Pages /Kids [%s] /Count %d%s >>" % (kids, count // fanout ** level, parent))
    objs.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 200 200] >>" % (depth + 1))
    return _pdf(objs)


def slow_pdf(pages: int = 400) -> bytes:
    """A 700 kB PDF whose pages share one content stream of 20,000 text operations: minutes of pypdf time."""
    ops = b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n" * 20_000
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 3 0 R /Resources << /Font << /F1 4 0 R >> >> >>"
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
                 b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream",
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", *[page] * pages])


def _pdf(objs: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def padded_pdf(pdf: bytes, extra: int) -> bytes:
    """A real PDF carrying `extra` bytes of incompressible embedded file (a big dossier piece, cheaply)."""
    import os

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment("annexe-technique.bin", os.urandom(extra))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# ----- signatures made by the real tools -------------------------------------------------------------------

def self_signed(tmp: Path, subject: str = "/C=FR/O=Ministère de l'Intérieur/CN=Jérôme Dupont") -> tuple[Path, Path]:
    """A throwaway certificate and key made with the openssl CLI."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-utf8",
                    "-subj", subject, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def smime_signed(tmp: Path, content: bytes, *, opaque: bool = False) -> bytes:
    """`openssl smime -sign` of a MIME entity: multipart/signed (detached) or application/pkcs7-mime (opaque)."""
    cert, key = self_signed(tmp)
    source = tmp / "content.eml"
    source.write_bytes(content)
    args = ["openssl", "smime", "-sign", "-in", str(source), "-signer", str(cert), "-inkey", str(key),
            "-from", "sg@interieur.gouv.fr", "-to", BOT, "-subject", "Saisine signée"]
    return subprocess.run([*args, *(["-nodetach"] if opaque else [])], check=True, capture_output=True).stdout


def smime_encrypted(tmp: Path, content: bytes) -> bytes:
    cert, _ = self_signed(tmp)
    source = tmp / "content.eml"
    source.write_bytes(content)
    return subprocess.run(["openssl", "smime", "-encrypt", "-aes256", "-in", str(source), "-subject", "Chiffré",
                           str(cert)], check=True, capture_output=True).stdout


def pgp_signed(tmp: Path, content: bytes) -> tuple[bytes, str]:
    """A PGP/MIME (RFC 3156) message signed by a throwaway gpg key; returns (message, key fingerprint)."""
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "Jérôme Dupont <sg@interieur.gouv.fr>", "ed25519", "sign", "1d"],
                       check=True, capture_output=True)
        listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True)
        fingerprint = next(line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr"))
        signed = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        sig = subprocess.run([*gpg, "--armor", "--detach-sign"], input=signed, check=True, capture_output=True).stdout
    finally:  # gpg starts an agent daemon for the home directory: stop it, leave no process behind
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
    boundary = b"pgp-boundary-42"
    body = (b"--" + boundary + b"\r\n" + signed + b"\r\n--" + boundary + b"\r\n"
            b"Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n" + sig
            + b"\r\n--" + boundary + b"--\r\n")
    head = (b"From: sg@interieur.gouv.fr\r\nTo: " + BOT.encode() + b"\r\nSubject: Saisine PGP\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/signed; micalg=pgp-sha512; protocol=\"application/pgp-signature\"; "
            b"boundary=\"" + boundary + b"\"\r\n\r\n")
    return head + body, fingerprint


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
