"""Text from mail made safe for a terminal or a spreadsheet: controls shown, never obeyed."""

from __future__ import annotations

import re
from typing import TextIO

# C0 and C1 controls but newline and tab, DEL, and the bidirectional overrides and isolates that reorder
# what a reader sees (Trojan Source): each is written as its \\uXXXX escape, which JSON also reads.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def escape(text: str) -> str:
    """``text`` with every control character a terminal would act on shown as ``\\u001b`` and the like."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def cell(value: str) -> str:
    """A CSV text cell a spreadsheet will not run: a leading formula character gets a quote (OWASP)."""
    return "'" + value if value.startswith(_FORMULA) else value


class SafeStream:
    """A text stream that escapes what is written to it (the CLI's stdout and stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(escape(text))

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)
