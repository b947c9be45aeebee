"""A small, bounded BER/DER reader: enough to walk the PKCS#7 / CMS structures of S/MIME mail."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DEPTH = 40  # PKCS#7 nests about 15 levels; deeper is garbage or an attack
MAX_NODES = 20_000


class BerError(ValueError):
    """The bytes are not the BER structure they claim to be."""


@dataclass
class Node:
    """One TLV: `tag` is the first identifier octet (0x30 SEQUENCE, 0xA0 [0] constructed, ...)."""

    tag: int
    number: int
    start: int  # content start
    end: int  # content end (exclusive)
    children: list[Node] = field(default_factory=list)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def child(self, index: int) -> Node:
        if index >= len(self.children):
            raise BerError(f"expected at least {index + 1} elements, found {len(self.children)}")
        return self.children[index]


def parse(buf: bytes) -> Node:
    """The first element of `buf` with all its descendants (raises BerError on malformed input)."""
    counter = [0]
    node, _ = _element(buf, 0, len(buf), 0, counter)
    return node


def _element(buf: bytes, pos: int, end: int, depth: int, counter: list[int]) -> tuple[Node, int]:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise BerError("structure too deep or too large")
    tag, number, pos = _identifier(buf, pos, end)
    length, pos = _length(buf, pos, end)
    node = Node(tag, number, pos, pos)
    if length is None:  # indefinite form: children up to the end-of-contents octets
        if not node.constructed:
            raise BerError("indefinite length on a primitive element")
        while not buf.startswith(b"\x00\x00", pos):
            child, pos = _element(buf, pos, end, depth + 1, counter)
            node.children.append(child)
        node.end = pos
        return node, pos + 2
    node.end = pos + length
    if node.end > end:
        raise BerError("element runs past its container")
    if node.constructed:
        inner = pos
        while inner < node.end:
            child, inner = _element(buf, inner, node.end, depth + 1, counter)
            node.children.append(child)
    return node, node.end


def _identifier(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    if pos >= end:
        raise BerError("truncated identifier")
    tag = buf[pos]
    number, pos = tag & 0x1F, pos + 1
    if number == 0x1F:  # high tag number form
        number = 0
        for _ in range(4):
            if pos >= end:
                raise BerError("truncated tag number")
            octet, pos = buf[pos], pos + 1
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
    return tag, number, pos


def _length(buf: bytes, pos: int, end: int) -> tuple[int | None, int]:
    if pos >= end:
        raise BerError("truncated length")
    first, pos = buf[pos], pos + 1
    if first < 0x80:
        return first, pos
    if first == 0x80:
        return None, pos
    count = first & 0x7F
    if count > 4 or pos + count > end:
        raise BerError("length field too long or truncated")
    return int.from_bytes(buf[pos:pos + count], "big"), pos + count


def octets(buf: bytes, node: Node) -> bytes:
    """The value of an OCTET STRING, primitive or constructed (BER chunks)."""
    if not node.constructed:
        return buf[node.start:node.end]
    return b"".join(octets(buf, child) for child in node.children)


def oid(buf: bytes, node: Node) -> str:
    """Dotted form of an OBJECT IDENTIFIER."""
    values, current = [], 0
    for octet in buf[node.start:node.end]:
        current = (current << 7) | (octet & 0x7F)
        if not octet & 0x80:
            values.append(current)
            current = 0
    if not values:
        raise BerError("empty object identifier")
    first = min(values[0] // 40, 2)
    return ".".join(str(v) for v in [first, values[0] - 40 * first, *values[1:]])


def text(buf: bytes, node: Node) -> str:
    """A directory string (UTF8String, PrintableString, BMPString, ...) as text."""
    raw = buf[node.start:node.end]
    codec = {0x1E: "utf-16-be", 0x1C: "utf-32-be", 0x14: "latin-1"}.get(node.tag, "utf-8")
    return raw.decode(codec, errors="replace")
