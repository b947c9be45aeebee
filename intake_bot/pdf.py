"""Text of a PDF with pypdf, page by page, with its titled sections; encrypted and scanned files stated as such."""

from __future__ import annotations

import io
import itertools
import logging
import re
import shutil
import subprocess
from collections import Counter

from .limits import Limits
from .model import Extraction, Section
from .problem import problem

log = logging.getLogger("intake_bot.extract")
_NUMBERED = re.compile(r"^((?:\d{1,2}\.)*\d{1,2}\.?|[IVXLC]{1,6}[.)]|[A-H][.)])\s+\S")
_TERMINAL = tuple(".,;:!?…»")
MAX_OCR_PAGES = 20


def read_pdf(data: bytes, limits: Limits) -> Extraction:
    from pypdf.errors import LimitReachedError

    try:
        return _read(data, limits)
    except LimitReachedError as exc:  # pypdf's own guards: page tree, tokens per stream, cmap sizes
        return Extraction(problems=(problem("too-complex", detail=str(exc)),))


def _read(data: bytes, limits: Limits) -> Extraction:
    from pypdf import PdfReader

    reader = PdfReader(_Stream(data))
    if reader.is_encrypted and not _decrypt(reader):
        return Extraction(problems=(problem("encrypted"),))
    declared = _declared_pages(reader)
    if declared > limits.max_pdf_pages:
        return Extraction(pages=declared,
                          problems=(problem("too-many-pages", pages=declared, limit=limits.max_pdf_pages),))
    texts, failed = _page_texts(reader, limits)
    problems = [problem("pages-unreadable", count=failed)] if failed else []
    if sum(len(t.strip()) for t in texts) < 20 * max(1, len(texts)) and _has_images(reader):
        texts, ocr_used = _ocr(reader, texts, limits)
        problems.append(problem("ocr" if ocr_used else "scanned"))
    sections = _outline_sections(reader) or _heading_sections(texts)
    text = "\n\n".join(t.strip() for t in texts)
    return Extraction(text=text, sections=tuple(sections), pages=len(reader.pages), problems=tuple(problems))


class _Stream(io.BytesIO):
    """BytesIO without getbuffer(): pypdf calls it only to learn the size, and it un-shares the bytes (a full copy)."""

    @property
    def getbuffer(self):  # type: ignore[no-untyped-def, override]
        raise AttributeError("getbuffer")


class _ImageEvictor:
    """Drops image streams pypdf cached while reading a page: text extraction never needs them again.

    Without this a 40 MB scan-heavy PDF keeps every image in pypdf's object cache (+40 MB). Only the
    entries added since the last page are looked at (the cache is an insertion-ordered dict).
    """

    def __init__(self, reader) -> None:  # type: ignore[no-untyped-def]
        self.reader, self.seen = reader, 0

    def __call__(self) -> None:
        cache = self.reader.resolved_objects
        fresh = itertools.islice(cache.items(), min(self.seen, len(cache)), None)
        for key in [k for k, obj in fresh if isinstance(obj, dict) and obj.get("/Subtype") == "/Image"]:
            del cache[key]
        self.seen = len(cache)


