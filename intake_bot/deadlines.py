"""Deadline arithmetic of the saisine (DESIGN §3): due date, suspensions, tacit-avis wording."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import holidays

from intake_bot.errors import DeadlineError
from intake_bot.model import Suspension

DAY = timedelta(days=1)
OBSERVATION_DAYS = 25  # ANSSI and budget observations, décret 2023-304
FAVORABLE_SINCE = date(2023, 4, 24)  # décret 2023-304 in force: "réputé favorable", no longer "conforme"
_DELAYS = {"1 month": "1 month", "1 mois": "1 month", "30 days": "30 days", "30 jours": "30 days"}
_Block = tuple[date, date | None]  # merged run of suspended days; end None while a suspension is open


@dataclass(frozen=True)
class DeadlinePolicy:
    """How the délai is counted; `delay` is normalised to "1 month" or "30 days"."""

    delay: str = "1 month"
    extend_to_working_day: bool = False

    def __post_init__(self) -> None:
        canonical = _DELAYS.get(" ".join(str(self.delay).lower().split()))
        if canonical is None:
            raise DeadlineError(f"délai inconnu « {self.delay} » : attendu « 1 month » ou « 30 days »")
        object.__setattr__(self, "delay", canonical)


DEFAULT_POLICY = DeadlinePolicy()


@dataclass(frozen=True)
class Deadline:
    """Where a case stands against its délai; due_date and deemed_on are None while suspended."""

    received: date
    base_due: date  # E0
    suspended_days: int  # days of the closed suspensions, each day counted once
    due_date: date | None  # last day DINUM can answer (until 24:00 Paris time)
    deemed_on: date | None  # the day the tacit avis exists
    open_since: date | None  # start of the open suspension
    days_left: int | None  # days on which DINUM can still answer, today included
    extended: bool  # due date moved to the next working day
    wording: str  # "réputé conforme" | "réputé favorable"
    policy: DeadlinePolicy = DEFAULT_POLICY

    @property
    def suspended(self) -> bool:
        return self.open_since is not None

    @property
    def label_fr(self) -> str:
        if self.open_since is None:
            return f"échéance le {_fr(self.due_date)}"
        days = self.days_left or 0
        plural = "s" if days > 1 else ""  # French: "0 jour restant", "1 jour restant", "2 jours restants"
        return f"suspendu depuis le {_fr(self.open_since)}, {days} jour{plural} restant{plural}"


def add_one_month(d: date) -> date:
    """Same day of the next month, or that month's last day if it has none (CPC art. 641)."""
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def base_due(received: date, policy: DeadlinePolicy = DEFAULT_POLICY) -> date:
    """E0: the due date before any suspension."""
    return add_one_month(received) if policy.delay == "1 month" else received + timedelta(days=30)


def observation_due(forwarded_on: date) -> date:
    """Last day for the ANSSI and budget observations on a dossier DINUM forwarded on that date."""
    return forwarded_on + timedelta(days=OBSERVATION_DAYS)


def compute(
    received: date,
    suspensions: Sequence[Suspension],
    policy: DeadlinePolicy = DEFAULT_POLICY,
    today: date | None = None,
) -> Deadline:
    """The deadline of a dossier received on `received`; `today` only feeds days_left."""
    e0 = base_due(received, policy)
    blocks = _merged(received, suspensions, policy)
    closed = [b for b in blocks if b[1] is not None]
    days = sum(_length(b) for b in closed)
    due, extended = _due(e0, days, policy)
    if not blocks or blocks[-1][1] is not None:
        left = None if today is None else _running_days(max(today, received), due, closed)
        return Deadline(received, e0, days, due, due + DAY, None, left, extended, _wording(due + DAY), policy)
    since = blocks[-1][0]
    # The clock stopped on `since` (a suspended day itself): what was left then is what is left on resumption.
    left = _running_days(min(today or since, since), due, closed)
    # The open suspension will add at least one day: the earliest date the avis can now be deemed.
    return Deadline(received, e0, days, None, None, since, left, False, _wording(due + 2 * DAY), policy)


