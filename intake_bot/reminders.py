"""What the passing of time calls for: tacit avis at expiry, reminders to staff, relances of ministries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from . import deadlines
from .cases import (
    BOT,
    STATE_FR,
    Action,
    CaseView,
    EventSpec,
    MailSpec,
    Transition,
    case_ctx,
    deadline_of,
    decision_mail,
)
from .errors import TransitionRefused
from .model import CaseState

RELANCE_EVERY_DAYS = 14  # a ministry silent for two weeks after a request gets a relance…
RELANCE_MAX = 3  # …three times at most; then it is the staff's call (the digest lists it every day)


@dataclass(frozen=True)
class Reminder:
    """One mail the clock asks for: ``rappel`` (staff, before a due date) or ``relance`` (ministry, complement)."""

    kind: str
    ref: str
    days: int  # rappel: days until the due date; relance: days since the request
    mail: MailSpec


def deem(case: CaseView, policy: deadlines.DeadlinePolicy, today: date, mailbox: str) -> Transition:
    """No answer by the due date: the avis is deemed given ("réputé favorable", or "conforme" before 2023-04-24)."""
    dl = deadline_of(case, policy)
    if case.state is not CaseState.UNDER_REVIEW or dl.deemed_on is None or dl.due_date is None:
        raise TransitionRefused(f"{case.ref} est {STATE_FR[case.state]} : pas d'avis tacite")
    if today < dl.deemed_on:
        raise TransitionRefused(f"{case.ref} : l'échéance du {dl.due_date:%d/%m/%Y} n'est pas passée")
    updated = replace(case, state=CaseState.DEEMED, avis=dl.wording, avis_on=dl.deemed_on)
    act = Action(BOT, dl.deemed_on, case.ref)
    event = EventSpec("deemed", f"avis {dl.wording} le {dl.deemed_on:%d/%m/%Y} : pas de réponse au "
                      f"{dl.due_date:%d/%m/%Y}", BOT, case.state, updated.state,
                      {"due_date": dl.due_date.isoformat(), "deemed_on": dl.deemed_on.isoformat(), "wording": dl.wording})
    mail = decision_mail(updated, act, "deemed", dl.wording, policy, mailbox, dl.deemed_on)
    return Transition(updated, (event,), (mail,))


def expired(cases: Sequence[CaseView], policy: deadlines.DeadlinePolicy, today: date, mailbox: str) -> list[Transition]:
    """The deemed-avis sweep: every case under review whose délai ended before today."""
    due = [c for c in cases if c.state is CaseState.UNDER_REVIEW and (deadline_of(c, policy).deemed_on or today) <= today]
    return [deem(c, policy, today, mailbox) for c in due]


def rappels(cases: Sequence[CaseView], policy: deadlines.DeadlinePolicy, reminder_days: Sequence[int],
            staff: Sequence[str], today: date) -> list[Reminder]:
    """Staff reminders before a due date: the tightest of ``reminder_days`` reached (a missed day catches up
    with one mail, not several); the key carries the due date, so a new due date re-arms them."""
    out = []
    for case in cases:
        dl = deadline_of(case, policy, today) if case.state is CaseState.UNDER_REVIEW else None
        if dl is None or dl.due_date is None or not staff or dl.due_date < today:
            continue
        left = (dl.due_date - today).days
        reached = [d for d in reminder_days if left <= d]
        if not reached:
            continue
        ctx = {"case": case_ctx(case, policy, today), "days": left, "wording": dl.wording}
        key = f"rappel:{case.ref}:{dl.due_date.isoformat()}:{min(reached)}"
        out.append(Reminder("rappel", case.ref, left, MailSpec("staff.rappel-echeance", tuple(staff), ctx, key,
                                                                  reply=False, auto_submitted="auto-generated")))
    return out


def relances(cases: Sequence[CaseView], policy: deadlines.DeadlinePolicy, labels: Mapping[str, str],
             today: date, mailbox: str) -> list[Reminder]:
    """Ministries silent after a request for pieces: every two weeks, weekdays only, three times at most."""
    if today.weekday() >= 5:
        return []
    out = []
    for case in cases:
        opened = [s for s in case.suspensions if s.end is None]
        if case.state is not CaseState.AWAITING_COMPLEMENT or not opened:
            continue
        waited = (today - opened[0].start).days
        number = min(waited // RELANCE_EVERY_DAYS, RELANCE_MAX)
        if number < 1:
            continue
        ctx = {"case": case_ctx(case, policy, today), "requested_on": opened[0].start, "number": number,
               "reason": opened[0].reason, "missing": [labels.get(m, m) for m in case.missing], "mailbox": mailbox}
        key = f"relance:{case.ref}:{opened[0].start.isoformat()}:{number}"
        out.append(Reminder("relance", case.ref, waited, MailSpec("ministere.relance-complement", (case.sender,), ctx,
                                                                     key, auto_submitted="auto-generated")))
    return out
