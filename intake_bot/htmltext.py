"""HTML to plain text with the standard library's html.parser (no GPL dependency), and the images it shows."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
_BLOCK = frozenset({"p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table", "ul", "ol",
                    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "address", "dl", "dt", "dd", "form", "fieldset"})
_ROW = frozenset({"tr", "li", "br"})
_BLANKS = re.compile(r"[ \u00a0]+")
_LINES = re.compile(r"\n{3,}")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0
        self.sources: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "img":
            self.sources.update((v or "").strip() for k, v in attrs if k == "src")
        elif tag in ("td", "th"):
            self.chunks.append("\t")
        elif tag == "li":
            self.chunks.append("\n- ")
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:  # <br/>, <img/>: one start, no end (the default would add a second break)
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag != "li":
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.chunks.append(data)

    def _break(self, tag: str) -> None:
        if tag in _BLOCK:
            self.chunks.append("\n\n")
        elif tag in _ROW and tag != "li":
            self.chunks.append("\n")


def _read(html: str) -> _Reader:
    reader = _Reader()
    try:
        reader.feed(html)
        reader.close()
    except (AssertionError, ValueError):  # html.parser's last-resort errors on hopeless markup
        pass
    return reader


def html_to_text(html: str) -> str:
    """The readable text of an HTML document: blocks become paragraphs, cells are tab-separated."""
    raw = "".join(_read(html).chunks).replace("\r", "")
    lines = [_BLANKS.sub(" ", line).strip() for line in raw.split("\n")]
    return _LINES.sub("\n\n", "\n".join(lines)).strip()


def image_sources(html: str) -> set[str]:
    """The `src` of every <img>: `cid:` references tell inline images from attached ones."""
    return _read(html).sources
