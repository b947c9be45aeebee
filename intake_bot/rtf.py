"""Outlook's compressed RTF bodies (MS-OXRTFCP) to text, HTML-encapsulated ones (MS-OXRTFEX) included."""

from __future__ import annotations

import re
import struct

from .htmltext import html_to_text

_PREBUF = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
           b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
           b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx")
_COMPRESSED, _RAW = 0x75465A4C, 0x414C454D
MAX_RTF = 20 * 1024 * 1024
_TOKEN = re.compile(rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|([^\\{}\r\n]+)|[\r\n]+", re.DOTALL)
_DESTINATIONS = frozenset({b"fonttbl", b"colortbl", b"stylesheet", b"info", b"pict", b"header", b"footer", b"object",
                           b"listtable", b"listoverridetable", b"themedata", b"datastore", b"latentstyles",
                           b"xmlnstbl", b"rsidtbl", b"generator", b"mmathPr", b"fldinst", b"filetbl", b"revtbl"})
_BREAKS = {b"par": "\n", b"line": "\n", b"row": "\n", b"tab": "\t", b"cell": "\t", b"emdash": "—", b"endash": "–",
           b"lquote": "‘", b"rquote": "’", b"ldblquote": "“", b"rdblquote": "”", b"bullet": "•"}


def decompress(data: bytes) -> bytes:
    """The RTF bytes of a PR_RTF_COMPRESSED property (LZFu, or stored as is: 'MELA')."""
    if len(data) < 16:
        raise ValueError("compressed RTF header truncated")
    size, raw_size, kind, _crc = struct.unpack_from("<IIII", data)
    if kind == _RAW:
        return data[16:16 + raw_size]
    if kind != _COMPRESSED:
        raise ValueError("unknown compressed RTF type")
    window = bytearray(4096)
    window[: len(_PREBUF)] = _PREBUF
    write, out, pos, end = len(_PREBUF), bytearray(), 16, min(len(data), size + 4)
    while pos < end and len(out) < min(raw_size, MAX_RTF):
        flags, pos = data[pos], pos + 1
        for bit in range(8):
            if pos >= end:
                break
            if not flags & (1 << bit):
                window[write], write = data[pos], (write + 1) % 4096
                out.append(data[pos])
                pos += 1
                continue
            token, pos = (data[pos] << 8) | data[pos + 1] if pos + 1 < end else 0, pos + 2
            offset, length = token >> 4, (token & 0xF) + 2
            if offset == write:
                return bytes(out)
            for i in range(length):
                byte = window[(offset + i) % 4096]
                window[write], write = byte, (write + 1) % 4096
                out.append(byte)
    return bytes(out)


def rtf_body_text(compressed: bytes) -> str:
    """Readable text of an Outlook RTF body; '' when it cannot be decoded."""
    try:
        rtf = decompress(compressed)
    except (ValueError, IndexError, struct.error):
        return ""
    text = to_text(rtf)
    return html_to_text(text) if b"\\fromhtml" in rtf[:1000] else text.strip()


def to_text(rtf: bytes) -> str:
    """Text of an RTF document; for \\fromhtml1 bodies the HTML they encapsulate (MS-OXRTFEX)."""
    reader = _Reader(b"\\fromhtml" in rtf[:1000])
    for match in _TOKEN.finditer(rtf):
        if match.lastindex is not None:  # bare line breaks of the RTF source are not text
            reader.token(*match.group(1, 2, 3, 4, 5, 6))
    return "".join(reader.out)


class _Reader:
    def __init__(self, html: bool) -> None:
        self.html, self.out = html, []  # type: ignore[var-annotated]
        self.stack: list[tuple[bool, int]] = []
        self.skip, self.unicode_skip, self.pending, self.rtf_only, self.star = False, 1, 0, False, False

    def token(self, word, arg, hexa, symbol, brace, text) -> None:  # type: ignore[no-untyped-def]
        if brace is not None:
            self._brace(brace)
        elif word is not None:
            self._word(word, arg)
        elif symbol == b"*":
            self.star = True
        elif not (self.skip or self.rtf_only):
            if hexa is not None:
                self._text(bytes([int(hexa, 16)]).decode("cp1252", errors="replace"))
            elif symbol is not None:
                self._text({b"~": "\u00a0", b"-": "", b"_": "-"}.get(symbol, symbol.decode("latin-1")))
            elif text is not None:
                self._text(text.decode("cp1252", errors="replace"))

    def _brace(self, brace: bytes) -> None:
        if brace == b"{":
            self.stack.append((self.skip, self.unicode_skip))
        else:
            self.skip, self.unicode_skip = self.stack.pop() if self.stack else (False, 1)

    def _word(self, word: bytes, arg: bytes | None) -> None:
        star, self.star = self.star, False
        if word == b"htmlrtf":
            self.rtf_only = arg != b"0"
        elif word.startswith(b"htmltag"):
            self.skip = self.skip or not self.html
        elif word in _DESTINATIONS or star:
            self.skip = True
        elif word == b"uc":
            self.unicode_skip = int(arg or 1)
        elif self.skip or self.rtf_only:
            return
        elif word == b"u" and arg:
            self.out.append(chr(int(arg) % 65536))
            self.pending = self.unicode_skip
        elif word in _BREAKS and not (self.html and word == b"tab"):
            self.out.append("\r\n" if self.html and word == b"par" else _BREAKS[word])

    def _text(self, text: str) -> None:
        if self.pending:  # the ANSI fallback characters that follow a \\u escape
            text, self.pending = text[self.pending:], max(0, self.pending - len(text))
        self.out.append(text)