def _decrypt(reader) -> bool:  # type: ignore[no-untyped-def]
    """Many PDFs are encrypted with an empty user password (owner restrictions only): those we can read."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # noqa: BLE001 - pypdf raises DependencyError, NotImplementedError, … for unknown ciphers
        return False


def _declared_pages(reader) -> int:  # type: ignore[no-untyped-def]
    """/Count of the page tree root, read before pypdf flattens a tree that may claim millions of pages."""
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]
        return int(count)
    except Exception:  # noqa: BLE001 - missing or odd /Count: let pypdf's own count decide
        return 0


def _page_texts(reader, limits: Limits) -> tuple[list[str], int]:  # type: ignore[no-untyped-def]
    """Text of each page (within the page and character limits) and how many pages could not be read."""
    texts: list[str] = []
    budget, failed, forget_images = limits.max_text_chars, 0, _ImageEvictor(reader)
    for index, page in enumerate(reader.pages):
        if index >= limits.max_pdf_pages or budget <= 0:
            break
        try:
            text = page.extract_text() or ""
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - one broken page must not hide the others
            log.info("pdf page %d unreadable: %s", index + 1, exc)
            text, failed = "", failed + 1
        texts.append(text)
        budget -= len(text)
        forget_images()
    return texts, failed


def _has_images(reader) -> bool:  # type: ignore[no-untyped-def]
    try:
        for page in reader.pages[:MAX_OCR_PAGES]:
            xobjects = page.get("/Resources", {}).get("/XObject", {})
            if any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.values()):
                return True
    except Exception:  # noqa: BLE001 - a broken resource dictionary is not a scan
        return False
    return False


def _ocr(reader, texts: list[str], limits: Limits) -> tuple[list[str], bool]:  # type: ignore[no-untyped-def]
    """Text of a scanned PDF through tesseract, when the binary is installed (optional)."""
    binary = shutil.which("tesseract")
    if binary is None:
        return texts, False
    try:
        out = ["\n".join(_tesseract(binary, image.image, limits) for image in page.images)
               for page in reader.pages[:MAX_OCR_PAGES]]
    except Exception as exc:  # noqa: BLE001 - OCR is a bonus: failing it leaves the "scanned" verdict
        log.info("ocr failed: %s", exc)
        return texts, False
    return out, any(t.strip() for t in out)


def _tesseract(binary: str, image, limits: Limits) -> str:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    for args in (["-l", "fra"], []):  # French data may be missing: then tesseract's default language
        run = subprocess.run([binary, "stdin", "stdout", *args], input=buf.getvalue(), capture_output=True,
                             timeout=limits.extraction_timeout_s, check=False)
        if run.returncode == 0:
            return run.stdout.decode("utf-8", "replace")
    return ""


def _outline_sections(reader) -> list[Section]:  # type: ignore[no-untyped-def]
    """Bookmarks, when the author left them: the most faithful section titles a PDF has."""
    sections: list[Section] = []

    def visit(items, level: int) -> None:  # type: ignore[no-untyped-def]
        for item in items:
            if isinstance(item, list):
                visit(item, level + 1)
                continue
            page = _safe_page_number(reader, item)
            location = f"page {page + 1}" if page is not None else ""
            sections.append(Section(str(item.title).strip(), level, location))

    try:
        visit(reader.outline, 1)
    except Exception:  # noqa: BLE001 - a broken outline falls back to the heading heuristic
        return []
    return [s for s in sections if s.title][:500]


def _safe_page_number(reader, item) -> int | None:  # type: ignore[no-untyped-def]
    try:
        return reader.get_destination_page_number(item)
    except Exception:  # noqa: BLE001
        return None


def _heading_sections(texts: list[str]) -> list[Section]:
    """Titled sections from the text layer: short lines that start a block and do not end a sentence.

    Lines repeated on more than two pages are running headers or footers, not titles.
    """
    found: list[tuple[str, int, int, list[str]]] = []  # title, level, page, body lines
    for page_number, text in enumerate(texts, 1):
        starts_block = True  # page start, blank line, end of sentence, or a title just before
        for line in (raw.strip() for raw in text.splitlines()):
            if not line:
                starts_block = True
            elif starts_block and _is_heading(line):
                found.append((line, _level(line), page_number, []))
            else:
                if found:
                    found[-1][3].append(line)
                starts_block = line.endswith(_TERMINAL)
    repeated = {t for t, n in Counter(t for t, _, _, _ in found).items() if n > 2}
    return [Section(title, level, f"page {page}", "\n".join(body))
            for title, level, page, body in found if title not in repeated]


def _is_heading(line: str) -> bool:
    if not 3 <= len(line) <= 80 or len(line.split()) > 12 or line.endswith(_TERMINAL):
        return False
    letters = sum(c.isalpha() for c in line)
    if letters < 3 or sum(c.isdigit() for c in line) > letters:
        return False
    return line[0].isupper() or bool(_NUMBERED.match(line))


def _level(line: str) -> int:
    match = _NUMBERED.match(line)
    if not match or not match.group(1)[0].isdigit():
        return 1
    return match.group(1).rstrip(".").count(".") + 1
