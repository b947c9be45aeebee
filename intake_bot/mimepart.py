"""The MIME tree of a message as offsets into its raw bytes: bodies are decoded one at a time, never copied in bulk.

The standard library's parser keeps every body line as a string (several times the message size in
memory); here only header blocks are handed to `email` (policy.default), bodies stay in the buffer.
"""

from __future__ import annotations

import binascii
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from itertools import pairwise

from .limits import Limits

_HEADER_PARSER = BytesHeaderParser(policy=policy.default)
_FIELD_NAME = re.compile(rb"[!-9;-~]+[ \t]*:")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
CHUNK = 1024 * 1024
_GUESSED_BOUNDARY = re.compile(rb"^--([0-9A-Za-z'()+_,./:=?-]{1,70})\r?$", re.MULTILINE)  # RFC 2046 bchars, no space
MAX_PARTS = 2000  # MIME parts per message; a message of a million empty parts is an attack, not a dossier


@dataclass
class Part:
    """One MIME entity: its headers, where its body lies in `buf`, its sub-parts, what was wrong with it."""

    headers: EmailMessage
    buf: bytes
    start: int
    end: int
    children: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)  # codes of problem.DEFECTS (and 'truncated-base64')
    default_type: str = "text/plain"

    @property
    def content_type(self) -> str:
        if "content-type" not in self.headers:
            return self.default_type
        return safe(self.headers.get_content_type, self.default_type)

    @property
    def transfer_encoding(self) -> str:
        value = safe(lambda: str(self.headers.get("content-transfer-encoding", "")), "")
        return value.strip().lower()

    @property
    def size(self) -> int:
        return self.end - self.start

    def param(self, name: str, header: str = "content-type") -> str | None:
        value = safe(lambda: self.headers.get_param(name, header=header), None)
        if isinstance(value, tuple):  # undecodable RFC 2231 value: (charset, language, raw)
            value = value[2]
        return None if value is None else str(value)

    def body(self) -> tuple[bytes, list[str]]:
        """The decoded body and the codes of what went wrong decoding it."""
        return decode(memoryview(self.buf)[self.start:self.end], self.transfer_encoding)

    def walk(self):  # type: ignore[no-untyped-def]
        yield self
        for child in self.children:
            yield from child.walk()


def safe(getter, default):  # type: ignore[no-untyped-def]
    """Header access on hostile input: policy.default raises on a few malformed values."""
    try:
        return getter()
    except Exception:  # noqa: BLE001 - any parser bug on any header must degrade, not abort the message
        return default


def recovered(headers: EmailMessage, name: str) -> str | None:
    """The first `name` header with raw 8-bit bytes decoded as UTF-8 or Windows-1252 (policy.default shows U+FFFD)."""
    for key, value in safe(headers.raw_items, []):
        if key.lower() == name:
            return eight_bit(str(value))
    return None


def eight_bit(raw: str) -> str:
    """A raw header value (8-bit bytes kept as surrogates by the parser) decoded as UTF-8, else Windows-1252."""
    try:
        data = raw.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already text
        return raw
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def decode(view: memoryview | bytes, encoding: str) -> tuple[bytes, list[str]]:
    """Undo a Content-Transfer-Encoding; unknown encodings are returned as they are (bytes: the same object)."""
    if encoding == "base64":
        return _base64(chunks(view))
    return _unquoted(bytes(view), encoding)


def chunks(view: memoryview | bytes, size: int = CHUNK) -> Iterator[memoryview]:
    whole = memoryview(view)
    return (whole[i:i + size] for i in range(0, len(whole), size))


def decode_chunks(pieces: Iterable[memoryview | bytes], encoding: str) -> tuple[bytes, list[str]]:
    """Decode a body arriving piece by piece (from a pipe, or a slice of the message) without holding it whole."""
    if encoding == "base64":
        return _base64(pieces)
    return _unquoted(b"".join(pieces), encoding)


def _unquoted(data: bytes, encoding: str) -> tuple[bytes, list[str]]:
    return (binascii.a2b_qp(data), []) if encoding == "quoted-printable" else (data, [])


def _base64(pieces: Iterable[memoryview | bytes]) -> tuple[bytes, list[str]]:
    """Base64 in blocks of whole quanta; a leftover partial quantum at the end means the body was cut."""
    out, carry, defects = io.BytesIO(), b"", []
    for piece in pieces:
        clean = carry + bytes(piece).translate(None, b" \t\r\n")
        usable = len(clean) - len(clean) % 4
        try:
            out.write(binascii.a2b_base64(clean[:usable]))
        except binascii.Error:  # stray characters: keep the base64 alphabet only
            clean, usable = _realign(clean)
            out.write(_lenient(clean[:usable]))
        carry = clean[usable:]
    rest = carry.rstrip(b"=")
    if rest:  # 1 to 3 characters of an unfinished quantum: keep what they encode, say the body was cut
        defects.append("truncated-base64")
        if len(rest) > 1:
            out.write(binascii.a2b_base64(rest + b"=" * (4 - len(rest))))
    return out.getvalue(), defects  # BytesIO hands over its buffer: no copy of a 40 MB file


