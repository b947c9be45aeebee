"""The facts a saisine states about itself: project, ministry, signatory, kind, announced cost and scope (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .amounts import Amount, global_amount
from .classify import BODY, TEXT_LIMIT, classify_piece, fold, is_cover_letter, signed
from .model import CaseKind, ParsedMessage

if TYPE_CHECKING:
    from .kit import Kit

_TOKEN = r"[A-Z0-9À-ÖØ-Þ][\w&+./@'’-]*"
_NAME = rf"{_TOKEN}(?:[ \u00a0](?:(?:de|du|des|la|le|et|pour|en|à)[ \u00a0]|[dl]['’])?{_TOKEN})*"
_PROJECT = re.compile(r"\b(?i:projet|programme)\s+(?:(?i:intitulé|dénommé|nommé|baptisé)\s+)?"
                      rf"(?:«\s*(?P<q>[^»]{{2,80}}?)\s*»|[“\"](?P<q2>[^”\"]{{2,80}})[”\"]|(?P<n>{_NAME}))")
_QUOTED = re.compile(r"«\s*([^»]{2,80}?)\s*»|“([^”]{2,80})”|\"([^\"]{2,80})\"")
_DESCRIBED = re.compile(r"\b(?i:projet|programme)\s+(?:de\s+|d['’]\s*)([^–—:;,()\[\]«»\"]{3,80})")
_NOT_NAMES = {"le", "la", "les", "l", "un", "une", "ce", "cette", "ces", "du", "de", "des", "si", "dont", "qui"}
_SUBJECT_NOISE = re.compile(r"\[GP-\d{4}-\d+\]|^\s*((re|tr|fwd?|fw|ref|aw|sv)\s*:\s*)+", re.IGNORECASE)
_TUTELLE = re.compile(r"etablissement public|operateur|sous (la )?tutelle|organisme (place )?sous")
_INFORMS = re.compile(r"vous inform|pour information|porter a votre connaissance|vous tenir inform|vous signal"
                      r"|information prealable|ne constitue pas une saisine")
_REQUESTS = re.compile(r"vous saisi|saisir la dinum|saisine pour avis|pour avis conforme|solliciter? (votre|l')"
                       r" ?avis|demande d'avis|soumettre [^.]{0,60}a votre avis|recueillir votre avis")
_CROSSED = re.compile(r"depass|franchi|excede|au-dela|superieur|seuil")


@dataclass(frozen=True)
class Facts:
    """What a saisine says about itself ("" when unknown); ``letter`` is where the cover letter was read."""

    project_name: str = ""
    ministry: str = ""
    signatory: str = ""
    kind: CaseKind = CaseKind.AVIS_CONFORME
    estimated_cost_eur: int | None = None
    in_scope: bool | None = None
    is_information: bool = False
    cost_ttc: bool | None = None
    letter: str = ""


def _clean_name(name: str | None) -> str:
    name = (name or "").strip(" .,;:-–—'’\"")
    first = fold(name).split(" ")[0] if name else ""
    return "" if not name or first in _NOT_NAMES or name.isdigit() else name


def project_name(text: str, *, subject: bool = False) -> str:
    """'projet X' / 'programme « X »'; in a subject also any quoted name, then 'projet de <description>'."""
    for m in _PROJECT.finditer(text):
        if name := _clean_name(m.group("q") or m.group("q2") or m.group("n")):
            return name
    patterns = (_QUOTED, _DESCRIBED) if subject else ()
    for pattern in patterns:
        for m in pattern.finditer(text):
            if name := _clean_name(next(g for g in m.groups() if g)):
                return name
    return ""


def _sentence_case(line: str) -> str:
    """'MINISTÈRE DES ARMÉES' -> 'Ministère des Armées' (capitalised again after the first article)."""
    if not line.isupper():
        return line
    low = line.capitalize()
    m = re.search(r"\b(de l['’]|de la |des |du |de )(\w)", low)
    return low[:m.start(2)] + m.group(2).upper() + low[m.end(2):] if m else low


def _continues(line: str, following: str) -> bool:
    """A letterhead over lines: 'MINISTÈRE' / 'DE L'INTÉRIEUR' / 'et des Sports' (not 'SECRÉTARIAT…')."""
    if fold(line) == "ministere":
        return following.isupper()
    connects = re.match(r"(de|du|des|et|aux?|d')\b", fold(following)) or re.search(r"(\bet|\bde|,)$", fold(line))
    return bool(connects) and len(following) <= 60 and len(line) < 120


