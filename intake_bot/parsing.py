"""Raw message bytes to a ParsedMessage: envelope, headers, body, pieces; bad input becomes stated problems.

The MIME tree is walked by `mimepart` (offsets into the raw bytes, header blocks parsed by the standard
library's `email` with policy.default) rather than by mail-parser, which keeps every part decoded and
re-encoded in memory: a 50 MB dossier must not cost 300 MB. Documents are read by `extract`.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from . import mimepart
from .content import Walker, file_parts
from .extract import Read, extract_encoded
from .limits import Limits
from .model import ParsedMessage
from .problem import problem

__all__ = ["parse_here", "parse_message", "part_with_digest"]

log = logging.getLogger("intake_bot.parsing")
_MSGID = re.compile(r"<[^<>\s]+>")
_FOLD = re.compile(r"\r?\n[ \t]*")
_ADDRESS_HEADERS = ("from", "to", "cc")


DEFAULT_LIMITS = Limits()


WHOLE_MESSAGE_BYTES = 8 * 1024 * 1024  # up to this size a message is parsed whole in the extraction worker


def parse_message(raw: bytes, limits: Limits = DEFAULT_LIMITS, *, inline: bool = False) -> ParsedMessage:
    """Everything the core needs from one message; never raises on bad input (problems say what was wrong).

    A message up to WHOLE_MESSAGE_BYTES is parsed entirely in the extraction worker (one round trip; this
    process only waits). A larger one, or one the worker failed on, is parsed here and its documents are sent
    to the worker one by one, from their encoded slices. `inline=True` reads everything in this process
    (tests, benchmarks of the parser).
    """
    if not inline and len(raw) <= WHOLE_MESSAGE_BYTES:
        from .worker import default_pool

        parsed = default_pool().parse(raw, limits)
        if parsed is not None:
            return parsed

    try:
        return _parse(raw, limits, _extractor(limits, inline))
    except Exception as exc:  # last line of defence: a parser bug must not lose the message
        log.exception("message could not be parsed (%d bytes)", len(raw))
        return _fallback(raw, limits, exc)


def parse_here(raw: bytes, limits: Limits, progress: Callable[[], None]) -> ParsedMessage:
    """The worker's side of `parse_message`: documents read in this process, each announced by `progress`.
    Errors raise (the parent then reads the message piece by piece)."""
    return _parse(raw, limits, _extractor(limits, True, progress))


def _extractor(limits: Limits, inline: bool, progress: Callable[[], None] = lambda: None
               ) -> Callable[[str, str, memoryview, str, int], Read]:
    """How the walk reads each document: in this process (`inline`) or in the worker, announced by `progress`."""

    def extractor(name: str, ctype: str, body: memoryview, encoding: str, depth: int) -> Read:
        progress()
        return extract_encoded(name, ctype, body, encoding, limits, inline=inline, depth=depth)

    return extractor


def _parse(raw: bytes, limits: Limits, extractor: Any) -> ParsedMessage:
    if len(raw) > limits.max_message_bytes:
        root = mimepart.parse(raw, limits, end=_header_end(raw, limits))
        too_large = problem("message-too-large", size=len(raw), limit=limits.max_message_bytes)
        return ParsedMessage(**envelope(root.headers), problems=(too_large,))
    root = mimepart.parse(raw, limits)
    walker = Walker(limits, extractor)
    content = walker.message(root, depth=0)
    problems, body = list(content.problems), content.body_text
    if len(body) > limits.max_text_chars:
        body = body[: limits.max_text_chars]
        problems.append(problem("text-truncated", limit=limits.max_text_chars))
    if walker.dropped:
        problems.append(problem("too-many-attachments", count=walker.count + walker.dropped,
                                limit=limits.max_attachments))
    return ParsedMessage(**envelope(root.headers), body_text=body,
                         attachments=tuple(content.attachments), problems=tuple(problems),
                         signatures=tuple(content.signatures), is_report=root.content_type == "multipart/report")


def part_with_digest(raw: bytes, sha256: str, limits: Limits = DEFAULT_LIMITS) -> bytes | None:
    """The decoded bytes of the first piece of `raw` whose SHA-256 is `sha256`, or None.

    Looks at the parts `parse_message` lists as files, on its walk: attachments and inline images, through
    multipart/* (signed, related, digest…) and opaque S/MIME signed data, forwarded messages (message/rfc822,
    the message itself and its own pieces). Body text is not a piece; pieces inside ZIP archives, winmail.dat
    or attached .eml files are not looked for. One part is decoded at a time.
    """
    wanted = sha256.strip().lower()
    for part in file_parts(mimepart.parse(raw, limits), limits):
        data, _ = part.body()
        if hashlib.sha256(data).hexdigest() == wanted:
            return data
        del data  # not two decoded pieces in memory at once
    return None


def _header_end(raw: bytes, limits: Limits) -> int:
    """End of the top header block (a blank line), searched within the header size limit only."""
    window = raw[: limits.max_header_bytes]
    ends = [i for i in (window.find(b"\n\n"), window.find(b"\r\n\r\n")) if i >= 0]
    return min(ends) + 1 if ends else len(window)


def _fallback(raw: bytes, limits: Limits, exc: Exception) -> ParsedMessage:
    found = problem("malformed-mime", detail_fr="le message n'a pas pu être analysé", detail_en=repr(exc)[:300])
    try:
        root = mimepart.parse(raw, limits, end=_header_end(raw, limits))
        return ParsedMessage(**envelope(root.headers), problems=(found,))
    except Exception:  # noqa: BLE001 - even the headers are unreadable: an empty envelope with the reason
        return ParsedMessage(message_id=None, subject="", from_addr="", problems=(found,))


def envelope(headers: EmailMessage) -> dict[str, Any]:
    """The ParsedMessage fields that come from the top-level headers."""
    addresses = {name: _addresses(headers, name) for name in _ADDRESS_HEADERS}
    sender = addresses["from"][0] if addresses["from"] else ("", "")
    return {
        "message_id": _first_id(_value(headers, "message-id")),
        "subject": _value(headers, "subject"),
        "from_addr": sender[1],
        "from_name": sender[0],
        "to": tuple(a for _, a in addresses["to"]),
        "cc": tuple(a for _, a in addresses["cc"]),
        "date_header": _date(headers),
        "in_reply_to": tuple(_MSGID.findall(_value(headers, "in-reply-to"))),
        "references": tuple(_MSGID.findall(_value(headers, "references"))),
        "headers": all_headers(headers),
    }


def all_headers(headers: EmailMessage) -> dict[str, tuple[str, ...]]:
    """Every header, lower-case name -> decoded values in message order (RFC 2047 decoded, unfolded)."""
    found: dict[str, list[str]] = {}
    for name, raw in mimepart.safe(headers.raw_items, []):
        value = mimepart.safe(lambda n=name, r=raw: str(headers.policy.header_fetch_parse(n, r)), None)
        if value is None or "\ufffd" in value:
            value = mimepart.eight_bit(str(raw))
        found.setdefault(name.lower(), []).append(_unfold(value))
    return {name: tuple(values) for name, values in found.items()}


def _value(headers: EmailMessage, name: str) -> str:
    value = mimepart.safe(lambda: headers.get(name), None)
    if value is None or "\ufffd" in str(value):  # unparseable, or raw 8-bit bytes: read the raw header again
        return _unfold(mimepart.recovered(headers, name) or str(value or ""))
    return _unfold(str(value))


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", value).strip()


def _addresses(headers: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; falls back to the lenient email.utils parser."""
    try:
        found = [(a.display_name, a.addr_spec) for h in headers.get_all(name, []) for a in h.addresses]
    except Exception:  # noqa: BLE001 - policy.default raises on some malformed address lists
        found = email.utils.getaddresses([_value(headers, name)])
    return [(display.strip(), spec.strip().lower()) for display, spec in found if spec.strip() not in ("", "<>")]


def _first_id(value: str) -> str | None:
    match = _MSGID.search(value)
    return match.group(0) if match else (value.strip() or None)


def _date(headers: EmailMessage) -> datetime | None:
    parsed = mimepart.safe(lambda: headers["date"].datetime if headers["date"] is not None else None, None)
    if parsed is None and _value(headers, "date"):
        parsed = mimepart.safe(lambda: email.utils.parsedate_to_datetime(_value(headers, "date")), None)
    return parsed

