"""The daily digest's content (pure): new cases, due soon, overdue, waiting, observations, tacit avis, quarantine."""

from __future__ import annotations

from datetime import date, datetime, timezone

from intake_bot import deadlines, digest
from intake_bot.cases import CaseView
from intake_bot.model import CaseState, Suspension

D = date.fromisoformat
POLICY = deadlines.DEFAULT_POLICY


def case(ref: str, state: CaseState = CaseState.UNDER_REVIEW, received: str = "2026-03-02", **kw) -> CaseView:
    return CaseView(ref=ref, state=state, sender="sg@x.gouv.fr", received_on=D(received), project_name=ref[-2:],
                    ministry="Justice", **kw)


def build(cases, today="2026-03-30", quarantined=()):
    return digest.build(cases, quarantined, policy=POLICY, labels={"planning": "Planning et jalons"},
                        partner_names=["anssi", "budget"], today=D(today), horizon=7)


def test_digest_sections():
    held = digest.Quarantined(7, datetime(2026, 3, 29, 9, tzinfo=timezone.utc), "x@y.fr", "Re: ?", "orphelin")
    d = build([
        case("GP-2026-0001"),  # due 02/04: in 3 days
        case("GP-2026-0002", received="2026-02-20"),  # due 20/03: overdue, the sweep has not run
        case("GP-2026-0003", received="2026-03-27"),  # new (since Friday 27/03)
        case("GP-2026-0004", CaseState.AWAITING_COMPLEMENT, missing=("planning",),
             suspensions=(Suspension(D("2026-03-10"), None),)),
        case("GP-2026-0005", forwarded_on=D("2026-03-02"), observed=(("anssi", D("2026-03-20")),)),
        case("GP-2026-0006", CaseState.DEEMED, avis="réputé favorable", avis_on=D("2026-03-28")),
        case("GP-2026-0007", CaseState.DEEMED, avis="réputé favorable", avis_on=D("2026-03-01")),
    ], "2026-03-30", [held])
    assert d.since == D("2026-03-27")  # Monday: since Friday
    assert [(line.ref, line.detail) for line in d.due_soon] == [
        ("GP-2026-0001", "échéance le 02/04/2026, dans 3 jours"), ("GP-2026-0005", "échéance le 02/04/2026, dans 3 jours")]
    assert [line.ref for line in d.overdue] == ["GP-2026-0002"] and "réputé favorable" in d.overdue[0].detail
    assert [line.ref for line in d.new] == ["GP-2026-0003"]
    assert d.waiting[0].detail == "suspendu depuis le 10/03/2026, 24 jours restants (20 j d'attente) ; manquant : Planning et jalons"
    assert [line.detail for line in d.observations] == [
        "direction du budget : observations attendues au plus tard le 27/03/2026 — en retard"]
    assert [line.ref for line in d.deemed] == ["GP-2026-0006"]
    assert d.quarantine == (held,) and not d.empty


def test_a_quiet_day_is_empty_and_closed_cases_leave_the_digest():
    d = build([case("GP-2026-0001", CaseState.AVIS_RENDERED, avis="favorable", forwarded_on=D("2026-03-02"))])
    assert d.empty


def test_previous_weekday():
    assert digest.previous_weekday(D("2026-03-30")) == D("2026-03-27")  # Monday -> Friday
    assert digest.previous_weekday(D("2026-03-31")) == D("2026-03-30")