def check_request(
    received: date,
    suspensions: Sequence[Suspension],
    requested_on: date,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> None:
    """Refuse (DeadlineError) a demande de complément that would not suspend the délai."""
    if any(s.end is None and s.start <= requested_on for s in suspensions):
        _merged(received, suspensions, policy)  # clock already stopped: the request is fine if the rest is
        return
    # A closed one-day stand-in gets the same expiry check without tripping the one-open-suspension rule.
    _merged(received, [*suspensions, Suspension(requested_on, requested_on)], policy)


def deadline_json(
    received: date,
    suspensions: Sequence[Suspension],
    policy: DeadlinePolicy = DEFAULT_POLICY,
    today: date | None = None,
) -> dict[str, Any]:
    """What `intake-bot deadline --json` prints: dates as ISO strings, null when unknown."""
    d = compute(received, suspensions, policy, today)
    return {
        "received": _iso(d.received),
        "base_due": _iso(d.base_due),
        "due_date": _iso(d.due_date),
        "deemed_on": _iso(d.deemed_on),
        "suspended_days": d.suspended_days,
        "suspended": d.suspended,
        "open_since": _iso(d.open_since),
        "days_left": d.days_left,
        "extended": d.extended,
        "wording": d.wording,
        "label_fr": d.label_fr,
        "policy": {"delay": policy.delay, "extend_to_working_day": policy.extend_to_working_day},
    }


def parse_date(text: str) -> date:
    """A date written AAAA-MM-JJ (or JJ/MM/AAAA); DeadlineError otherwise."""
    text = text.strip()
    # Strict patterns: Python 3.11's fromisoformat would also take "20260310" or "2026-W11-2".
    found = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)|(\d\d)/(\d\d)/(\d{4})", text)
    if found:
        year, month, day = found.group(1, 2, 3) if found[1] else found.group(6, 5, 4)
        try:
            return date(int(year), int(month), int(day))
        except ValueError:
            pass  # 2026-02-30 and the like: same message as any other bad text
    raise DeadlineError(f"date invalide « {text} » : attendu AAAA-MM-JJ")


def parse_suspension(text: str) -> Suspension:
    """Parse FROM:TO ("2026-03-10:2026-03-20") or, still open, FROM: ("2026-03-10:")."""
    start, sep, end = text.strip().partition(":")
    if not sep:
        raise DeadlineError(f"suspension invalide « {text} » : attendu DEBUT:FIN, ou DEBUT: si en cours")
    return Suspension(parse_date(start), parse_date(end) if end.strip() else None)


def _merged(received: date, suspensions: Sequence[Suspension], policy: DeadlinePolicy) -> list[_Block]:
    """Validate the suspensions and merge them into disjoint runs of suspended days."""
    ordered = sorted(suspensions, key=lambda s: (s.start, s.end is None))
    _check_shape(received, ordered)
    e0 = base_due(received, policy)
    blocks: list[_Block] = []
    for s in ordered:
        # The deadline as it stands on the request day, earlier suspensions counted in full.
        due_now, _ = _due(e0, sum(_length(b) for b in blocks), policy)
        if s.start > due_now:
            raise DeadlineError(
                f"demande de complément du {_fr(s.start)} postérieure à l'échéance du {_fr(due_now)} : "
                "elle ne suspend pas le délai"
            )
        last = blocks[-1] if blocks else None
        if last is not None and (last[1] is None or s.start <= last[1] + DAY):
            # Overlapping or adjacent: one run, so each day is counted once.
            blocks[-1] = (last[0], None if last[1] is None or s.end is None else max(last[1], s.end))
        else:
            blocks.append((s.start, s.end))
    return blocks


def _check_shape(received: date, ordered: Sequence[Suspension]) -> None:
    """Refuse suspensions that cannot exist, whatever the deadline."""
    for s in ordered:
        if s.end is not None and s.end < s.start:
            raise DeadlineError(f"suspension du {_fr(s.start)} au {_fr(s.end)} : réponse avant la demande")
        if s.start < received:
            raise DeadlineError(f"demande du {_fr(s.start)} antérieure à la réception du {_fr(received)}")
    opened = [s for s in ordered if s.end is None]
    if len(opened) > 1:
        raise DeadlineError("plusieurs demandes de complément sans réponse : une seule peut être en cours")
    if opened and ordered[-1] is not opened[0]:
        raise DeadlineError(f"la suspension en cours depuis le {_fr(opened[0].start)} doit être la dernière")


def _due(e0: date, suspended_days: int, policy: DeadlinePolicy) -> tuple[date, bool]:
    due = e0 + timedelta(days=suspended_days)
    if not policy.extend_to_working_day:
        return due, False
    moved = due
    while moved.weekday() >= 5 or moved in _french_holidays(moved.year):  # Saturday, Sunday, jour férié
        moved += DAY
    return moved, moved != due


@lru_cache(maxsize=None)
def _french_holidays(year: int) -> frozenset[date]:
    # Metropolitan list (no subdivision): DINUM sits in Paris, so Alsace-Moselle days do not apply.
    return frozenset(holidays.France(years=year))


def _running_days(first: date, last: date, closed: Sequence[_Block]) -> int:
    """Days from first to last inclusive on which the clock runs (not inside a closed suspension)."""
    total = (last - first).days + 1
    for start, end in closed:
        assert end is not None
        total -= max(0, (min(end, last) - max(start, first)).days + 1)
    return max(0, total)


def _wording(deemed_on: date) -> str:
    # The tacit avis comes into existence on deemed_on (the délai expires at 24:00 the day before), and an
    # act is governed by the text in force when it is born, not when the dossier arrived: a délai ending on
    # 2023-04-23 at 24:00 yields an avis on 2023-04-24, the day décret 2023-304 took effect.
    return "réputé favorable" if deemed_on >= FAVORABLE_SINCE else "réputé conforme"


def _length(block: _Block) -> int:
    assert block[1] is not None
    return (block[1] - block[0]).days + 1


def _fr(d: date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else ""


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None
