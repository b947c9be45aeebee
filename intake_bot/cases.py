"""Case lifecycle as pure transitions: (case, input, now) -> new case + audit events + mail to send."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from . import deadlines
from .errors import DeadlineError, TransitionRefused
from .facts import Facts
from .kit import Evidence, Kit, KitReport
from .model import Attachment, CaseKind, CaseState, Problem, Suspension

BOT = "intake-bot"
OPEN = (CaseState.RECEIVED, CaseState.AWAITING_COMPLEMENT, CaseState.UNDER_REVIEW)
AVIS = {"favorable": "favorable", "reserves": "favorable avec réserves", "defavorable": "défavorable"}
STATE_FR = {CaseState.RECEIVED: "reçu", CaseState.AWAITING_COMPLEMENT: "en attente de complément",
            CaseState.UNDER_REVIEW: "en cours d'instruction", CaseState.AVIS_RENDERED: "clos par un avis",
            CaseState.DEEMED: "clos par un avis tacite", CaseState.OUT_OF_SCOPE: "hors périmètre",
            CaseState.WITHDRAWN: "retiré par le ministère"}


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
    avis: str | None = None  # favorable | reserves | defavorable, or the tacit wording ("réputé favorable")
    avis_on: date | None = None
    closed_on: date | None = None  # archived by staff once the procedure is over
    observed: tuple[tuple[str, date], ...] = ()  # (partner, date its observations arrived)


@dataclass(frozen=True)
class EventSpec:
    kind: str
    reason: str
    actor: str = BOT
    from_state: CaseState | None = None
    to_state: CaseState | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRef:
    """A file the shell attaches to a mail: one piece of a stored message, or the whole message."""

    source: str  # "inbound:42": a stored inbound message; "blob": a file stored under its own digest
    sha256: str = ""  # of the piece; "" = the whole message, attached as message/rfc822
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0


@dataclass(frozen=True)
class MailSpec:
    """A mail the shell must render and queue; ``key`` makes the outbox row unique for its cause."""

    template: str
    to: tuple[str, ...]
    context: dict[str, Any]
    key: str
    reply: bool = True  # thread it under the inbound message that caused it
    auto_submitted: str = "auto-replied"
    attachments: tuple[FileRef, ...] = ()


@dataclass(frozen=True)
class Transition:
    case: CaseView
    events: tuple[EventSpec, ...]
    mails: tuple[MailSpec, ...] = ()


@dataclass(frozen=True)
class Action:
    """Who acts, on which day, because of what: the audit part of a staff command or CLI action."""

    actor: str
    today: date  # Paris date the action takes effect: receipt of the staff email, or the CLI run
    key: str  # unique id of the cause ("inbound:42", "cli:…"), for outbox dedupe keys
    text: str = ""
    files: tuple[FileRef, ...] = ()


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


def case_ctx(case: CaseView, policy: deadlines.DeadlinePolicy, today: date) -> dict[str, Any]:
    dl = deadline_of(case, policy, today)
    return {"ref": case.ref, "project_name": case.project_name, "ministry": case.ministry,
            "kind": case.kind.value, "received_on": case.received_on, "estimated_cost_eur": case.estimated_cost_eur,
            "due_date": dl.due_date, "deemed_on": dl.deemed_on, "suspended": dl.suspended, "status": dl.label_fr,
            "days_left": dl.days_left, "state_fr": STATE_FR[case.state], "wording": dl.wording}


def _mail_ctx(kit: Kit, case: CaseView, pieces: Sequence[Attachment], matches: dict[str, str],
              problems: Sequence[Problem], policy: deadlines.DeadlinePolicy, today: date) -> dict[str, Any]:
    labels = {item.id: item.label for item in kit.items}
    present_ids = {e.item_id for e in case.present}
    recommended = [i.label for i in kit.items if not i.required and i.recommended and i.id not in present_ids]
    case_view = case_ctx(case, policy, today)
    return {"case": case_view, "pieces": _piece_ctx(kit, pieces, matches),
            "present": [{"label": labels.get(e.item_id, e.item_id), "evidence": e.text} for e in case.present],
            "missing": [labels.get(m, m) for m in case.missing], "missing_recommended": recommended,
            "problems": [p.fr for p in problems], "wording": case_view["wording"]}


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
    if case.state.closed:  # the procedure is over: a human reads it (the shell quarantines it for staff)
        raise TransitionRefused(f"{case.ref} est {STATE_FR[case.state]} : le message est transmis aux agents")
    present, missing = merge_evidence(kit, case.present, intake.report)
    updated = replace(case, present=present, missing=missing)
    events = [EventSpec("complement", f"complément reçu ({len(intake.pieces)} pièce(s))",
                        data={"pieces": [p.filename for p in intake.pieces], "missing": list(missing)})]
    open_s = [s for s in case.suspensions if s.end is None]
    if case.state is CaseState.AWAITING_COMPLEMENT and not missing and open_s:
        updated = replace(updated, state=CaseState.UNDER_REVIEW, suspensions=_ended(case.suspensions, intake.received_on))
        events.append(EventSpec("state", "dossier complet : le délai reprend", from_state=case.state,
                                to_state=CaseState.UNDER_REVIEW))
    ctx = _mail_ctx(kit, updated, intake.pieces, intake.matches, intake.problems, policy, today)
    ctx |= {"mailbox": mailbox, "received_on": intake.received_on}
    mail = MailSpec("ministere.complement-recu", (intake.sender,), ctx, f"complement:{intake.key}")
    return Transition(updated, tuple(events), (mail,))


def _ended(suspensions: Sequence[Suspension], on: date) -> tuple[Suspension, ...]:  # never before its start
    return tuple(replace(s, end=max(on, s.start)) if s.end is None else s for s in suspensions)


def _require_open(case: CaseView, what: str) -> None:
    if case.state not in OPEN:
        raise TransitionRefused(f"{what} impossible : le dossier {case.ref} est {STATE_FR[case.state]}")


def request_complement(case: CaseView, act: Action, items: Sequence[str], kit: Kit,
                       policy: deadlines.DeadlinePolicy, mailbox: str) -> Transition:
    """Staff ask for more information: the délai is suspended from the request date (DESIGN §3)."""
    _require_open(case, "Demande de complément")
    try:
        deadlines.check_request(case.received_on, case.suspensions, act.today, policy)
    except DeadlineError as exc:
        raise TransitionRefused(f"Demande de complément impossible pour {case.ref} : {exc}") from None
    labels = [item.label for item in kit.items if item.id in items]
    asked = act.text or ", ".join(labels)
    stopped = any(s.end is None for s in case.suspensions)  # pieces already missing: the same suspension goes on
    new = () if stopped else (Suspension(act.today, None, f"demande de complément : {asked}"[:200]),)
    updated = replace(case, state=CaseState.AWAITING_COMPLEMENT, suspensions=(*case.suspensions, *new))
    event = EventSpec("request", f"demande de complément : {asked}", act.actor, case.state, updated.state,
                      {"items": list(items), "requested_on": act.today.isoformat()})
    ctx = {"case": case_ctx(updated, policy, act.today), "request": act.text, "items": labels,
           "requested_on": act.today, "mailbox": mailbox}
    mail = MailSpec("ministere.demande-complement", (case.sender,), ctx, f"request:{act.key}")
    return Transition(updated, (event,), (mail,))


def decision_mail(case: CaseView, act: Action, decision: str, label: str, policy: deadlines.DeadlinePolicy,
                  mailbox: str, decided_on: date) -> MailSpec:
    """The ministry is told the outcome: avis (with its file), tacit avis, or hors périmètre."""
    ctx = {"case": case_ctx(case, policy, decided_on), "decision": decision, "decision_fr": label,
           "text": act.text, "files": [f.filename for f in act.files], "decided_on": decided_on, "mailbox": mailbox}
    return MailSpec("ministere.avis", (case.sender,), ctx, f"{decision}:{act.key}", attachments=act.files,
                    auto_submitted="auto-generated" if act.actor == BOT else "auto-replied")


def record_avis(case: CaseView, act: Action, value: str, policy: deadlines.DeadlinePolicy, mailbox: str) -> Transition:
    """The DINUM director's avis, recorded by staff; the avis file they attached goes to the ministry."""
    if value not in AVIS:
        raise TransitionRefused(f"avis « {value} » inconnu : attendu favorable, reserves ou defavorable")
    _require_open(case, "Avis")
    dl = deadline_of(case, policy)
    if dl.due_date is not None and act.today > dl.due_date:  # the tacit avis exists: it cannot be replaced
        raise TransitionRefused(f"Avis impossible : le délai du dossier {case.ref} a expiré le {dl.due_date:%d/%m/%Y} ; "
                                f"l'avis est {dl.wording} depuis le {dl.deemed_on:%d/%m/%Y}")
    updated = replace(case, state=CaseState.AVIS_RENDERED, avis=value, avis_on=act.today,
                      suspensions=_ended(case.suspensions, act.today))
    event = EventSpec("avis", f"avis {AVIS[value]}", act.actor, case.state, updated.state,
                      {"avis": value, "files": [f.filename for f in act.files]})
    return Transition(updated, (event,), (decision_mail(updated, act, value, AVIS[value], policy, mailbox, act.today),))


