"""Which single decision an inbound message gets (DESIGN §4), as a pure function of the message and context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from . import rules
from .model import ParsedMessage

REPLY_PREFIXES = ("re:", "réf:", "ref:", "aw:", "sv:", "rép:", "rép. :", "re :")


class Route(str, Enum):
    IGNORE = "ignore"  # auto-reply, bounce, loop: recorded, never answered
    STAFF = "staff"  # a staff command
    FOLLOW_UP = "follow_up"  # belongs to an existing case
    NEW_CASE = "new_case"
    QUARANTINE = "quarantine"  # a human must look at it


@dataclass(frozen=True)
class OpenCase:
    ref: str
    sender: str
    project_name: str


@dataclass(frozen=True)
class Context:
    """What the shell looked up for this message; everything else is in the message itself."""

    our_addresses: frozenset[str]
    staff_addresses: frozenset[str]
    allowed_domains: tuple[str, ...]
    authserv_id: str = ""
    existing_refs: frozenset[str] = frozenset()  # case references that exist among the message's tags
    thread_refs: Mapping[str, str] = field(default_factory=dict)  # Message-ID we sent or received -> case ref
    sender_cases: Sequence[OpenCase] = ()  # open cases of this sender
    auto_reply_prefixes: tuple[str, ...] = rules.AUTO_REPLY_PREFIXES  # from the kit file
    case_senders: Mapping[str, str] = field(default_factory=dict)  # case ref -> the address that opened it
    partner_addresses: frozenset[str] = frozenset()  # ANSSI and budget: they answer on any case


@dataclass(frozen=True)
class Decision:
    route: Route
    rule: str
    reason_fr: str
    case_ref: str | None = None


def _thread_case(msg: ParsedMessage, ctx: Context) -> str | None:
    for mid in (*msg.in_reply_to, *reversed(msg.references)):
        if mid in ctx.thread_refs:
            return ctx.thread_refs[mid]
    return None


def _project_case(msg: ParsedMessage, ctx: Context) -> str | None:
    haystack = f"{msg.subject}\n{msg.body_text[:4000]}".casefold()
    hits = [c.ref for c in ctx.sender_cases if c.project_name and c.project_name.casefold() in haystack]
    return hits[0] if len(hits) == 1 else None


def is_reply(msg: ParsedMessage) -> bool:
    subject = msg.subject.strip().casefold()
    return bool(msg.in_reply_to) or subject.startswith(REPLY_PREFIXES)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _same_party(msg: ParsedMessage, ref: str, ctx: Context) -> bool:
    """Only the ministry that opened the case (same mail domain) or a partner may add to it."""
    owner = ctx.case_senders.get(ref)
    return owner is None or _domain(owner) == _domain(msg.from_addr) or msg.from_addr in ctx.partner_addresses


def _attached(msg: ParsedMessage, ctx: Context, ref: str, rule: str, reason: str) -> Decision:
    if _same_party(msg, ref, ctx):
        return Decision(Route.FOLLOW_UP, rule, reason, ref)
    return Decision(Route.QUARANTINE, "foreign-follow-up",
                    f"message sur le dossier {ref} d'un expéditeur ({msg.from_addr}) étranger au ministère qui l'a "
                    "ouvert : non rattaché, transmis aux agents", ref)


def follow_up(msg: ParsedMessage, ctx: Context) -> Decision | None:
    """Subject tag first, then the thread, then sender + project name."""
    tag = rules.case_tag(msg.subject)
    if tag and tag in ctx.existing_refs:
        return _attached(msg, ctx, tag, "case-tag", f"référence {tag} dans l'objet")
    if tag:
        return Decision(Route.QUARANTINE, "unknown-case-tag", f"la référence {tag} ne correspond à aucun dossier")
    ref = _thread_case(msg, ctx)
    if ref:
        return _attached(msg, ctx, ref, "thread", "réponse à un message du dossier")
    ref = _project_case(msg, ctx)
    if ref and is_reply(msg):
        return Decision(Route.FOLLOW_UP, "sender-project", "même expéditeur et même projet", ref)
    return None


def decide(msg: ParsedMessage, ctx: Context) -> Decision:
    """One decision per message, in the order of DESIGN §4."""
    verdict = rules.auto_reply(msg, ctx.our_addresses, ctx.auto_reply_prefixes)
    if verdict:
        return Decision(Route.IGNORE, verdict.rule_id, verdict.reason_fr)
    if msg.from_addr in ctx.staff_addresses:
        if rules.staff_authenticated(msg, ctx.staff_addresses, ctx.authserv_id):
            return Decision(Route.STAFF, "staff-command", "commande d'un agent authentifié", rules.case_tag(msg.subject))
        return Decision(Route.QUARANTINE, "staff-unauthenticated",
                        "message d'un agent sans authentification DKIM/SPF valide : commande non appliquée")
    found = follow_up(msg, ctx)
    if found:
        return found
    if not rules.sender_allowed(msg.from_addr, ctx.allowed_domains):
        return Decision(Route.QUARANTINE, "sender-not-allowed",
                        f"expéditeur {msg.from_addr or 'inconnu'} hors des domaines autorisés")
    if is_reply(msg):
        return Decision(Route.QUARANTINE, "orphan-reply", "réponse qui ne correspond à aucun dossier connu")
    return Decision(Route.NEW_CASE, "new-saisine", "nouvelle saisine")