def _lenient(block: bytes) -> bytes:
    try:
        return binascii.a2b_base64(block)
    except binascii.Error:  # padding in the middle of a block: decode what precedes it
        return binascii.a2b_base64(block.partition(b"=")[0][: len(block.partition(b"=")[0]) // 4 * 4])


def _realign(block: bytes) -> tuple[bytes, int]:
    clean = _NOT_BASE64.sub(b"", block)
    return clean, len(clean) - len(clean) % 4


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits, self.parts = limits, 0


def parse(buf: bytes, limits: Limits, start: int = 0, end: int | None = None) -> Part:
    """The MIME tree of `buf[start:end]`; never raises on malformed input, records defects instead."""
    return _entity(buf, start, len(buf) if end is None else end, _Budget(limits), 0, "text/plain")


def _entity(buf: bytes, start: int, end: int, budget: _Budget, depth: int, default_type: str) -> Part:
    budget.parts += 1
    if depth == 0 and buf.startswith(b"From ", start):  # mbox separator line
        start = _line_end(buf, start, end)
    header_end, body_start, defects = _header_block(buf, start, end, budget.limits.max_header_bytes)
    headers = safe(lambda: _HEADER_PARSER.parsebytes(buf[start:header_end]), None) or EmailMessage()
    part = Part(headers, buf, body_start, end, defects=defects, default_type=default_type)
    if depth >= budget.limits.max_mime_depth or budget.parts > MAX_PARTS:
        part.defects.append("too-many-parts")
        return part
    ctype = part.content_type
    if ctype.startswith("multipart/"):
        _multipart(part, budget, depth)
    elif ctype in ("message/rfc822", "message/global"):
        _embedded(part, budget, depth)
    return part


def _line_end(buf: bytes, pos: int, end: int) -> int:
    nl = buf.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def _header_block(buf: bytes, start: int, end: int, cap: int) -> tuple[int, int, list[str]]:
    """(end of the header block, start of the body, defects) for the entity starting at `start`."""
    pos, limit = start, min(end, start + cap)
    while pos < limit:
        if buf.startswith(b"\n", pos) or buf.startswith(b"\r\n", pos):
            return pos, _line_end(buf, pos, end), []
        if not (buf.startswith((b" ", b"\t"), pos) or _FIELD_NAME.match(buf, pos, min(end, pos + 1000))):
            return pos, pos, ["no-separator"] if pos > start else []
        pos = _line_end(buf, pos, end)
    if pos >= end:
        return end, end, []
    return pos, pos, ["header-too-large"]


def _multipart(part: Part, budget: _Budget, depth: int) -> None:
    boundary = part.param("boundary")
    if not boundary:
        part.defects.append("no-boundary")
        guess = _GUESSED_BOUNDARY.search(part.buf, part.start, min(part.end, part.start + 64 * 1024))
        if guess is None or not re.search(rb"[0-9A-Za-z]", guess.group(1)):  # a line of dashes is not a boundary
            return
        boundary = guess.group(1).decode("ascii")
    delimiters, closed = _delimiters(part.buf, part.start, part.end, b"--" + boundary.encode("utf-8", "replace"))
    if not delimiters:
        part.defects.append("boundary-not-found")
        return
    if not closed:
        part.defects.append("no-closing-boundary")
    child_type = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    bounds = [(line_end, _before_break(part.buf, nxt)) for (_, line_end), (nxt, _) in pairwise(delimiters)]
    if not closed:
        bounds.append((delimiters[-1][1], part.end))
    for s, e in bounds:
        if budget.parts > MAX_PARTS:
            part.defects.append("too-many-parts")
            break
        if e > s:  # two boundary lines in a row: no part between them
            part.children.append(_entity(part.buf, s, e, budget, depth + 1, child_type))


def _delimiters(buf: bytes, start: int, end: int, delim: bytes) -> tuple[list[tuple[int, int]], bool]:
    """(start, end of line) of each boundary line up to and including the closing one, and whether it closed."""
    found: list[tuple[int, int]] = []
    pos = start
    while (i := buf.find(delim, pos, end)) >= 0:
        pos = i + len(delim)
        if i != start and buf[i - 1] != 0x0A:
            continue
        close = buf.startswith(b"--", pos, end)
        line_end = _line_end(buf, pos, end)
        rest = buf[pos + 2 * close: min(line_end, pos + 200)]
        if rest.strip():
            continue
        found.append((i, line_end))
        if close:
            return found, True
    return found, False


def _before_break(buf: bytes, pos: int) -> int:
    """The end of a part body: the line break before a boundary belongs to the boundary."""
    if buf[pos - 2:pos] == b"\r\n":
        return pos - 2
    return pos - 1 if buf[pos - 1:pos] == b"\n" else pos


def _embedded(part: Part, budget: _Budget, depth: int) -> None:
    """A forwarded message: its own tree, decoded first if a mailer transfer-encoded it."""
    if part.transfer_encoding in ("base64", "quoted-printable"):
        data, defects = part.body()
        part.defects.extend(defects)
        part.children.append(_entity(data, 0, len(data), budget, depth + 1, "text/plain"))
    else:
        part.children.append(_entity(part.buf, part.start, part.end, budget, depth + 1, "text/plain"))
