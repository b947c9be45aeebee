"""Whole messages parsed in the extraction worker: same result as in-process, a time limit per document, and a
piece-by-piece fallback when the worker fails (the message is never lost)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from examples.documents import pdf_bytes
from intake_bot import parsing, worker
from intake_bot.limits import Limits
from intake_bot.parsing import parse_message
from intake_bot.worker import default_pool
from tests import messages as m

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "saisines").glob("*.eml"))
PDF = pdf_bytes("Note de synthèse", [("Finances", "Coût complet : 12 M€.")])
LOST = "worker lost parsing a message"


def codes(piece) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in piece.problems]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_whole_message_in_the_worker_reads_what_this_process_reads(path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    raw = path.read_bytes()
    whole = parse_message(raw)
    assert whole == parse_message(raw, inline=True)
    monkeypatch.setattr(parsing, "WHOLE_MESSAGE_BYTES", 0)  # piece by piece, as for a large message
    assert parse_message(raw) == whole


def test_each_document_has_its_own_time_limit_in_a_whole_message(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Three documents that each run into the 1 s limit: 3 s in all, past the parent's 1 s + 0.5 s grace;
    the worker announces each document, so the parent waits and gets one answer."""
    monkeypatch.setattr(worker, "GRACE_S", 0.5)
    slow = m.slow_pdf()
    raw = m.raw(m.message(files=[(f"annexe-{n}.pdf", "application/pdf", slow) for n in range(3)]
                          + [("note.pdf", "application/pdf", PDF)]))
    with caplog.at_level(logging.WARNING, logger="intake_bot.worker"):
        parsed = parse_message(raw, Limits(extraction_timeout_s=1.0))
    assert [codes(p) for p in parsed.pieces] == [["timeout"], ["timeout"], ["timeout"], []]
    assert "Finances" in parsed.pieces[3].text
    assert LOST not in caplog.text


def test_worker_killed_during_a_whole_message_falls_back_to_piece_by_piece(caplog: pytest.LogCaptureFixture) -> None:
    pool = default_pool()
    assert parse_message(m.raw(m.message(files=[("n.pdf", "application/pdf", PDF)]))).pieces[0].text
    victim = pool._idle[0]  # the test plays the OOM killer, 0.5 s into the slow document
    threading.Timer(0.5, os.kill, (victim.proc.pid, signal.SIGKILL)).start()
    raw = m.raw(m.message(files=[("annexe.pdf", "application/pdf", m.slow_pdf()), ("note.pdf", "application/pdf", PDF)]))
    with caplog.at_level(logging.WARNING, logger="intake_bot.worker"):
        parsed = parse_message(raw, Limits(extraction_timeout_s=2.0))
    assert LOST in caplog.text and "signal 9" in caplog.text
    slow, note = parsed.pieces
    assert codes(slow) == ["timeout"] and slow.sha256  # read again on its own, in a new worker
    assert "Finances" in note.text and not codes(note)


def test_memory_bomb_in_a_whole_message_costs_one_piece() -> None:
    limits = Limits(max_compression_ratio=10**6, max_uncompressed_bytes=10**10, extraction_memory_mb=300)
    raw = m.raw(m.message(files=[("x.zip", "application/zip", m.zip_bomb(600 * 1024 * 1024)),
                                 ("note.pdf", "application/pdf", PDF)]))
    bomb, note = parse_message(raw, limits).pieces
    assert codes(bomb) == ["memory"] and "mémoire dépassée" in bomb.problems[0].fr
    assert "Finances" in note.text
    assert "Finances" in parse_message(m.raw(m.message(files=[("n.pdf", "application/pdf", PDF)]))).pieces[0].text


def _hostile() -> dict[str, tuple[bytes, Limits]]:
    signed = (b"From: <<<@@>>>\r\nTo: ;;;,,,\r\nDate: 99 Foo 9999\r\nSubject: =?x-unknown?q?=FF?=\r\n"
              b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n"
              b"--s\r\nContent-Type: text/plain\r\n\r\nTexte\r\n--s\r\nContent-Type: application/pkcs7-signature\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nMIIBBQYJKoZIhvcNAQcC\r\n--s--\r\n")
    full = m.raw(m.message(files=[("note.pdf", "application/pdf", PDF)]))
    return {
        "no-delimiter": (b"From: a@b.fr\r\nContent-Type: multipart/mixed\r\n\r\nBonjour.\r\n", Limits()),
        "deep": (b"From: a@b.fr\r\n" + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                                               % (i, i) for i in range(500)) + b"\r\nfin\r\n", Limits()),
        "many-parts": (b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
                       + b"--x\r\n\r\ny\r\n" * 20000 + b"--x--", Limits()),
        "garbage-signature": (signed, Limits()),
        "huge-header": (b"From: a@b.fr\r\nX-Filler: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\nCorps\r\n",
                        Limits(max_header_bytes=1024 * 1024)),
        "truncated-base64": (full[: full.index(b"Content-Disposition: attachment") + 600], Limits()),
        "empty": (b"", Limits()),
    }


@pytest.mark.parametrize("name", list(_hostile()))
def test_hostile_messages_read_the_same_in_the_worker(name: str) -> None:
    raw, limits = _hostile()[name]
    assert parse_message(raw, limits) == parse_message(raw, limits, inline=True)
