"""OCR of scanned PDFs, the optional extra: used when tesseract is installed (make test installs it)."""

from __future__ import annotations

import shutil

import pytest

from examples.documents import scanned_pdf_bytes
from intake_bot.classify import fold
from intake_bot.extract import extract
from intake_bot.limits import Limits

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
LINES = ("Note de synthese", "Projet PORTALIS", "Cout complet : 52,4 millions d'euros")


@pytest.mark.parametrize("inline", [True, False], ids=["in-process", "worker"])
def test_a_scanned_letter_is_read_by_ocr_and_flagged_for_checking(inline):
    result = extract("scan.pdf", "application/pdf", scanned_pdf_bytes(LINES), Limits(), inline=inline)
    text = fold(result.text)
    assert "note de synthese" in text and "portalis" in text, result.text
    codes = [p.code for p in result.problems]
    assert "ocr" in codes and "scanned" not in codes


def test_a_scan_without_text_stays_reported_as_scanned():
    result = extract("scan.pdf", "application/pdf", scanned_pdf_bytes(), Limits(), inline=True)
    assert "scanned" in [p.code for p in result.problems]
