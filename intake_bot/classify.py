"""Which kit item each piece of a dossier is, and whether a text is the cover letter (pure)."""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .model import Attachment

if TYPE_CHECKING:
    from .kit import Kit, KitItem

BODY = "corps du message"  # the evidence "file name" when the email body itself is the cover letter
MIN_SCORE = 3
TEXT_LIMIT = 60_000  # characters of a piece's text looked at for keywords
_FOLD = str.maketrans({"œ": "oe", "æ": "ae", "\u2019": "'", "\u02bc": "'", "\u2018": "'", "\u00a0": " ",
                       "\u202f": " ", "\u2009": " ", "\u2013": "-", "\u2014": "-"})
_LETTERHEAD = re.compile(r"(ministere|republique|liberte|egalite|fraternite|secretariat|direction|paris, le"
                         r"|(le|la) secretaire|madame|monsieur)\b")
_SIGNATURE_LEAD = re.compile(r"^(pour [^,]*,\s*)?((le|la)\s+)?")


class _Folding(dict[int, str]):
    """fold() of each character, on first sight: NFKD works char by char, and the marks it reorders are dropped."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code).translate(_FOLD))
        if len(self) > 65_536:  # hostile text may use every code point: the table stays bounded
            self.clear()
        folded = self[code] = "".join(c for c in decomposed if not unicodedata.combining(c))
        return folded


_FOLDING = _Folding()


def fold(text: str) -> str:
    """Lower case, no accents, plain apostrophes and spaces: how kit terms and texts are compared."""
    lowered = text.lower()
    return lowered if lowered.isascii() else lowered.translate(_FOLDING)


@lru_cache(maxsize=4096)
def _term(term: str) -> tuple[str, re.Pattern[str]]:
    """A kit term's first word, and its whole-word pattern over folded text; punctuation- and plural-tolerant
    both ways. The first word leads (the regex engine skips ahead to it) then looks behind itself; a text
    without the first word cannot match."""
    words = re.findall(r"[a-z0-9]+", fold(term))
    if words and len(words[-1]) > 3 and words[-1][-1] in "sx":
        words[-1] = words[-1][:-1]  # "jalons" also matches "jalon", "risques" "risque"
    first, *others = words or [""]
    lead = rf"{first}(?<![a-z0-9][\s\S]{{{len(first)}}})" if first else r"(?<![a-z0-9])"
    return first, re.compile(lead + "".join(r"[^a-z0-9]+" + w for w in others) + r"[sx]?(?![a-z0-9])")


@lru_cache(maxsize=1024)
def _compiled(terms: tuple[str, ...]) -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    return tuple((t, *_term(t)) for t in terms)


def _found(terms: tuple[str, ...], folded: str) -> list[str]:
    return [t for t, lead, pattern in _compiled(terms) if lead in folded and pattern.search(folded)]


def _named(kit: Kit, folded: str, field: str, sections_only: bool = False) -> dict[str, list[str]]:
    """Items whose ``field`` terms occur in ``folded``, dropping an item whose every hit lies inside a
    longer hit of another item ("stratégie d'achat" names réalisation, not stratégie)."""
    hits = {item.id: [(m.start(), m.end(), t) for t, lead, pattern in _compiled(getattr(item, field))
                      if lead in folded for m in pattern.finditer(folded)]
            for item in kit.items if item.by_section or not sections_only}

    def inside(span: tuple[int, int, str], owner: str) -> bool:
        return any(o[0] <= span[0] and span[1] <= o[1] and o[1] - o[0] > span[1] - span[0]
                   for other, spans in hits.items() if other != owner for o in spans)

    return {i: sorted({s[2] for s in spans}) for i, spans in hits.items()
            if spans and not all(inside(s, i) for s in spans)}


def items_named_by(kit: Kit, title: str, *, sections_only: bool = False) -> tuple[KitItem, ...]:
    """The items a title or heading names ("Gouvernance et comitologie" -> gouvernance)."""
    named = _named(kit, fold(title), "titles", sections_only)
    return tuple(item for item in kit.items if item.id in named)


def signed(markers: tuple[str, ...], text: str, folded: str) -> bool:
    """A short line reading "(Pour le ministre…,) Le/La <signatory marker>…" — a signature block.
    ``folded`` is fold(text): no line can be one when no marker's first word is in it."""
    if not any(lead in folded for _, lead, _ in _compiled(markers)):
        return False
    for line in text.splitlines():
        if len(line) <= 100:
            rest = _SIGNATURE_LEAD.sub("", fold(line).strip(), count=1)
            if any(pattern.match(rest) for _, _, pattern in _compiled(markers)):
                return True
    return False