def declare_out_of_scope(case: CaseView, act: Action, policy: deadlines.DeadlinePolicy, mailbox: str) -> Transition:
    """Staff find the saisine outside the procedure (under 9 M€, not a State project, only an information)."""
    _require_open(case, "Décision hors périmètre")
    updated = replace(case, state=CaseState.OUT_OF_SCOPE, suspensions=_ended(case.suspensions, act.today))
    event = EventSpec("state", "hors périmètre" + (f" : {act.text}" if act.text else ""), act.actor, case.state,
                      updated.state)
    mail = decision_mail(updated, act, "hors-perimetre", "hors périmètre", policy, mailbox, act.today)
    return Transition(updated, (event,), (mail,))


def withdraw(case: CaseView, act: Action) -> Transition:
    """The ministry withdrew its saisine: the clock stops for good; no mail (the ministry asked for it)."""
    _require_open(case, "Retrait")
    updated = replace(case, state=CaseState.WITHDRAWN, suspensions=_ended(case.suspensions, act.today))
    reason = "saisine retirée" + (f" : {act.text}" if act.text else "")
    return Transition(updated, (EventSpec("state", reason, act.actor, case.state, updated.state),))


def close(case: CaseView, act: Action) -> Transition:
    """Archive a case whose procedure is over; an open case must first get its avis, or be withdrawn."""
    if case.closed_on is not None:
        raise TransitionRefused(f"{case.ref} est déjà clos depuis le {case.closed_on:%d/%m/%Y}")
    if case.state in OPEN:
        raise TransitionRefused(f"Clôture impossible : le dossier {case.ref} est {STATE_FR[case.state]} ; rendez "
                                "d'abord l'avis (#avis), ou enregistrez le retrait ou le hors-périmètre")
    reason = "dossier clos" + (f" : {act.text}" if act.text else "")
    return Transition(replace(case, closed_on=act.today), (EventSpec("closed", reason, actor=act.actor),))


def note(case: CaseView, act: Action) -> Transition:
    """A note in the audit trail; nothing else changes."""
    if not act.text.strip():
        raise TransitionRefused("#note attend un texte")
    return Transition(case, (EventSpec("note", act.text.strip(), actor=act.actor),))

