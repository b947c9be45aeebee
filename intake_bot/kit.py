"""The kit de saisine checklist (from ``config/kit.toml``) and the completeness report of a dossier."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import classify, rules
from .errors import ConfigError
from .model import Attachment, Section

_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_TOP_KEYS = frozenset({"threshold_eur", "items", "letter", "auto_reply", "ministries"})
_ITEM_KEYS = frozenset({"id", "label", "required", "recommended", "by_section", "keywords", "titles",
                        "filename_hints"})
_LETTER_KEYS = frozenset({"item", "addressee", "request", "signatory"})


@dataclass(frozen=True)
class KitItem:
    """One checklist item: what it is called, whether it is required, and the words that point to it."""

    id: str
    label: str
    required: bool
    recommended: bool = False  # only meaningful when not required: reported, never blocking
    keywords: tuple[str, ...] = ()  # body text evidence (weak)
    titles: tuple[str, ...] = ()  # document title or section heading evidence (strong)
    filename_hints: tuple[str, ...] = ()
    by_section: bool = True  # a titled section of another document may satisfy it


@dataclass(frozen=True)
class LetterMarkers:
    """How the cover letter reads: addressed to the DINUM director, asking for an avis, signed by the SG."""

    item: str
    addressee: tuple[str, ...]
    request: tuple[str, ...]
    signatory: tuple[str, ...]


@dataclass(frozen=True)
class Kit:
    """The whole checklist plus the vocabulary the classifier needs."""

    items: tuple[KitItem, ...]
    letter: LetterMarkers
    auto_reply_prefixes: tuple[str, ...] = rules.AUTO_REPLY_PREFIXES
    ministries: Mapping[str, str] = field(default_factory=dict)  # sender domain -> ministry name
    threshold_eur: int = 9_000_000

    def item(self, item_id: str) -> KitItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @classmethod
    def from_toml(cls, text: str) -> Kit:
        """Parse and validate the kit file; ConfigError names the exact key at fault."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"kit.toml: not valid TOML: {exc}") from None
        _no_unknown(data, _TOP_KEYS, "")
        items = _items(data.get("items"))
        letter = _letter(data.get("letter"), {i.id for i in items})
        auto = _table(data.get("auto_reply", {}), "auto_reply")
        _no_unknown(auto, frozenset({"subject_prefixes"}), "auto_reply.")
        prefixes = _strings(auto.get("subject_prefixes", list(rules.AUTO_REPLY_PREFIXES)),
                            "auto_reply.subject_prefixes")
        ministries = _table(data.get("ministries", {}), "ministries")
        for domain, name in ministries.items():
            _string(name, f'ministries."{domain}"')
        threshold = data.get("threshold_eur", 9_000_000)
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
            raise ConfigError(f"kit.toml: threshold_eur: expected a positive number of euros, got {threshold!r}")
        return cls(items, letter, prefixes, {d.lower(): n for d, n in ministries.items()}, threshold)


def _no_unknown(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"kit.toml: {where}{key}: unknown key (known: {', '.join(sorted(known))})")


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"kit.toml: {key}: expected a table, got {value!r}")
    return value


def _string(value: Any, key: str) -> str:
    if value is None:
        raise ConfigError(f"kit.toml: {key}: missing")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"kit.toml: {key}: expected a non-empty string, got {value!r}")
    return value.strip()


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        raise ConfigError(f"kit.toml: {key}: missing")
    if not isinstance(value, list):
        raise ConfigError(f"kit.toml: {key}: expected a list of strings, got {value!r}")
    return tuple(_string(v, f"{key}[{n}]") for n, v in enumerate(value))


def _bool(value: Any, key: str) -> bool:
    if value is None:
        raise ConfigError(f"kit.toml: {key}: missing (true or false)")
    if not isinstance(value, bool):
        raise ConfigError(f"kit.toml: {key}: expected true or false, got {value!r}")
    return value