def _letter_score(kit: Kit, text: str, folded: str) -> tuple[int, list[str]]:
    """``folded`` is fold(text[:TEXT_LIMIT]), where terms are looked for; signature blocks, in all the text."""
    markers, whole = kit.letter, folded if len(text) <= TEXT_LIMIT else fold(text)
    groups = [(2 if _found(markers.addressee, folded) else 0, "adressé au directeur de la DINUM"),
              (2 if _found(markers.request, folded) else 0, "demande d'avis"),
              (2 if signed(markers.signatory, text, whole) else int(bool(_found(markers.signatory, folded))),
               "signé du secrétaire général")]
    return sum(s for s, _ in groups), [why for s, why in groups if s]


def is_cover_letter(kit: Kit, text: str) -> bool:
    """Addressed to the DINUM director, asking for an avis, with a secrétaire général signature block."""
    return _letter_score(kit, text, fold(text[:TEXT_LIMIT]))[0] == 6


@dataclass(frozen=True)
class ItemMatch:
    """The kit item a piece most likely is, its score, and why (French, for staff)."""

    item_id: str
    score: int
    why: str


def _filename_words(name: str) -> str:
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name)
    return fold(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem))


def _title_items(kit: Kit, text: str) -> dict[str, list[str]]:
    """Items named by the document's title: its first line that is not part of a letterhead."""
    lines = (fold(line).strip() for line in text.splitlines()[:30] if line.strip())
    title = next((line for line in lines if not _LETTERHEAD.match(line)), "")
    return _named(kit, title[:200], "titles") if title else {}


Signals = Mapping[str, dict[str, list[str]]]


def _score(item: KitItem, signals: Signals, headings: int, folded: str) -> tuple[int, list[str]]:
    score, why = 0, []
    for signal, label in (("name", "nom de fichier"), ("title", "titre")):
        if item.id in signals[signal]:
            score += 4
            why.append(f"{label} ({', '.join(signals[signal][item.id])})")
    if headings:
        score += min(headings, 2)
        why.append(f"{headings} intitulé(s) de section")
    keywords = _found(item.keywords, folded)
    if keywords:
        score += min(len(keywords), 3)
        why.append(f"mots-clés ({', '.join(keywords[:5])})")
    return score, why


_RECENT: OrderedDict[int, tuple[weakref.ref[Kit], weakref.ref[Attachment], ItemMatch | None]] = OrderedDict()


def classify_piece(kit: Kit, attachment: Attachment) -> ItemMatch | None:
    """Score every kit item against the file name, title, section headings and text; the best, if any.
    The last pieces are remembered by identity (a weak reference: never a recycled id): the kit report,
    the intake and the facts of one message each ask for its pieces, which are classified once."""
    if (seen := _RECENT.get(id(attachment))) and seen[0]() is kit and seen[1]() is attachment:
        return seen[2]
    match = _classify(kit, attachment)
    _RECENT[id(attachment)] = (weakref.ref(kit), weakref.ref(attachment), match)
    if len(_RECENT) > 256:
        _RECENT.popitem(last=False)
    return match


def _classify(kit: Kit, attachment: Attachment) -> ItemMatch | None:
    text = attachment.text[:TEXT_LIMIT]
    folded = fold(text)
    signals = {"name": _named(kit, _filename_words(attachment.filename), "filename_hints"),
               "title": _title_items(kit, text)}
    headings = [_named(kit, fold(s.title), "titles") for s in attachment.sections]
    letter, letter_why = _letter_score(kit, text, folded)
    best: ItemMatch | None = None
    best_rank = (0, False)
    for item in kit.items:
        score, why = _score(item, signals, sum(item.id in h for h in headings), folded)
        if item.id == kit.letter.item and letter >= 4:
            score, why = score + letter, why + letter_why
        rank = (score, item.id in signals["name"])  # on a tie, the file name the ministry chose decides
        if score >= MIN_SCORE and (best is None or rank > best_rank):
            best, best_rank = ItemMatch(item.id, score, "; ".join(why)), rank
    return best
