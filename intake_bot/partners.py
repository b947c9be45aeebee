"""ANSSI and the direction du budget (décret 2023-304): forwarding a complete dossier, their 25-day observations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from . import deadlines
from .cases import CaseView, EventSpec, FileRef, MailSpec, Transition, case_ctx
from .model import CaseState

ADDRESSEES = {"anssi": "Monsieur le directeur général de l'Agence nationale de la sécurité des systèmes "
                       "d'information", "budget": "Monsieur le directeur du budget"}
NAMES = {"anssi": "ANSSI", "budget": "direction du budget"}
# Above this the original messages are listed with their SHA-256, not attached: ministry relays and the
# partners' own gateways commonly refuse messages over 20-25 MB (base64 adds a third).
FORWARD_MAX_BYTES = 15 * 1024 * 1024


def partner_of(sender: str, partners: Mapping[str, Sequence[str]]) -> str | None:
    """'anssi' or 'budget' when the address is one of theirs."""
    sender = sender.strip().lower()
    return next((name for name, addrs in partners.items() if sender in {a.strip().lower() for a in addrs}), None)


def forward(case: CaseView, partners: Mapping[str, Sequence[str]], dossier: Sequence[FileRef],
            pieces: Sequence[Mapping[str, Any]], policy: deadlines.DeadlinePolicy, today: date) -> Transition:
    """A complete dossier goes once to each configured partner; their 25 days of observations start today."""
    names = [name for name, to in partners.items() if to]
    if case.forwarded_on is not None or case.state is not CaseState.UNDER_REVIEW or not names:
        return Transition(case, ())
    due = deadlines.observation_due(today)
    attached = tuple(dossier) if sum(f.size for f in dossier) <= FORWARD_MAX_BYTES else ()
    updated = replace(case, forwarded_on=today)
    ctx = {"case": case_ctx(updated, policy, today), "pieces": list(pieces), "forwarded_on": today,
           "observations_due": due, "attached": [f.filename for f in attached]}
    mails = tuple(MailSpec("partenaires.transmission", tuple(partners[name]),
                           ctx | {"addressee": ADDRESSEES.get(name, "Madame, Monsieur"),
                                  "partner": NAMES.get(name, name)},
                           f"forward:{case.ref}:{name}", reply=False, auto_submitted="auto-generated",
                           attachments=attached) for name in names)
    event = EventSpec("forwarded", f"dossier transmis ({', '.join(NAMES.get(n, n) for n in names)}) : observations "
                      f"attendues au plus tard le {due:%d/%m/%Y}",
                      data={"partners": names, "observations_due": due.isoformat(), "attached": len(attached)})
    return Transition(updated, (event,), mails)


def receive_observations(case: CaseView, partner: str, on: date, sender: str) -> Transition:
    """A partner's answer: recorded with its date (the first one counts), flagged when past the 25 days."""
    late = case.forwarded_on is not None and on > deadlines.observation_due(case.forwarded_on)
    observed = dict(case.observed)
    observed.setdefault(partner, on)
    reason = f"observations reçues ({NAMES.get(partner, partner)})" + (" après le délai de 25 jours" if late else "")
    event = EventSpec("observations", reason, actor=sender, data={"partner": partner, "late": late})
    return Transition(replace(case, observed=tuple(sorted(observed.items()))), (event,))


def pending(case: CaseView, partners: Sequence[str], today: date) -> list[dict[str, Any]]:
    """Partners whose observations are still awaited on an open case, with their due date."""
    if case.forwarded_on is None or case.state.closed:
        return []
    due = deadlines.observation_due(case.forwarded_on)
    seen = dict(case.observed)
    return [{"partner": NAMES.get(p, p), "due": due, "late": today > due} for p in partners if p not in seen]