def _items(value: Any) -> tuple[KitItem, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("kit.toml: items: expected at least one [[items]] table")
    items: list[KitItem] = []
    for n, raw in enumerate(value, start=1):
        item = _item(_table(raw, f"items[{n}]"), f"items[{n}]")
        if any(i.id == item.id for i in items):
            raise ConfigError(f'kit.toml: items[{n}].id: duplicate id "{item.id}"')
        items.append(item)
    return tuple(items)


def _item(raw: dict[str, Any], where: str) -> KitItem:
    _no_unknown(raw, _ITEM_KEYS, f"{where}.")
    item_id = _string(raw.get("id"), f"{where}.id")
    if not _ID.match(item_id):
        raise ConfigError(f"kit.toml: {where}.id: {item_id!r} must be lower case letters, digits and '-'")
    where = f'{where} (id "{item_id}")'
    required = _bool(raw.get("required"), f"{where}.required")
    recommended = _bool(raw.get("recommended", False), f"{where}.recommended")
    if required and recommended:
        raise ConfigError(f"kit.toml: {where}.recommended: only for items with required = false")
    terms = {k: _strings(raw.get(k, []), f"{where}.{k}") for k in ("keywords", "titles", "filename_hints")}
    if not any(terms.values()):
        raise ConfigError(f"kit.toml: {where}.keywords: the item needs keywords, titles or filename_hints")
    return KitItem(item_id, _string(raw.get("label"), f"{where}.label"), required, recommended,
                   by_section=_bool(raw.get("by_section", True), f"{where}.by_section"), **terms)


def _letter(value: Any, ids: set[str]) -> LetterMarkers:
    if value is None:
        raise ConfigError("kit.toml: letter: missing [letter] table (how the cover letter is recognised)")
    raw = _table(value, "letter")
    _no_unknown(raw, _LETTER_KEYS, "letter.")
    item = _string(raw.get("item"), "letter.item")
    if item not in ids:
        raise ConfigError(f'kit.toml: letter.item: "{item}" is not the id of an [[items]] table')
    markers = {k: _strings(raw.get(k), f"letter.{k}") for k in ("addressee", "request", "signatory")}
    return LetterMarkers(item, **markers)


@dataclass(frozen=True)
class Evidence:
    """Where a kit item was found: a whole file, a section of one ("titre « … »", "feuille …"), or the body."""

    item_id: str
    filename: str  # or classify.BODY ("corps du message")
    sha256: str
    location: str = ""  # "" = the whole file; "page 3", "titre « Gouvernance »", "feuille Budget"
    via: str = "piece"  # "piece" | "section" | "body"

    @property
    def text(self) -> str:
        """How the evidence is shown to users: "note.docx, titre « Planning »"."""
        return f"{self.filename}, {self.location}" if self.location else self.filename


@dataclass(frozen=True)
class KitReport:
    """Which items a dossier has (with evidence) and which are missing."""

    present: tuple[Evidence, ...]
    missing_required: tuple[KitItem, ...]
    missing_recommended: tuple[KitItem, ...]
    unclassified: tuple[str, ...] = ()  # file names that match no item (annexes, images…)

    @property
    def complete(self) -> bool:
        return not self.missing_required

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` it as is)."""
        return {
            "complete": self.complete,
            "present": [asdict(e) for e in self.present],
            "missing_required": [{"id": i.id, "label": i.label} for i in self.missing_required],
            "missing_recommended": [{"id": i.id, "label": i.label} for i in self.missing_recommended],
            "unclassified": list(self.unclassified),
        }


def section_location(section: Section) -> str:
    """How a section is named to users: the sheet ("feuille Budget") or its heading, with the page if known."""
    if section.location.startswith("feuille"):
        return section.location
    heading = f"titre « {' '.join(section.title.split())} »"
    return f"{heading}, {section.location}" if section.location.startswith("page") else heading


def _names_exactly(item: KitItem, section: Section) -> bool:
    """The heading is one of the item's titles, give or take numbering ("2. Gouvernance :")."""
    heading = re.sub(r"^(\d+(\.\d+)*|[ivx]+)[.)]?\s+", "", classify.fold(section.title)).strip(" :.")
    return heading in {classify.fold(t) for t in item.titles}


def _section_evidence(kit: Kit, piece: Attachment, own: str | None) -> list[Evidence]:
    """One evidence per item named by a heading of ``piece``: the first exact heading, else the first one."""
    chosen: dict[str, tuple[bool, Section]] = {}
    for section in piece.sections:
        for item in classify.items_named_by(kit, section.title, sections_only=True):
            exact = _names_exactly(item, section)
            if item.id != own and (item.id not in chosen or exact and not chosen[item.id][0]):
                chosen[item.id] = (exact, section)
    return [Evidence(i, piece.filename, piece.sha256, section_location(s), "section") for i, (_, s) in chosen.items()]


def assess(kit: Kit, pieces: Sequence[Attachment], body_text: str = "",
           matches: Sequence[classify.ItemMatch | None] | None = None) -> KitReport:
    """Check the dossier against the kit: each piece's own item, then items covered by sections of others.
    ``matches``, when given, is ``classify_piece`` of each piece (computed once by the caller)."""
    present: list[Evidence] = []
    unclassified: list[str] = []
    if matches is None:
        matches = [classify.classify_piece(kit, piece) for piece in pieces]
    for piece, match in zip(pieces, matches, strict=True):
        if match is None:
            unclassified.append(piece.filename)
        else:
            present.append(Evidence(match.item_id, piece.filename, piece.sha256))
        present.extend(_section_evidence(kit, piece, match.item_id if match else None))
    letter = kit.letter.item
    if all(e.item_id != letter for e in present) and classify.is_cover_letter(kit, body_text):
        present.append(Evidence(letter, classify.BODY, "", "", "body"))
    order = {item.id: n for n, item in enumerate(kit.items)}
    present.sort(key=lambda e: (order[e.item_id], e.via != "piece"))  # a dedicated piece is the best evidence
    found = {e.item_id for e in present}
    return KitReport(
        tuple(present),
        tuple(i for i in kit.items if i.required and i.id not in found),
        tuple(i for i in kit.items if not i.required and i.recommended and i.id not in found),
        tuple(unclassified),
    )
