"""French (and English-ish) money phrases in free text, turned into whole euros; finding the global cost."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_SP = "[ \u00a0\u202f\u2009\u2007]"  # space, no-break, narrow no-break, thin, figure space
_GAP = rf"{_SP}*\n?{_SP}*"  # between a number and its unit: spaces and at most one line break (PDF wrapping)
_APOS = "['\u2019\u02bc]"
# At most five groups of thousands: bounded backtracking on long runs of numbers (tables, phone lists).
_NUM_FR = rf"\d{{1,3}}(?:(?:{_SP}|\.)\d{{3}}){{1,5}}(?:,\d+)?|\d+(?:[,.]\d+)?"
_NUM_EN = rf"\d{{1,3}}(?:[,{_SP[1:-1]}]\d{{3}}){{1,5}}(?:\.\d+)?|\d+(?:[.,]\d+)?"
_MULT_FR = r"milliards?|mds?|mrds?|millions?|m|milliers?|k"  # French "billion" is 10**12: not a unit here
_CUR = rf"€|eur(?:os?)?(?![a-z])|d{_APOS}{_SP}?(?:euros?|€)|de{_SP}+euros?"
_TAXES = rf"ttc|t\.t\.c\.?|toutes{_SP}+taxes{_SP}+comprises|ht|h\.t\.?|hors{_SP}+taxes?"
_TAX = rf"(?:{_GAP}(?:\((?P<taxp>{_TAXES})\)|(?P<tax>{_TAXES})(?![a-z])))?"
_SUFFIX = rf"(?<![\w.,])(?P<num>{_NUM_FR}){_GAP}(?:(?P<mult>{_MULT_FR}){_GAP})?(?P<cur>{_CUR})"
_MULT_EN = r"bn|billions?|milliards?|md|millions?|m|k"
_PREFIX = rf"(?:€|\beur\b){_SP}*(?P<num2>{_NUM_EN})(?:{_SP}*(?P<mult2>{_MULT_EN}))?(?![\w])"
_MONEY = re.compile(rf"(?:{_SUFFIX}|{_PREFIX}){_TAX}", re.IGNORECASE)

_FACTORS = {"k": 10**3, "millier": 10**3, "m": 10**6, "million": 10**6,
            "md": 10**9, "mrd": 10**9, "milliard": 10**9, "billion": 10**9, "bn": 10**9}

# Phrases that announce the project's global cost (DESIGN §1), folded, with a weight.
_ANCHORS = (
    ("montant previsionnel global", 6), ("cout previsionnel global", 6), ("cout complet", 5),
    ("cout global", 5), ("cout total", 5), ("montant global", 5), ("total cost", 5), ("montant total", 4),
    ("budget global", 4), ("budget total", 4), ("montant previsionnel", 4), ("cout previsionnel", 4),
    ("cout estime", 3), ("estime a", 3), ("evalue a", 3), ("budget", 2), ("cout", 2), ("montant", 2),
)
# Just before an amount (same clause): it is a threshold ("seuil de 9 M€") or a part ("dont 3 M€").
_NOT_GLOBAL = re.compile(r"(?:seuil|plafond|depass|franchi|excede|au-dela|superieur|inferieur)[^.;:,]{0,30}$"
                         r"|(?:\bdont|\by compris|\bincluant)[^.;:,]{0,14}$")
_YEARLY = re.compile(r"\s*(?:par an|/ ?an|annuel|chaque annee|per year)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n|;")
_WINDOW = 220


@dataclass(frozen=True)
class Amount:
    """One money phrase: whole euros, the text as written, where it starts, and TTC (True) / HT (False)."""

    euros: int
    raw: str
    start: int
    ttc: bool | None = None


class _CharFold(dict[int, str]):
    """Each character lowered, its accents dropped (one character for one), computed on first sight."""

    def __missing__(self, code: int) -> str:
        folded = unicodedata.normalize("NFKD", chr(code).lower())[:1] or chr(code)
        if len(self) < 65_536:  # hostile text may use every code point: the table stays bounded
            self[code] = folded
        return folded


_CHAR_FOLD = _CharFold()


def _fold(text: str) -> str:
    """Lower case without accents, same length as the input (so offsets still match)."""
    return (text.lower() if text.isascii() else text.translate(_CHAR_FOLD)).replace("\u2019", "'")


def _number(digits: str, english: bool) -> Decimal:
    """'52 000 000' / '52.000.000,5' (French) or '1,200,000.5' / '12,5' (after a € sign) as a Decimal."""
    compact = re.sub(_SP, "", digits)
    if english:
        grouped = re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", compact)
        return Decimal(compact.replace(",", "") if grouped else compact.replace(",", "."))
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", compact):
        compact = compact.replace(".", "")
    return Decimal(compact.replace(",", "."))


def _factor(mult: str | None) -> int:
    if not mult:
        return 1
    return _FACTORS[mult.lower().rstrip("s")]


def _tax(tax: str | None) -> bool | None:
    if not tax:
        return None
    return _fold(tax).startswith("t")


def parse_amounts(text: str) -> list[Amount]:
    """Every money phrase in ``text``, in order. Numbers without a currency (years, phones, %) are ignored."""
    found = []
    for m in _MONEY.finditer(text):
        english = m.group("num2") is not None
        value = _number(m.group("num2") if english else m.group("num"), english)
        euros = value * _factor(m.group("mult2") if english else m.group("mult"))
        found.append(Amount(int(euros.quantize(Decimal(1), ROUND_HALF_UP)), m.group(0).strip(), m.start(),
                            _tax(m.group("tax") or m.group("taxp"))))
    return found


def _sentence_start(text: str, start: int) -> int:
    """Where the sentence holding position ``start`` begins (looking back at most _WINDOW characters)."""
    low = max(0, start - _WINDOW)
    ends = [m.end() for m in _SENTENCE_END.finditer(text, low, start)]
    return ends[-1] if ends else low


def _anchor(text: str, amount: Amount, previous_end: int) -> tuple[int, int]:
    """(weight, distance) of the best cost phrase before ``amount`` in its sentence; weight -1 if excluded."""
    begin = _sentence_start(text, amount.start)
    since_previous = _fold(text[max(begin, previous_end):amount.start])
    after = text[amount.start + len(amount.raw):amount.start + len(amount.raw) + 20]
    if _NOT_GLOBAL.search(since_previous) or _YEARLY.match(after):
        return -1, 0
    context = _fold(text[begin:amount.start])
    best = (0, 0)
    for phrase, weight in _ANCHORS:
        at = context.rfind(phrase)
        if at >= 0 and weight > best[0]:
            best = (weight, len(context) - at - len(phrase))
    return best


def global_amount(text: str, *, anchored_only: bool = False) -> Amount | None:
    """The amount announced as the global / complete cost; else (unless ``anchored_only``) the largest plain one.

    Announced amounts rank by phrase weight, then TTC over HT, then nearness to the phrase.
    Thresholds ("seuil de 9 M€"), parts ("dont 3 M€"), and yearly figures are never chosen.
    """
    ranked = []
    previous_end = 0
    for amount in parse_amounts(text):
        weight, distance = _anchor(text, amount, previous_end)
        previous_end = amount.start + len(amount.raw)
        ranked.append((weight, 0 if amount.ttc is False else 1, -distance, -amount.start, amount))
    anchored = [r for r in ranked if r[0] > 0]
    if anchored:
        return max(anchored, key=lambda r: r[:4])[4]
    plain = [r[4] for r in ranked if r[0] == 0]
    if anchored_only or not plain:
        return None
    return max(plain, key=lambda a: (a.euros, -a.start))