def _ministry(letter: str, sender: str, table: Mapping[str, str]) -> str:
    """The letterhead ('MINISTÈRE DES ARMÉES'), else the name of the sender's domain in the kit table."""
    lines = [line.strip() for line in letter.splitlines()[:20] if line.strip()]
    for n, line in enumerate(lines):
        if fold(line).startswith("ministere") and len(line) <= 90:
            while n + 1 < len(lines) and _continues(line, lines[n + 1]):
                n, line = n + 1, f"{line} {lines[n + 1]}"
            return _sentence_case(line.rstrip(" ,."))
    domain = sender.rpartition("@")[2].lower()
    known = [d for d in table if domain == d or domain.endswith("." + d)]
    return table[max(known, key=len)] if known else ""


_PERSON = re.compile(r"[A-ZÀ-Þ][\w'’.-]*(\s+((de|du|d'|le|la|van|von)\s*)?[A-ZÀ-Þ][\w'’.-]*){1,4}")


def _looks_like_name(line: str) -> bool:
    return bool(_PERSON.fullmatch(line))


def signatory(kit: Kit, letter: str) -> str:
    """'Le secrétaire général, Jean Dupont' from the last signature block of the letter ("" if none)."""
    lines = [line.strip() for line in letter.splitlines() if line.strip()]
    for n in range(len(lines) - 1, -1, -1):
        m = re.search(r"\b(l[ea] )?secr[ée]taire g[ée]n[ée]ral", lines[n], re.IGNORECASE)
        if not m or len(lines[n]) > 100 or not signed(kit.letter.signatory, lines[n], fold(lines[n])):
            continue
        title, _, tail = lines[n][m.start():].partition(",")
        title = title[0].upper() + title[1:].rstrip(" ,.")
        around = [tail.strip(), *lines[n + 1:n + 2], *lines[max(0, n - 1):n]]
        names = [re.sub(r"^(sign[ée]\s*:?\s*)", "", c, flags=re.IGNORECASE) for c in around]
        name = next((c for c in names if _looks_like_name(c)), "")
        return f"{title}, {name}" if name else title
    return ""


def _kind(text: str) -> CaseKind:
    folded = fold(text)
    if "avis conforme" not in folded and _TUTELLE.search(folded) and re.search(r"\bavis\b", folded):
        return CaseKind.AVIS_SIMPLE
    return CaseKind.AVIS_CONFORME


def _in_scope(amount: Amount | None, threshold: int) -> bool | None:
    if amount is None:
        return None
    if amount.ttc is False and amount.euros < threshold <= amount.euros * 1.2:
        return None  # an HT figure just under the threshold: the TTC cost may be over it
    return amount.euros >= threshold


def read_facts(parsed: ParsedMessage, kit: Kit) -> Facts:
    """Project, ministry, signatory, kind, global cost and scope, read from the subject, letter and dossier."""
    matches = [(p, classify_piece(kit, p)) for p in parsed.pieces]
    letters = [p for p, m in matches if m and m.item_id == kit.letter.item]
    where, letter = ((letters[0].filename, letters[0].text) if letters else
                     (BODY, parsed.body_text) if is_cover_letter(kit, parsed.body_text) else ("", ""))
    subject = _SUBJECT_NOISE.sub("", parsed.subject).strip()
    primary = "\n\n".join([subject, letter, parsed.body_text])
    dossier = [p.text[:TEXT_LIMIT] for p, m in matches if p.text and p.text != letter]
    # An announced global cost anywhere (letter and message first) beats a plain amount in the letter.
    amount = global_amount("\n\n".join([primary, *dossier]), anchored_only=True) or global_amount(primary)
    words = fold(f"{subject}\n{letter or parsed.body_text}")
    informs = bool(_INFORMS.search(words) and _CROSSED.search(words) and not _REQUESTS.search(words))
    has_dossier = any(m and m.item_id != kit.letter.item for _, m in matches)
    return Facts(project_name(subject, subject=True) or project_name(letter) or project_name(parsed.body_text),
                 _ministry(letter, parsed.from_addr, kit.ministries), signatory(kit, letter),
                 _kind(letter or parsed.body_text), amount.euros if amount else None,
                 _in_scope(amount, kit.threshold_eur), informs and not has_dossier,
                 amount.ttc if amount else None, where)
