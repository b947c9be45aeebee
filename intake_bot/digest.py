"""What the daily staff digest says (DESIGN §5), as values computed from cases, quarantined mail and today."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from . import deadlines, partners
from .cases import CaseView, deadline_of
from .model import CaseState


@dataclass(frozen=True)
class Line:
    """One case in one section, with its French detail ("échéance le 02/04/2026, dans 3 jours")."""

    ref: str
    project_name: str
    ministry: str
    detail: str


@dataclass(frozen=True)
class Quarantined:
    """A message set aside for a human."""

    id: int
    received_at: datetime
    from_addr: str
    subject: str
    reason: str


@dataclass(frozen=True)
class Digest:
    day: date
    since: date
    new: tuple[Line, ...] = ()
    due_soon: tuple[Line, ...] = ()
    overdue: tuple[Line, ...] = ()
    waiting: tuple[Line, ...] = ()
    observations: tuple[Line, ...] = ()
    deemed: tuple[Line, ...] = ()
    quarantine: tuple[Quarantined, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self) if f.name not in ("day", "since"))


def previous_weekday(day: date) -> date:
    """The day of the previous digest (digests go out Monday to Friday): Friday for a Monday."""
    back = day - timedelta(days=1)
    while back.weekday() >= 5:
        back -= timedelta(days=1)
    return back


def _line(case: CaseView, detail: str) -> Line:
    return Line(case.ref, case.project_name, case.ministry, detail)


def _in(n: int) -> str:
    return "aujourd'hui" if n == 0 else "demain" if n == 1 else f"dans {n} jours"


def _clock_lines(cases: Sequence[CaseView], policy: deadlines.DeadlinePolicy, today: date,
                 horizon: int) -> tuple[list[Line], list[Line]]:
    soon, overdue = [], []
    running = [(deadline_of(c, policy, today), c) for c in cases if c.state is CaseState.UNDER_REVIEW]
    for dl, case in sorted(running, key=lambda x: (x[0].due_date or today, x[1].ref)):
        if dl.due_date is None:
            continue
        left = (dl.due_date - today).days
        if left < 0:
            overdue.append(_line(case, f"échéance dépassée le {dl.due_date:%d/%m/%Y} : avis {dl.wording} "
                                       f"le {dl.deemed_on:%d/%m/%Y}, non encore constaté"))
        elif left <= horizon:
            soon.append(_line(case, f"échéance le {dl.due_date:%d/%m/%Y}, {_in(left)}"))
    return soon, overdue


def _waiting(cases: Sequence[CaseView], policy: deadlines.DeadlinePolicy, labels: Mapping[str, str],
             today: date) -> list[Line]:
    out = []
    for case in sorted((c for c in cases if c.state is CaseState.AWAITING_COMPLEMENT), key=lambda c: c.ref):
        dl = deadline_of(case, policy, today)
        missing = ", ".join(labels.get(m, m) for m in case.missing)
        since = (today - dl.open_since).days if dl.open_since else 0
        out.append(_line(case, f"{dl.label_fr} ({since} j d'attente)" + (f" ; manquant : {missing}" if missing else "")))
    return out


def _observations(cases: Sequence[CaseView], names: Sequence[str], today: date) -> list[Line]:
    out = []
    for case in sorted(cases, key=lambda c: c.ref):
        for p in partners.pending(case, names, today):
            late = " — en retard" if p["late"] else ""
            out.append(_line(case, f"{p['partner']} : observations attendues au plus tard le {p['due']:%d/%m/%Y}{late}"))
    return out


def build(cases: Sequence[CaseView], quarantined: Sequence[Quarantined], *, policy: deadlines.DeadlinePolicy,
          labels: Mapping[str, str], partner_names: Sequence[str], today: date, horizon: int = 7,
          since: date | None = None) -> Digest:
    """The digest of `today`: what arrived since the previous one (the shell picks the quarantined mail of that
    period), and what needs a decision soon."""
    since = since or previous_weekday(today)
    soon, overdue = _clock_lines(cases, policy, today, horizon)
    new = [_line(c, f"reçu le {c.received_on:%d/%m/%Y}, {c.state.value}") for c in sorted(cases, key=lambda c: c.ref)
           if since <= c.received_on <= today]
    deemed = [_line(c, f"avis {c.avis} le {c.avis_on:%d/%m/%Y}") for c in sorted(cases, key=lambda c: c.ref)
              if c.state is CaseState.DEEMED and c.avis_on and since <= c.avis_on <= today]
    return Digest(today, since, tuple(new), tuple(soon), tuple(overdue), tuple(_waiting(cases, policy, labels, today)),
                  tuple(_observations(cases, partner_names, today)), tuple(deemed),
                  tuple(sorted(quarantined, key=lambda q: q.id)))
