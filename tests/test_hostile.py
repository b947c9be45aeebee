"""Hostile and broken input: bombs, lies, truncation, deep nesting; the caller always gets a stated reason."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time

import pytest

from examples.documents import docx_bytes, pdf_bytes, zip_bytes
from intake_bot.extract import extract
from intake_bot.limits import Limits
from intake_bot.parsing import parse_message
from intake_bot.worker import Pool
from tests import messages as m

MiB = 1024 * 1024
PDF = pdf_bytes("Note de synthèse", [("Finances", "Coût complet : 12 M€.")])


def codes(found) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in found.problems]


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return m.zip_bomb(1024 * MiB)


def test_zip_bomb_is_refused_from_the_central_directory(bomb: bytes) -> None:
    started = time.monotonic()
    found = extract("dossier.zip", "application/zip", bomb, Limits())  # worker mode, as the pipeline runs it
    assert time.monotonic() - started < 10
    (member,) = found.members
    assert codes(member) == ["zip-bomb"] and member.sha256 == "" and member.size == 1024 * MiB
    assert "taux de compression" in member.problems[0].fr


def test_zip_bomb_inside_a_message(bomb: bytes) -> None:
    msg = parse_message(m.raw(m.message(files=[("dossier.zip", "application/zip", bomb)])))
    assert [(a.path, codes(a)) for a in msg.attachments] == [("dossier.zip", []), ("dossier.zip/rapport.txt", ["zip-bomb"])]


def test_declared_sizes_that_lie_are_caught_while_inflating() -> None:
    found = extract("x.zip", "application/zip", m.lying_zip(50 * MiB, 64 * 1024), Limits(), inline=True)
    (member,) = found.members
    assert codes(member) in (["unreadable"], ["archive-too-large"]) and member.size == 64 * 1024


def test_total_uncompressed_size_is_capped() -> None:
    data = zip_bytes({f"annexe-{i}.bin": os.urandom(600 * 1024) for i in range(3)})
    found = extract("x.zip", "application/zip", data, Limits(max_uncompressed_bytes=MiB), inline=True)
    assert codes(found) == ["archive-too-large"] and found.members == ()


def test_four_level_nested_archive_stops_at_the_depth_limit() -> None:
    data = m.nested_zip(4, {"annexe.pdf": PDF})
    found = extract("niveau-1.zip", "application/zip", data, Limits(), inline=True)
    paths = [(a.path, codes(a)) for a in found.members]
    assert paths == [("niveau-2.zip", []), ("niveau-2.zip/niveau-3.zip", []),
                     ("niveau-2.zip/niveau-3.zip/niveau-4.zip", ["archive-too-deep"])]
    three = extract("niveau-1.zip", "application/zip", m.nested_zip(3, {"annexe.pdf": PDF}), Limits(), inline=True)
    assert three.members[-1].path == "niveau-2.zip/niveau-3.zip/annexe.pdf" and "12 M€" in three.members[-1].text


def test_forwarded_mail_nesting_counts_as_depth() -> None:
    inner = m.message("niveau 3", "x", [("note.pdf", "application/pdf", PDF)])
    for level in (2, 1):
        wrapper = m.message(f"niveau {level}", "x")
        wrapper.add_attachment(inner, filename=f"niveau-{level + 1}.eml")
        inner = wrapper
    msg = parse_message(m.raw(inner), Limits(max_archive_depth=1), inline=True)
    assert [(a.path, codes(a)) for a in msg.attachments] == [
        ("niveau-2.eml", []), ("niveau-2.eml/niveau-3.eml", ["archive-too-deep"])]


def test_pdf_declaring_a_billion_pages() -> None:
    started = time.monotonic()
    found = extract("annexe.pdf", "application/pdf", m.huge_page_tree_pdf(10, 9), Limits())
    assert codes(found) == ["too-many-pages"] and found.pages == 10**9
    assert time.monotonic() - started < 5


def test_pdf_hiding_a_huge_page_tree_hits_pypdf_limits() -> None:
    lying = m.huge_page_tree_pdf(10, 8).replace(b"/Count 100000000 ", b"/Count 3 ", 1)
    assert codes(extract("annexe.pdf", "application/pdf", lying, Limits())) == ["too-complex"]


def test_slow_pdf_times_out_and_the_worker_is_replaced() -> None:
    started = time.monotonic()
    found = extract("annexe.pdf", "application/pdf", m.slow_pdf(), Limits(extraction_timeout_s=1.5))
    assert codes(found) == ["timeout"] and "délai dépassé" in found.problems[0].fr
    assert time.monotonic() - started < 1.5 + 6
    assert "Finances" in extract("n.pdf", "application/pdf", PDF, Limits()).text


def test_memory_bomb_is_stopped_by_the_address_space_limit() -> None:
    limits = Limits(max_compression_ratio=10**6, max_uncompressed_bytes=10**10, extraction_memory_mb=300)
    found = extract("x.zip", "application/zip", m.zip_bomb(600 * MiB), limits)
    assert codes(found) == ["memory"] and "mémoire dépassée" in found.problems[0].fr
    assert "Finances" in extract("n.pdf", "application/pdf", PDF, Limits()).text


def test_worker_killed_mid_document_is_reported_and_replaced() -> None:
    pool = Pool()
    try:
        assert pool.extract("n.pdf", "application/pdf", PDF, Limits()).text
        victim = pool._idle[0]  # the test plays the OOM killer
        threading.Timer(0.5, os.kill, (victim.proc.pid, signal.SIGKILL)).start()
        found = pool.extract("annexe.pdf", "application/pdf", m.slow_pdf(), Limits(extraction_timeout_s=20))
        assert codes(found) == ["extraction-failed"] and "signal 9" in found.problems[0].en
        assert pool.extract("n.pdf", "application/pdf", PDF, Limits()).text
    finally:
        pool.close()


def test_tnef_that_would_loop_for_hours_times_out() -> None:
    hostile = m.tnef_bytes("x", []) + m._tnef_attr(1, 0x9003, 0x0006, b"\xff\xff\xff\xff")  # 4 billion properties
    found = extract("winmail.dat", "application/ms-tnef", hostile, Limits(extraction_timeout_s=1))
    assert codes(found) == ["timeout"]


def test_encrypted_pdf_in_a_message() -> None:
    secret = pdf_bytes("Budget", [("Finances", "12 M€")], password="s3cret")
    (piece,) = parse_message(m.raw(m.message(files=[("budget.pdf", "application/pdf", secret)]))).pieces
    assert codes(piece) == ["encrypted"] and piece.sha256 and piece.text == ""


def test_truncated_base64_and_missing_closing_boundary() -> None:
    raw = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF)]))
    cut = raw[: raw.index(b"Content-Disposition: attachment") + 600]
    msg = parse_message(cut, inline=True)
    (piece,) = msg.pieces
    assert "truncated-base64" in codes(piece) or "unreadable" in codes(piece)
    assert any("délimiteur de fin absent" in p.fr for p in msg.problems)
    assert msg.body_text.startswith("Bonjour")


@pytest.mark.parametrize("inline", [True, False], ids=["in-process", "worker"])
def test_truncated_base64_is_named(inline: bool) -> None:
    payload = base64.encodebytes(PDF)[:-3]
    raw = (b"From: a@b.fr\r\nContent-Type: application/pdf; name=n.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + payload)
    (piece,) = parse_message(raw, inline=inline).pieces
    assert codes(piece)[0] == "truncated-base64" and "tronquée" in piece.problems[0].fr


def test_missing_boundary_parameter_is_recovered() -> None:
    raw = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF)]))
    head, _, rest = raw.partition(b"boundary=")
    broken = head.rstrip(b"; \t\r\n") + b"\r\n" + rest.split(b"\n", 1)[1]
    msg = parse_message(broken, inline=True)
    assert [p.filename for p in msg.pieces] == ["note.pdf"] and "12 M€" in msg.pieces[0].text
    assert any("sans délimiteur" in p.fr for p in msg.problems)


def test_missing_boundary_without_any_delimiter_keeps_the_text() -> None:
    raw = b"From: a@b.fr\r\nContent-Type: multipart/mixed\r\n\r\nBonjour, dossier en retard.\r\n"
    msg = parse_message(raw, inline=True)
    assert msg.body_text == "Bonjour, dossier en retard." and codes(msg) == ["malformed-mime"]


def test_thirty_megabyte_attachment() -> None:
    big = m.padded_pdf(PDF, 30_000_000 - 4096)  # 30 MB: its base64 fits the default 40 MiB message limit
    started = time.monotonic()
    msg = parse_message(m.raw(m.message(files=[("annexe-technique.pdf", "application/pdf", big)])))
    (piece,) = msg.pieces
    assert piece.size == len(big) and not piece.problems and "12 M€" in piece.text
    assert time.monotonic() - started < 20


def test_deeply_nested_and_numerous_parts() -> None:
    deep = b"From: a@b.fr\r\n" + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                                          for i in range(500)) + b"\r\nfin\r\n"
    assert any("trop de parties" in p.fr for p in parse_message(deep, inline=True).problems)
    many = b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" + b"--x\r\n\r\ny\r\n" * 20000 + b"--x--"
    started = time.monotonic()
    assert any("trop de parties" in p.fr for p in parse_message(many, inline=True).problems)
    assert time.monotonic() - started < 10


def test_garbage_signatures_and_headers() -> None:
    raw = (b"From: <<<@@>>>\r\nTo: ;;;,,,\r\nDate: 99 Foo 9999\r\nSubject: =?x-unknown?q?=FF?=\r\n"
           b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n"
           b"--s\r\nContent-Type: text/plain\r\n\r\nTexte\r\n--s\r\nContent-Type: application/pkcs7-signature\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nMIIBBQYJKoZIhvcNAQcC\r\n--s--\r\n")
    msg = parse_message(raw, inline=True)
    assert msg.body_text == "Texte" and [s.kind for s in msg.signatures] == ["smime"]
    assert msg.signatures[0].subject == "" and msg.date_header is None


def test_oversized_header_block() -> None:
    raw = b"From: a@b.fr\r\n" + b"X-Filler: " + b"a" * (2 * MiB) + b"\r\n\r\nCorps\r\n"
    msg = parse_message(raw, Limits(max_header_bytes=MiB), inline=True)
    assert msg.from_addr == "a@b.fr" and codes(msg) == ["malformed-mime"]


def test_office_package_bomb_is_refused_before_the_library_sees_it() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes("x", [])), "r") as source, zipfile.ZipFile(buf, "w",
                                                                                          zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info.filename))
        out.writestr("word/media/filler.bin", bytes(300 * MiB))
    found = extract("note.docx", "", buf.getvalue(), Limits())
    assert codes(found) == ["archive-too-large"]
