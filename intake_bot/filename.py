"""Display names for pieces: decoded, stripped of paths and control characters, capped; never a filesystem path."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from email.header import decode_header, make_header

MAX_NAME = 150  # characters kept of a file name (the extension survives the cut)
_SPACES = re.compile(r"\s+")
_EXTENSIONS = {  # mimetypes misses or varies on these
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/zip": ".zip",
    "application/ms-tnef": ".dat",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
}


def extension_for(content_type: str) -> str:
    """A file extension for a content type, '' when none is known."""
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False) or ""


def sanitize(name: str | None, fallback: str = "piece") -> str:
    """A safe display name: RFC 2047 leftovers decoded, last path segment, no control or bidi characters."""
    text = _decode_words(name or "")
    text = unicodedata.normalize("NFC", text)
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")  # Cc, Cf (bidi overrides), Cs, Co, Cn
    text = _SPACES.sub(" ", text).strip(" .")
    if not text:
        return fallback
    return _cap(text)


def sanitize_path(path: str) -> str:
    """An archive member path as a display string: each segment sanitised, '.' and '..' dropped."""
    segments = [sanitize(s, "") for s in re.split(r"[/\\]", path) if s not in ("", ".", "..")]
    return "/".join(s for s in segments if s)


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words some mailers put in filename parameters."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


def _cap(text: str) -> str:
    if len(text) <= MAX_NAME:
        return text
    stem, dot, ext = text.rpartition(".")
    if dot and 0 < len(ext) <= 10:
        return stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
    return text[:MAX_NAME].rstrip()


_TYPES = {ext: ctype for ctype, ext in _EXTENSIONS.items()} | {".htm": "text/html", ".msg": "application/vnd.ms-outlook"}


def content_type_for(name: str) -> str:
    """A content type from a file name (archive members carry no MIME header)."""
    ext = "." + name.rpartition(".")[2].lower() if "." in name else ""
    if name.lower() == "winmail.dat":
        return "application/ms-tnef"
    return _TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
