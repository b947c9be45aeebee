"""Bytes to text as French mail and files actually arrive: UTF-8, ISO-8859-1 that is really Windows-1252, or unlabelled."""

from __future__ import annotations

import codecs

_UNLABELLED = frozenset({"", "us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "x-unknown", "default"})
_WESTERN = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "windows-1252", "cp1252"})
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """(text, ok): ok is False when the declared charset is unknown or does not fit the bytes.

    Unlabelled or US-ASCII-labelled 8-bit text is common and not an error: UTF-8 is tried, then Windows-1252.
    ISO-8859-1 is read as Windows-1252 (what every mail client does: the C1 range holds € and ’ in practice).
    """
    label = (declared or "").strip().strip('"').lower()
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), True
    if label in _UNLABELLED:
        return _guess(data), True
    if label in _WESTERN:
        return data.decode("cp1252", errors="replace"), True
    try:
        return data.decode(label), True
    except LookupError:
        return _guess(data), False
    except UnicodeDecodeError:
        return _guess(data), False


def _guess(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")

