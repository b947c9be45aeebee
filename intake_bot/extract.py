"""Text of one attachment (PDF, DOCX, XLSX, ODT, ODS, text, CSV, HTML, ZIP, TNEF, .eml), within the limits.

`extract` (decoded bytes) and `extract_encoded` (a MIME body still in base64) are what callers use: risky
formats go to a worker process, capped in time and memory; `inline=True` reads in this process (tests,
benchmarks). `read` is the in-process reader itself, which the worker runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from . import archive, office, opendocument, pdf, tnef
from .charset import decode as decode_text
from .filename import content_type_for
from .htmltext import html_to_text
from .limits import Limits
from .mimepart import decode
from .model import Attachment, Extraction
from .problem import problem

CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: legacy Office, Outlook .msg, encrypted OOXML
TNEF = b"\x78\x9f\x3e\x22"
_OOXML_EXT = (".docx", ".xlsx", ".pptx", ".docm", ".xlsm")
_TEXT_EXT = (".txt", ".text", ".md", ".log", ".json", ".xml")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\x00", b"MM\x00*")
HEAD = 8192  # encoded bytes decoded to tell a body's kind before choosing where to read it
INLINE_KINDS = frozenset({"text", "csv", "empty", "image", "legacy-office", "encrypted-office", "rtf", "unknown",
                          "outlook-msg"})  # linear-time or not read at all: no worker needed


class Deadline(BaseException):
    """The time limit fired (BaseException: libraries' `except Exception` must not swallow it)."""


@dataclass
class Context:
    """Where a document is read from: the limits, how many containers enclose it, the shared archive budget."""

    limits: Limits
    depth: int = 0
    budget: archive.Budget | None = None

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = archive.Budget(self.limits.max_uncompressed_bytes)


class Read(NamedTuple):
    """A file read from its transfer-encoded MIME body: what it says, and the decoded file's size and SHA-256."""

    extraction: Extraction
    size: int
    sha256: str
    truncated: bool  # the base64 stopped mid-quantum: the file is incomplete


def extract(filename: str, content_type: str, data: bytes, limits: Limits, *, inline: bool = False,
            depth: int = 0) -> Extraction:
    """What can be read from one file; never raises on bad input: every failure is a Problem."""
    if inline or sniff(filename, content_type, data) in INLINE_KINDS:
        with deadline(limits.extraction_timeout_s):
            try:
                return read(filename, content_type, data, Context(limits, depth))
            except Deadline:
                return Extraction(problems=(problem("timeout", seconds=limits.extraction_timeout_s),))
            except MemoryError:  # over the worker's address-space cap (a whole message parsed in the worker)
                return Extraction(problems=(problem("memory", limit=limits.extraction_memory_mb),))
    from .worker import default_pool

    return default_pool().extract(filename, content_type, data, limits, depth)


def extract_encoded(filename: str, content_type: str, body: memoryview, encoding: str, limits: Limits, *,
                    inline: bool = False, depth: int = 0) -> Read:
    """Like `extract`, for a MIME body still transfer-encoded (base64 …): it is decoded where it is read.

    Risky files are decoded, hashed and read by the worker from the encoded slice of the raw message, so the
    caller never holds a decoded 40 MB copy next to the message itself.
    """
    head, _ = decode(body[:HEAD], encoding)
    if inline or sniff(filename, content_type, head) in INLINE_KINDS:
        data, defects = decode(body, encoding)
        found = extract(filename, content_type, data, limits, inline=True, depth=depth)
        return Read(found, len(data), hashlib.sha256(data).hexdigest(), bool(defects))
    from .worker import default_pool

    return default_pool().read(filename, content_type, body, encoding, limits, depth)


def read(filename: str, content_type: str, data: bytes, ctx: Context) -> Extraction:
    """Read one file in this process (the worker's job); Deadline and MemoryError go up to the caller."""
    kind = sniff(filename, content_type, data)
    reader = _READERS.get(kind, _not_read)
    try:
        result = reader(filename, data, ctx)
    except (Deadline, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise anything on hostile input
        detail = f"{type(exc).__name__}: {exc}"[:300]
        result = Extraction(problems=(problem("unreadable", kind=_label(filename, kind), detail=detail),))
    return _capped(result, ctx.limits.max_text_chars)


def sniff(filename: str, content_type: str, data: bytes) -> str:
    """The kind of a file from its first bytes, then its name and declared type."""
    name, ctype = filename.lower(), (content_type or "").lower()
    head = data[:8]
    if not data:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if head == CFB:
        return "encrypted-office" if name.endswith(_OOXML_EXT) else "outlook-msg" if name.endswith(".msg") \
            else "legacy-office"
    if head.startswith(TNEF):
        return "tnef"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if b"%PDF-" in data[:1024]:  # after the containers: their first member may be a PDF
        return "pdf"
    if name.endswith(".eml") or ctype in ("message/rfc822", "message/global"):
        return "eml"
    return _text_kind(name, ctype, head)


def _text_kind(name: str, ctype: str, head: bytes) -> str:
    if name.endswith((".html", ".htm")) or ctype == "text/html":
        return "html"
    if name.endswith(".csv") or ctype in ("text/csv", "text/comma-separated-values"):
        return "csv"
    if name.endswith(_TEXT_EXT) or ctype.startswith("text/"):
        return "text"
    if ctype.startswith("image/") or head.startswith(_IMAGE_MAGIC):
        return "image"
    if name.endswith((".doc", ".xls", ".ppt")):
        return "legacy-office"
    return "unknown"


def _zip_kind(data: bytes) -> str:
    package = archive.open_zip(data)
    if package is None:
        return "zip"
    with package:
        names = set(package.namelist())
        if "[Content_Types].xml" in names:
            return "docx" if "word/document.xml" in names else "xlsx" if "xl/workbook.xml" in names else "ooxml"
        if "mimetype" in names:
            mime = package.read("mimetype")[:100] if package.getinfo("mimetype").file_size < 100 else b""
            return {b"application/vnd.oasis.opendocument.text": "odt",
                    b"application/vnd.oasis.opendocument.spreadsheet": "ods"}.get(mime.strip(), "odf")
    return "zip"


def _package(reader: Callable[[bytes, Limits], Extraction]) -> Callable[[str, bytes, Context], Extraction]:
    def read_package(filename: str, data: bytes, ctx: Context) -> Extraction:
        refused = archive.package_problem(data, ctx.limits.max_uncompressed_bytes)
        return Extraction(problems=(refused,)) if refused else reader(data, ctx.limits)

    return read_package


def _text(filename: str, data: bytes, ctx: Context) -> Extraction:
    return Extraction(text=decode_text(data, None)[0])


def _html(filename: str, data: bytes, ctx: Context) -> Extraction:
    return Extraction(text=html_to_text(decode_text(data, None)[0]))


def _zip(filename: str, data: bytes, ctx: Context) -> Extraction:
    if _too_deep(ctx):
        return Extraction(container=True, problems=(problem("archive-too-deep", limit=ctx.limits.max_archive_depth),))
    assert ctx.budget is not None
    return _in_time(ctx, lambda: archive.read_zip(data, ctx.budget, ctx.limits.max_compression_ratio,  # type: ignore[arg-type]
                                                  ctx.limits.max_attachments, _expander(ctx)))


def _tnef(filename: str, data: bytes, ctx: Context) -> Extraction:
    if _too_deep(ctx):
        return Extraction(container=True, problems=(problem("archive-too-deep", limit=ctx.limits.max_archive_depth),))
    return _in_time(ctx, lambda: tnef.read_tnef(data, ctx.limits.max_attachments, _expander(ctx)))


def _eml(filename: str, data: bytes, ctx: Context) -> Extraction:
    if _too_deep(ctx):
        return Extraction(container=True, problems=(problem("archive-too-deep", limit=ctx.limits.max_archive_depth),))
    from .content import read_embedded

    def leaf(name: str, ctype: str, body: memoryview, encoding: str, depth: int) -> Read:
        data, defects = decode(body, encoding)
        found = read(name, ctype, data, Context(ctx.limits, depth, ctx.budget))
        return Read(found, len(data), hashlib.sha256(data).hexdigest(), bool(defects))

    return _in_time(ctx, lambda: read_embedded(data, ctx.limits, leaf, ctx.depth + 1))


def _too_deep(ctx: Context) -> bool:
    return ctx.depth + 1 > ctx.limits.max_archive_depth


def _in_time(ctx: Context, read_container: Callable[[], Extraction]) -> Extraction:
    """Containers keep what they read before the time limit, and say the rest was not read."""
    try:
        return read_container()
    except Deadline:
        assert ctx.budget is not None
        ctx.budget.expired = True
        return Extraction(container=True, problems=(problem("timeout", seconds=ctx.limits.extraction_timeout_s),))


def _expander(ctx: Context) -> archive.Expand:
    """Turn a container member into attachments: itself, then what it contains, paths relative to the container."""
    child = Context(ctx.limits, ctx.depth + 1, ctx.budget)

    def expand(name: str, path: str, data: bytes) -> list[Attachment]:
        ctype = content_type_for(name)
        try:
            found = read(name, ctype, data, child)
        except Deadline:
            assert ctx.budget is not None
            ctx.budget.expired = True
            found = Extraction(problems=(problem("timeout", name, seconds=ctx.limits.extraction_timeout_s),))
        return as_attachments(name, ctype, len(data), hashlib.sha256(data).hexdigest(), path, found)

    return expand


def as_attachments(name: str, ctype: str, size: int, sha256: str, path: str, found: Extraction) -> list[Attachment]:
    """The Attachment for a file and, for a container, its members re-rooted under `path`."""
    head = Attachment(name, ctype, size, sha256, path=path, text=found.text,
                      sections=found.sections, pages=found.pages, problems=found.problems, container=found.container)
    return [head, *(replace(m, path=f"{path}/{m.path}") for m in found.members)]


def _not_read(filename: str, data: bytes, ctx: Context) -> Extraction:
    return Extraction(problems=(problem("format-not-read", kind=_label(filename, "")),))


def _encrypted(filename: str, data: bytes, ctx: Context) -> Extraction:
    return Extraction(problems=(problem("encrypted"),))


def _empty(filename: str, data: bytes, ctx: Context) -> Extraction:
    return Extraction(problems=(problem("empty-file"),))


def _label(filename: str, kind: str) -> str:
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    return f".{ext}" if ext and len(ext) <= 5 else kind or "inconnu"


def _capped(result: Extraction, limit: int) -> Extraction:
    if len(result.text) <= limit or any(p.code == "text-truncated" for p in result.problems):
        return result
    return replace(result, text=result.text[:limit], problems=(*result.problems, problem("text-truncated", limit=limit)))


_READERS: dict[str, Callable[[str, bytes, Context], Extraction]] = {
    "pdf": lambda f, d, ctx: pdf.read_pdf(d, ctx.limits),
    "docx": _package(office.read_docx),
    "xlsx": _package(office.read_xlsx),
    "odt": _package(opendocument.read_odt),
    "ods": _package(opendocument.read_ods),
    "text": _text, "csv": _text, "html": _html,
    "zip": _zip, "tnef": _tnef, "eml": _eml,
    "encrypted-office": _encrypted, "empty": _empty,
}


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Deadline in this thread after `seconds` (SIGALRM: main thread only; elsewhere no in-process limit)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise Deadline()

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
