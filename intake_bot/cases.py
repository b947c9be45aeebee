"""Case lifecycle as pure transitions: (case, input, now) -> new case + audit events + mail to send."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from . import deadlines
from .errors import TransitionRefused
from .classify import Facts
from .kit import Evidence, Kit, KitReport
from .model import Attachment, CaseKind, CaseState, Problem, Suspension

BOT = "intake-bot"


@dataclass(frozen=True)
class CaseView:
    """The state of one case as the core reasons about it."""

    ref: str
    state: CaseState
    sender: str
    received_on: date
    kind: CaseKind = CaseKind.AVIS_CONFORME
    project_name: str = ""
    ministry: str = ""
    estimated_cost_eur: int | None = None
    suspensions: tuple[Suspension, ...] = ()
    present: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()  # ids of required kit items not found yet
    forwarded_on: date | None = None
    avis: str | None = None


@dataclass(frozen=True)
class EventSpec:
    kind: str
    reason: str
    actor: str = BOT
    from_state: CaseState | None = None
    to_state: CaseState | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MailSpec:
    """A mail the shell must render and queue; ``key`` makes the outbox row unique for its cause."""

    template: str
    to: tuple[str, ...]
    context: dict[str, Any]
    key: str
    reply: bool = True  # thread it under the inbound message that caused it
    auto_submitted: str = "auto-replied"


@dataclass(frozen=True)
class Transition:
    case: CaseView
    events: tuple[EventSpec, ...]
    mails: tuple[MailSpec, ...] = ()


def merge_evidence(kit: Kit, before: Sequence[Evidence], report: KitReport) -> tuple[tuple[Evidence, ...], tuple[str, ...]]:
    """Evidence already on the case plus what a new report found; the required items still missing."""
    present = list(before)
    seen = {e.item_id for e in before}
    for ev in report.present:
        if ev.item_id not in seen:
            seen.add(ev.item_id)
            present.append(ev)
    missing = tuple(item.id for item in kit.items if item.required and item.id not in seen)
    return tuple(present), missing


def deadline_of(case: CaseView, policy: deadlines.DeadlinePolicy, today: date | None = None) -> deadlines.Deadline:
    return deadlines.compute(case.received_on, case.suspensions, policy, today=today)


def _piece_ctx(kit: Kit, pieces: Sequence[Attachment], matches: dict[str, str]) -> list[dict[str, Any]]:
    labels = {item.id: item.label for item in kit.items}
    return [{"filename": p.filename, "path": p.path, "size": p.size, "sha256": p.sha256,
             "kit_label": labels.get(matches.get(p.sha256, ""), ""), "problems": [pb.fr for pb in p.problems]}
            for p in pieces]


def _case_ctx(case: CaseView, policy: deadlines.DeadlinePolicy, today: date) -> dict[str, Any]:
    dl = deadline_of(case, policy, today)
    return {"ref": case.ref, "project_name": case.project_name, "ministry": case.ministry,
            "kind": case.kind.value, "received_on": case.received_on, "estimated_cost_eur": case.estimated_cost_eur,
            "due_date": dl.due_date, "deemed_on": dl.deemed_on, "suspended": dl.suspended, "status": dl.label_fr}


def _mail_ctx(kit: Kit, case: CaseView, pieces: Sequence[Attachment], matches: dict[str, str],
              problems: Sequence[Problem], policy: deadlines.DeadlinePolicy, today: date) -> dict[str, Any]:
    labels = {item.id: item.label for item in kit.items}
    present_ids = {e.item_id for e in case.present}
    recommended = [i.label for i in kit.items if not i.required and i.recommended and i.id not in present_ids]
    return {"case": _case_ctx(case, policy, today), "pieces": _piece_ctx(kit, pieces, matches),
            "present": [{"label": labels.get(e.item_id, e.item_id), "evidence": e.text} for e in case.present],
            "missing": [labels.get(m, m) for m in case.missing], "missing_recommended": recommended,
            "problems": [p.fr for p in problems], "wording": deadline_of(case, policy).wording}


@dataclass(frozen=True)
class Intake:
    """One inbound message as the case transitions see it."""

    sender: str
    received_on: date
    pieces: tuple[Attachment, ...]
    report: KitReport
    matches: dict[str, str]  # piece sha256 -> kit item id
    problems: tuple[Problem, ...] = ()
    key: str = ""  # stable id of the inbound message, for outbox dedupe keys


def open_case(ref: str, facts: Facts, intake: Intake, kit: Kit, policy: deadlines.DeadlinePolicy,
              mailbox: str, today: date) -> Transition:
    """A new saisine: out of scope, incomplete (clock suspended from day 0) or complete (clock running)."""
    present, missing = merge_evidence(kit, (), intake.report)
    case = CaseView(ref=ref, state=CaseState.RECEIVED, sender=intake.sender, received_on=intake.received_on,
                    kind=facts.kind, project_name=facts.project_name, ministry=facts.ministry,
                    estimated_cost_eur=facts.estimated_cost_eur, present=present, missing=missing)
    opened = EventSpec("received", "saisine reçue", to_state=CaseState.RECEIVED,
                       data={"pieces": len(intake.pieces), "cost_eur": facts.estimated_cost_eur})
    if facts.is_information or facts.in_scope is False:
        return _out_of_scope(case, facts, intake, kit, policy, mailbox, today, opened)
    if missing:
        case = replace(case, state=CaseState.AWAITING_COMPLEMENT,
                       suspensions=(Suspension(intake.received_on, None, "pièces manquantes"),))
        reason = "dossier incomplet : " + ", ".join(missing)
    else:
        case = replace(case, state=CaseState.UNDER_REVIEW)
        reason = "dossier complet : le délai court"
    moved = EventSpec("state", reason, from_state=CaseState.RECEIVED, to_state=case.state,
                      data={"missing": list(missing)})
    ctx = _mail_ctx(kit, case, intake.pieces, intake.matches, intake.problems, policy, today) | {"mailbox": mailbox}
    mail = MailSpec("ministere.accuse-reception", (intake.sender,), ctx, f"receipt:{intake.key}")
    return Transition(case, (opened, moved), (mail,))


def _out_of_scope(case: CaseView, facts: Facts, intake: Intake, kit: Kit, policy: deadlines.DeadlinePolicy,
                  mailbox: str, today: date, opened: EventSpec) -> Transition:
    case = replace(case, state=CaseState.OUT_OF_SCOPE)
    reason = "information (pas encore une saisine)" if facts.is_information else "coût complet inférieur à 9 M€"
    moved = EventSpec("state", reason, from_state=CaseState.RECEIVED, to_state=case.state)
    ctx = _mail_ctx(kit, case, intake.pieces, intake.matches, intake.problems, policy, today)
    ctx |= {"mailbox": mailbox, "information": facts.is_information}
    mail = MailSpec("ministere.hors-perimetre", (intake.sender,), ctx, f"receipt:{intake.key}")
    return Transition(case, (opened, moved), (mail,))


def receive_complement(case: CaseView, intake: Intake, kit: Kit, policy: deadlines.DeadlinePolicy,
                       mailbox: str, today: date) -> Transition:
    """A follow-up from the ministry: attach it, re-check completeness, resume the clock when complete."""
    if case.state in (CaseState.WITHDRAWN,):
        raise TransitionRefused(f"{case.ref} est clos ({case.state.value}) : le complément est transmis aux agents")
    present, missing = merge_evidence(kit, case.present, intake.report)
    updated = replace(case, present=present, missing=missing)
    events = [EventSpec("complement", f"complément reçu ({len(intake.pieces)} pièce(s))",
                        data={"pieces": [p.filename for p in intake.pieces], "missing": list(missing)})]
    open_s = [s for s in case.suspensions if s.end is None]
    if case.state is CaseState.AWAITING_COMPLEMENT and not missing and open_s:
        closed = tuple(replace(s, end=intake.received_on) if s.end is None else s for s in case.suspensions)
        updated = replace(updated, state=CaseState.UNDER_REVIEW, suspensions=closed)
        events.append(EventSpec("state", "dossier complet : le délai reprend", from_state=case.state,
                                to_state=CaseState.UNDER_REVIEW))
    ctx = _mail_ctx(kit, updated, intake.pieces, intake.matches, intake.problems, policy, today)
    ctx |= {"mailbox": mailbox, "received_on": intake.received_on}
    mail = MailSpec("ministere.complement-recu", (intake.sender,), ctx, f"complement:{intake.key}")
    return Transition(updated, tuple(events), (mail,))
