"""Message-level intake rules (DESIGN §4): each a stable id and a French reason; pure functions of the message."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .classify import fold
from .model import ParsedMessage

# Default subject prefixes of automatic replies and bounces; config/kit.toml [auto_reply] overrides them.
AUTO_REPLY_PREFIXES = ("Réponse automatique", "Absence du bureau", "Absent du bureau", "Absente du bureau",
                       "Out of Office", "Automatic reply", "Auto:", "Autoreply", "Non remis", "Undeliverable",
                       "Delivery Status Notification", "Mail delivery failed", "Returned mail",
                       "Accusé de lecture", "Read:", "Lu :")

_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_CASE_TAG = re.compile(r"\[\s*(GP-\d{4}-\d{4,})\s*\]", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """A rule that fired: its stable id and the reason, in French, as shown in the digest."""

    rule_id: str
    reason_fr: str


def _headers(parsed: ParsedMessage, name: str) -> tuple[str, ...]:
    return tuple(" ".join(v.split()) for v in parsed.headers.get(name, ()))


def _auto_reply_rules(parsed: ParsedMessage, ours: frozenset[str], prefixes: Sequence[str]) -> Iterable[Verdict]:
    """Every auto-reply rule, lazily, in order: the first one that yields decides."""
    if parsed.is_report:
        yield Verdict("delivery-report", "avis de remise ou de lecture (multipart/report)")
    for value in _headers(parsed, "auto-submitted"):
        if value.split(";")[0].strip().lower() != "no":
            yield Verdict("auto-submitted", f"message automatique (Auto-Submitted: {value})")
    for value in _headers(parsed, "precedence"):
        if value.strip().lower() in {"bulk", "junk", "list", "auto_reply"}:
            yield Verdict("precedence", f"message de masse ou automatique (Precedence: {value})")
    for value in _headers(parsed, "x-auto-response-suppress"):
        if {"all", "oof", "autoreply"} & {v.strip().lower() for v in value.split(",")}:
            yield Verdict("auto-response-suppress", f"réponse automatique (X-Auto-Response-Suppress: {value})")
    if _headers(parsed, "x-autoreply") or _headers(parsed, "x-autorespond"):
        yield Verdict("x-autoreply", "réponse automatique (X-Autoreply)")
    if _headers(parsed, "list-id"):
        yield Verdict("list-id", "message de liste de diffusion (List-Id)")
    if any(addr in value.lower() for value in _headers(parsed, "x-loop") for addr in ours):
        yield Verdict("x-loop", "boucle : X-Loop porte notre adresse")
    sender = parsed.from_addr.strip().lower()
    if sender in ours:
        yield Verdict("own-address", "message envoyé depuis notre propre adresse")
    # No From at all is malformed mail, not a bounce: it goes on to quarantine, where staff see it.
    if sender and sender.partition("@")[0] in _DAEMONS:
        yield Verdict("bounce-sender", f"expéditeur de rebond ({sender})")
    if "<>" in _headers(parsed, "return-path"):
        yield Verdict("bounce-sender", "expéditeur d'enveloppe vide (Return-Path: <>)")
    subject = " ".join(fold(parsed.subject).split())
    if any(subject.startswith(" ".join(fold(p).split())) for p in prefixes):
        yield Verdict("auto-reply-subject", f"objet de réponse automatique (« {parsed.subject[:60]} »)")


def auto_reply(parsed: ParsedMessage, our_addresses: Collection[str],
               subject_prefixes: Sequence[str] = AUTO_REPLY_PREFIXES) -> Verdict | None:
    """Auto-reply, bounce, list mail or loop (RFC 3834, RFC 3464/8098): recorded, never answered."""
    ours = frozenset(a.strip().lower() for a in our_addresses if a.strip())
    return next(iter(_auto_reply_rules(parsed, ours, subject_prefixes)), None)


_PROPERTY = re.compile(r'([\w-]+\.[\w-]+)\s*=\s*("[^"]*"|\S+)')


def _auth_results(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """RFC 8601 header -> (authserv-id, [(method, result, {ptype.property: value})])."""
    for _ in range(5):  # comments, possibly nested (a few levels: the header comes from outside)
        value, found = re.subn(r"\([^()]*\)", " ", value)
        if not found:
            break
    if "(" in value or ")" in value:
        return "", []  # unbalanced or too deep: not trusted (fail closed)
    server, *parts = value.split(";")
    results = []
    for part in parts:
        m = re.match(r"\s*([\w.-]+)\s*=\s*([\w-]+)(.*)", part, re.DOTALL)
        if m:
            props = {k.lower(): v.strip('"').lower() for k, v in _PROPERTY.findall(m[3])}
            results.append((m[1].lower(), m[2].lower(), props))
    return (server.split()[0].lower() if server.split() else ""), results


def _passes(method: str, result: str, props: Mapping[str, str], domain: str) -> bool:
    def dom(v: str) -> str:
        return v.rpartition("@")[2]
    if result != "pass":
        return False
    if method == "dkim":
        return dom(props.get("header.d", "")) == domain or dom(props.get("header.i", "")) == domain
    if method == "spf":
        return dom(props.get("smtp.mailfrom", "")) == domain
    return method == "dmarc" and props.get("header.from", "") == domain


def staff_authenticated(parsed: ParsedMessage, staff_addresses: Collection[str], authserv_id: str) -> bool:
    """Sender on the staff list AND our own MTA's Authentication-Results (the first with our authserv-id;
    others may be forged, RFC 8601 §5) show DKIM, SPF or DMARC passing for the sender's domain."""
    sender = parsed.from_addr.strip().lower()
    if not authserv_id or sender not in {a.strip().lower() for a in staff_addresses} or "@" not in sender:
        return False
    domain = sender.rpartition("@")[2]
    for value in _headers(parsed, "authentication-results"):
        server, results = _auth_results(value)
        if server == authserv_id.strip().lower():
            return any(_passes(method, result, props, domain) for method, result, props in results)
    return False


def sender_allowed(addr: str, allowed_domains: Iterable[str]) -> bool:
    """The address's domain is an allowed domain or one of its subdomains ("gouv.fr" allows "x.gouv.fr")."""
    local, at, domain = addr.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    allowed = (d.strip().lower().lstrip("@.").rstrip(".") for d in allowed_domains)
    return bool(at and local and domain) and any(d and (domain == d or domain.endswith("." + d)) for d in allowed)


def case_tag(subject: str) -> str | None:
    """'GP-2026-0007' from a subject holding '[GP-2026-0007]'."""
    m = _CASE_TAG.search(subject)
    return m.group(1).upper() if m else None
