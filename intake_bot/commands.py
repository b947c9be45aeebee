"""Staff commands sent by email (DESIGN §5): ``#complement``, ``#avis``, ``#hors-perimetre``, ``#clore``, ``#note``."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from .classify import fold

_VERB = re.compile(r"#\s*(?P<verb>compl[ée]ments?|avis|hors[\s_-]*p[ée]rim[èe]tre|cl[oô]re|cl[oô]turer?|note"
                   r"|[^\W\d][\w-]*)(?![\w-])\s*:?\s*(?P<arg>.*)", re.IGNORECASE)
_VERBS = {"complement": "complement", "complements": "complement", "avis": "avis", "note": "note",
          "clore": "clore", "cloture": "clore", "cloturer": "clore"}
# Where a command's paragraph stops: blank line, quote, signature, separator, reply attribution, header block.
_END_OF_COMMAND = re.compile(r"\s*$|>|-- ?$|_{5,}|-{5,}|(le|on) .*(a ecrit|wrote)\s*:\s*$|(de|from) ?:")


@dataclass(frozen=True)
class StaffCommand:
    """A command on the first line of a staff email; ``error`` (French) when the command cannot be applied."""

    verb: str  # "complement" | "avis" | "hors-perimetre" | "clore" | "note" (or the unknown word)
    argument: str = ""  # the rest of the line and of its paragraph; for #avis: favorable|reserves|defavorable
    items: tuple[str, ...] = ()  # kit item ids named in a #complement
    error: str = ""


def _avis(argument: str) -> str:
    words = fold(argument)
    for needle, value in (("defavorable", "defavorable"), ("reserve", "reserves"), ("favorable", "favorable")):
        if needle in words:
            return value
    return ""


def parse_staff_command(body_text: str, known_items: Collection[str] = ()) -> StaffCommand | None:
    """The command on the first non-empty line ("#complément finances, planning", "#avis réserves"…)."""
    lines = body_text.replace("\ufeff", "").replace("\u00a0", " ").splitlines()
    start = next((n for n, line in enumerate(lines) if line.strip()), None)
    m = _VERB.match(lines[start].strip()) if start is not None else None
    if m is None or start is None:
        return None
    folded = fold(m["verb"])
    verb = "hors-perimetre" if folded.startswith("hors") else _VERBS.get(folded, folded)
    paragraph = [m["arg"].strip()]
    for line in lines[start + 1:]:
        if _END_OF_COMMAND.match(fold(line)):
            break
        paragraph.append(line.strip())
    argument = " ".join(p for p in paragraph if p)
    if verb == "avis":
        value = _avis(argument)
        return StaffCommand(verb, value, error="" if value else "#avis attend favorable, reserves ou defavorable")
    if verb not in _VERBS.values() and verb != "hors-perimetre":
        return StaffCommand(verb, argument, error=f"commande inconnue « #{m['verb']} » (connues : #complement, "
                                                  "#avis, #hors-perimetre, #clore, #note)")
    items = tuple(t for t in re.split(r"[\s,;]+", fold(argument)) if t in known_items)
    needs_text = verb in {"complement", "note"} and not argument
    return StaffCommand(verb, argument, items, f"#{verb} attend un texte" if needs_text else "")
