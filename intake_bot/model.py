"""Plain values shared by the core and the shell (no I/O, no behaviour beyond small helpers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum


@dataclass(frozen=True)
class Problem:
    """Something wrong with a message or a piece, stated for the ministry in French and for logs in English."""

    code: str  # stable id, e.g. "encrypted-pdf", "zip-bomb", "format-not-read"
    fr: str  # sentence shown to the ministry ("fichier chiffré : …")
    en: str
    filename: str | None = None
    severity: str = "error"  # "error": the piece could not be read as sent; "warning": read, with a caveat


@dataclass(frozen=True)
class Section:
    """A titled part of a document: a DOCX heading, a PDF titled section, a workbook sheet."""

    title: str
    level: int = 1
    location: str = ""  # "page 3", "titre 2", "feuille Budget"
    text: str = ""


@dataclass(frozen=True)
class Extraction:
    """What could be read from one file."""

    text: str = ""
    sections: tuple[Section, ...] = ()
    pages: int | None = None
    problems: tuple[Problem, ...] = ()
    container: bool = False  # an archive, a mail or a winmail.dat: its content is in `members`
    members: tuple[Attachment, ...] = ()  # flattened content of a container, paths relative to it


@dataclass(frozen=True)
class Attachment:
    """One dossier piece as found in the message (possibly inside an archive or a forwarded mail)."""

    filename: str  # sanitised display name, never used as a path
    content_type: str
    size: int
    sha256: str
    path: str = ""  # where it came from: "dossier.zip/annexe.pdf", "fwd.eml/note.docx"
    text: str = ""
    sections: tuple[Section, ...] = ()
    pages: int | None = None
    problems: tuple[Problem, ...] = ()
    inline: bool = False  # inline images and the like: shown, not dossier pieces
    container: bool = False  # a zip / forwarded mail / winmail.dat whose content is listed separately


@dataclass(frozen=True)
class Signature:
    kind: str  # "smime" | "pgp"
    subject: str = ""  # certificate subject (S/MIME) or key id (PGP), when readable


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the core needs to know about an inbound message."""

    message_id: str | None
    subject: str
    from_addr: str  # lower-cased address
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    date_header: datetime | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lower-case name -> values
    body_text: str = ""
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[Problem, ...] = ()
    signatures: tuple[Signature, ...] = ()
    is_report: bool = False  # multipart/report (DSN, MDN)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def pieces(self) -> tuple[Attachment, ...]:
        """The attachments that count as dossier pieces."""
        return tuple(a for a in self.attachments if not a.inline and not a.container)


class CaseState(str, Enum):
    RECEIVED = "received"
    AWAITING_COMPLEMENT = "awaiting_complement"
    UNDER_REVIEW = "under_review"
    AVIS_RENDERED = "avis_rendered"
    DEEMED = "deemed"
    OUT_OF_SCOPE = "out_of_scope"
    WITHDRAWN = "withdrawn"

    @property
    def closed(self) -> bool:
        return self in (CaseState.AVIS_RENDERED, CaseState.DEEMED, CaseState.OUT_OF_SCOPE, CaseState.WITHDRAWN)


class CaseKind(str, Enum):
    AVIS_CONFORME = "avis_conforme"
    AVIS_SIMPLE = "avis_simple"


@dataclass(frozen=True)
class Suspension:
    start: date  # request sent (S)
    end: date | None = None  # answer received (A); None while open
    reason: str = ""
