"""What the clock asks for (pure): tacit avis at expiry, staff reminders before due dates, relances."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from intake_bot import deadlines, reminders
from intake_bot.cases import CaseView
from intake_bot.errors import TransitionRefused
from intake_bot.model import CaseState, Suspension

D = date.fromisoformat
POLICY = deadlines.DEFAULT_POLICY
STAFF = ("equipe@numerique.gouv.fr",)
BOX = "grandsprojets.si@numerique.gouv.fr"


def case(ref: str = "GP-2026-0001", state: CaseState = CaseState.UNDER_REVIEW, received: str = "2026-03-02",
         **kw) -> CaseView:
    return CaseView(ref=ref, state=state, sender="sg@justice.gouv.fr", received_on=D(received),
                    project_name="PORTALIS", **kw)


# -- tacit avis ------------------------------------------------------------------------------------------
def test_the_avis_is_deemed_the_day_after_the_due_date_not_before():
    with pytest.raises(TransitionRefused, match="l'échéance du 02/04/2026 n'est pas passée"):
        reminders.deem(case(), POLICY, D("2026-04-02"), BOX)
    tr = reminders.deem(case(), POLICY, D("2026-04-03"), BOX)
    assert (tr.case.state, tr.case.avis, tr.case.avis_on) == (CaseState.DEEMED, "réputé favorable", D("2026-04-03"))
    (event,) = tr.events
    assert (event.kind, event.actor, event.data["due_date"]) == ("deemed", "intake-bot", "2026-04-02")
    (mail,) = tr.mails
    assert (mail.template, mail.to, mail.key) == ("ministere.avis", ("sg@justice.gouv.fr",), "deemed:GP-2026-0001")
    assert mail.auto_submitted == "auto-generated" and mail.context["decision_fr"] == "réputé favorable"


def test_a_late_sweep_still_dates_the_tacit_avis_from_the_deemed_day():
    tr = reminders.deem(case(), POLICY, D("2026-04-20"), BOX)
    assert tr.case.avis_on == D("2026-04-03") and tr.mails[0].context["decided_on"] == D("2026-04-03")


def test_before_decret_2023_304_the_avis_is_deemed_conforme():
    assert reminders.deem(case(received="2023-03-01"), POLICY, D("2023-04-02"), BOX).case.avis == "réputé conforme"
    assert reminders.deem(case(received="2023-03-23"), POLICY, D("2023-04-24"), BOX).case.avis == "réputé favorable"


@pytest.mark.parametrize("state", [s for s in CaseState if s is not CaseState.UNDER_REVIEW])
def test_no_tacit_avis_unless_the_clock_runs(state):
    suspended = (Suspension(D("2026-03-10"), None),) if state is CaseState.AWAITING_COMPLEMENT else ()
    with pytest.raises(TransitionRefused, match="pas d'avis tacite"):
        reminders.deem(case(state=state, suspensions=suspended), POLICY, D("2027-01-01"), BOX)


def test_the_sweep_takes_exactly_the_expired_cases():
    due = [case("GP-2026-0001"), case("GP-2026-0002", received="2026-03-03"),
           case("GP-2026-0003", CaseState.AWAITING_COMPLEMENT, suspensions=(Suspension(D("2026-03-02"), None),)),
           case("GP-2026-0004", CaseState.AVIS_RENDERED)]
    assert [t.case.ref for t in reminders.expired(due, POLICY, D("2026-04-03"), BOX)] == ["GP-2026-0001"]
    assert [t.case.ref for t in reminders.expired(due, POLICY, D("2026-04-04"), BOX)] == ["GP-2026-0001", "GP-2026-0002"]


# -- staff reminders -------------------------------------------------------------------------------------
def keys(found: list[reminders.Reminder]) -> list[str]:
    return [r.mail.key for r in found]


@pytest.mark.parametrize("today, expected", [
    ("2026-03-25", []), ("2026-03-26", ["rappel:GP-2026-0001:2026-04-02:7"]),
    ("2026-03-29", ["rappel:GP-2026-0001:2026-04-02:7"]), ("2026-03-31", ["rappel:GP-2026-0001:2026-04-02:2"]),
    ("2026-04-02", ["rappel:GP-2026-0001:2026-04-02:2"]), ("2026-04-03", []),
])
def test_reminders_use_the_tightest_threshold_reached(today, expected):
    found = reminders.rappels([case()], POLICY, (7, 2), STAFF, D(today))
    assert keys(found) == expected
    assert all(r.mail.to == STAFF and r.mail.template == "staff.rappel-echeance" for r in found)


def test_a_new_due_date_rearms_the_reminders_and_suspended_cases_get_none():
    resumed = case(suspensions=(Suspension(D("2026-03-10"), D("2026-03-20")),))  # due 13/04
    assert keys(reminders.rappels([resumed], POLICY, (7, 2), STAFF, D("2026-04-06"))) == [
        "rappel:GP-2026-0001:2026-04-13:7"]
    waiting = case(state=CaseState.AWAITING_COMPLEMENT, suspensions=(Suspension(D("2026-03-10"), None),))
    assert reminders.rappels([waiting], POLICY, (7, 2), STAFF, D("2026-04-01")) == []
    assert reminders.rappels([case()], POLICY, (7, 2), (), D("2026-04-01")) == []


# -- relances --------------------------------------------------------------------------------------------
def waiting(start: str = "2026-03-02") -> CaseView:
    return case(state=CaseState.AWAITING_COMPLEMENT, missing=("planning",),
                suspensions=(Suspension(D(start), None, "pièces manquantes"),))


@pytest.mark.parametrize("today, number", [("2026-03-13", None), ("2026-03-16", 1), ("2026-03-27", 1),
                                           ("2026-03-30", 2), ("2026-04-13", 3), ("2026-06-01", 3)])
def test_relances_every_two_weeks_three_at_most(today, number):
    found = reminders.relances([waiting()], POLICY, {"planning": "Planning et jalons"}, D(today), BOX)
    if number is None:
        assert found == []
        return
    (r,) = found
    assert r.mail.key == f"relance:GP-2026-0001:2026-03-02:{number}" and r.mail.to == ("sg@justice.gouv.fr",)
    assert r.mail.context["missing"] == ["Planning et jalons"] and r.mail.context["number"] == number


def test_no_relance_on_weekends_nor_for_running_cases():
    assert reminders.relances([waiting()], POLICY, {}, D("2026-03-21"), BOX) == []  # a Saturday
    assert reminders.relances([case()], POLICY, {}, D("2026-03-30"), BOX) == []


def test_every_reminder_day_of_a_month_sends_each_threshold_once():
    sent: set[str] = set()
    day = D("2026-03-02")
    while day <= D("2026-04-05"):
        sent |= set(keys(reminders.rappels([case()], POLICY, (7, 2), STAFF, day)))
        day += timedelta(days=1)
    assert sent == {"rappel:GP-2026-0001:2026-04-02:7", "rappel:GP-2026-0001:2026-04-02:2"}
