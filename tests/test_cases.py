"""Case transitions (DESIGN §3-5), pure: every transition, every refusal, and the clock they move."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake_bot import cases, deadlines, partners
from intake_bot.cases import Action, CaseView, FileRef
from intake_bot.errors import TransitionRefused
from intake_bot.kit import Evidence, Kit, KitReport
from intake_bot.model import CaseState, Suspension
from tests.conftest import ROOT

KIT = ROOT / "config" / "kit.toml"

D = date.fromisoformat
POLICY = deadlines.DEFAULT_POLICY
BOX = "grandsprojets.si@numerique.gouv.fr"
AGENT = "agent@numerique.gouv.fr"
CLOSED = [s for s in CaseState if s.closed]
OPEN = [CaseState.AWAITING_COMPLEMENT, CaseState.UNDER_REVIEW]


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit.from_toml(KIT.read_text(encoding="utf-8"))


def case(state: CaseState = CaseState.UNDER_REVIEW, received: str = "2026-03-02", **kw) -> CaseView:
    return CaseView(ref="GP-2026-0007", state=state, sender="sg@justice.gouv.fr", received_on=D(received),
                    project_name="PORTALIS", ministry="Ministère de la Justice", estimated_cost_eur=52_400_000, **kw)


def act(today: str, text: str = "", **kw) -> Action:
    return Action(AGENT, D(today), "inbound:9", text, **kw)


def awaiting(start: str = "2026-03-02", **kw) -> CaseView:
    return case(CaseState.AWAITING_COMPLEMENT, suspensions=(Suspension(D(start), None, "pièces manquantes"),), **kw)


# -- request for more information ------------------------------------------------------------------------
def test_staff_request_suspends_the_clock_from_the_request_date(kit):
    tr = cases.request_complement(case(), act("2026-03-10", "Précisez le coût du MCO."), ["finances"], kit, POLICY, BOX)
    assert tr.case.state is CaseState.AWAITING_COMPLEMENT
    assert tr.case.suspensions == (Suspension(D("2026-03-10"), None, "demande de complément : Précisez le coût du MCO."),)
    dl = cases.deadline_of(tr.case, POLICY, D("2026-03-10"))
    assert dl.due_date is None and dl.open_since == D("2026-03-10") and dl.days_left == 24  # 10/03 … 02/04
    (event,) = tr.events
    assert (event.kind, event.actor, event.from_state, event.to_state) == (
        "request", AGENT, CaseState.UNDER_REVIEW, CaseState.AWAITING_COMPLEMENT)
    assert event.data == {"items": ["finances"], "requested_on": "2026-03-10"}
    (mail,) = tr.mails
    assert (mail.template, mail.to, mail.key) == ("ministere.demande-complement", ("sg@justice.gouv.fr",),
                                                  "request:inbound:9")
    assert mail.context["items"] == [kit.item("finances").label]
    assert mail.context["case"]["status"] == "suspendu depuis le 10/03/2026, 24 jours restants"


def test_request_while_pieces_are_missing_keeps_the_one_open_suspension(kit):
    tr = cases.request_complement(awaiting(), act("2026-03-05", "Et le planning détaillé."), [], kit, POLICY, BOX)
    assert tr.case.suspensions == awaiting().suspensions
    assert tr.mails[0].context["request"] == "Et le planning détaillé."


def test_request_on_the_due_date_is_accepted_the_day_after_refused(kit):
    cases.request_complement(case(), act("2026-04-02", "x"), [], kit, POLICY, BOX)
    with pytest.raises(TransitionRefused, match="postérieure à l'échéance du 02/04/2026"):
        cases.request_complement(case(), act("2026-04-03", "x"), [], kit, POLICY, BOX)


def test_request_after_expiry_counts_earlier_suspensions(kit):
    resumed = case(suspensions=(Suspension(D("2026-03-10"), D("2026-03-20")),))  # due 13/04
    cases.request_complement(resumed, act("2026-04-13", "x"), [], kit, POLICY, BOX)
    with pytest.raises(TransitionRefused, match="13/04/2026"):
        cases.request_complement(resumed, act("2026-04-14", "x"), [], kit, POLICY, BOX)


@pytest.mark.parametrize("state", CLOSED)
def test_request_refused_once_the_case_is_closed(kit, state):
    with pytest.raises(TransitionRefused, match="Demande de complément impossible : le dossier GP-2026-0007 est"):
        cases.request_complement(case(state), act("2026-03-05", "x"), [], kit, POLICY, BOX)


# -- complement ------------------------------------------------------------------------------------------
def _intake(kit: Kit, on: str, complete: bool = True) -> cases.Intake:
    present = tuple(Evidence(i.id, "dossier.pdf", "ab" * 32) for i in kit.items if i.required and complete)
    return cases.Intake("sg@justice.gouv.fr", D(on), (), KitReport(present, (), ()), {}, (), "inbound:12")


def test_complement_resumes_the_clock_and_announces_the_new_due_date(kit):
    requested = case(CaseState.AWAITING_COMPLEMENT, suspensions=(Suspension(D("2026-03-10"), None),))
    tr = cases.receive_complement(requested, _intake(kit, "2026-03-20"), kit, POLICY, BOX, D("2026-03-20"))
    assert tr.case.state is CaseState.UNDER_REVIEW
    assert tr.case.suspensions == (Suspension(D("2026-03-10"), D("2026-03-20")),)
    assert tr.mails[0].context["case"]["due_date"] == D("2026-04-13")  # DESIGN §3 worked example
    assert [e.kind for e in tr.events] == ["complement", "state"]


def test_complement_processed_late_never_ends_a_suspension_before_it_started(kit):
    requested = case(CaseState.AWAITING_COMPLEMENT, suspensions=(Suspension(D("2026-03-10"), None),))
    tr = cases.receive_complement(requested, _intake(kit, "2026-03-09"), kit, POLICY, BOX, D("2026-03-10"))
    assert tr.case.suspensions == (Suspension(D("2026-03-10"), D("2026-03-10")),)


def test_incomplete_complement_keeps_the_clock_suspended(kit):
    tr = cases.receive_complement(awaiting(missing=("planning",)), _intake(kit, "2026-03-05", complete=False),
                                  kit, POLICY, BOX, D("2026-03-05"))
    assert tr.case.state is CaseState.AWAITING_COMPLEMENT and tr.case.suspensions[0].end is None


@pytest.mark.parametrize("state", CLOSED)
def test_complement_on_a_closed_case_goes_to_staff(kit, state):
    with pytest.raises(TransitionRefused, match="transmis aux agents"):
        cases.receive_complement(case(state), _intake(kit, "2026-03-05"), kit, POLICY, BOX, D("2026-03-05"))


# -- avis ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "label"), list(cases.AVIS.items()))
def test_avis_is_recorded_and_its_file_goes_to_the_ministry(value, label):
    signed = FileRef("inbound:9", "cd" * 32, "avis signé.pdf", "application/pdf", 1000)
    tr = cases.record_avis(case(), act("2026-03-20", files=(signed,)), value, POLICY, BOX)
    assert (tr.case.state, tr.case.avis, tr.case.avis_on) == (CaseState.AVIS_RENDERED, value, D("2026-03-20"))
    assert tr.events[0].reason == f"avis {label}" and tr.events[0].actor == AGENT
    (mail,) = tr.mails
    assert mail.template == "ministere.avis" and mail.attachments == (signed,)
    assert mail.context["decision_fr"] == label and mail.context["files"] == ["avis signé.pdf"]


def test_avis_while_suspended_closes_the_suspension():
    tr = cases.record_avis(awaiting(), act("2026-03-12"), "defavorable", POLICY, BOX)
    assert tr.case.suspensions == (Suspension(D("2026-03-02"), D("2026-03-12"), "pièces manquantes"),)


def test_avis_after_expiry_is_refused_the_tacit_avis_exists():
    cases.record_avis(case(), act("2026-04-02"), "favorable", POLICY, BOX)
    with pytest.raises(TransitionRefused, match="expiré le 02/04/2026 ; l'avis est réputé favorable depuis le 03/04"):
        cases.record_avis(case(), act("2026-04-03"), "defavorable", POLICY, BOX)


def test_unknown_avis_and_closed_cases_are_refused():
    with pytest.raises(TransitionRefused, match="inconnu"):
        cases.record_avis(case(), act("2026-03-05"), "mitigé", POLICY, BOX)
    for state in CLOSED:
        with pytest.raises(TransitionRefused, match="Avis impossible"):
            cases.record_avis(case(state), act("2026-03-05"), "favorable", POLICY, BOX)


# -- out of scope, withdrawal, close, note ---------------------------------------------------------------
@pytest.mark.parametrize("state", OPEN)
def test_out_of_scope_tells_the_ministry_why(state):
    start = awaiting() if state is CaseState.AWAITING_COMPLEMENT else case()
    tr = cases.declare_out_of_scope(start, act("2026-03-05", "coût réel 7 M€"), POLICY, BOX)
    assert tr.case.state is CaseState.OUT_OF_SCOPE and all(s.end for s in tr.case.suspensions)
    assert tr.events[0].reason == "hors périmètre : coût réel 7 M€"
    assert tr.mails[0].context["decision"] == "hors-perimetre" and tr.mails[0].context["text"] == "coût réel 7 M€"


def test_withdrawal_stops_the_clock_without_mail():
    tr = cases.withdraw(awaiting(), act("2026-03-05", "projet abandonné"))
    assert tr.case.state is CaseState.WITHDRAWN and tr.mails == ()
    assert tr.case.suspensions[0].end == D("2026-03-05")
    assert tr.events[0].reason == "saisine retirée : projet abandonné"


@pytest.mark.parametrize("state", CLOSED)
def test_out_of_scope_and_withdrawal_refused_on_closed_cases(state):
    with pytest.raises(TransitionRefused):
        cases.declare_out_of_scope(case(state), act("2026-03-05"), POLICY, BOX)
    with pytest.raises(TransitionRefused, match="Retrait impossible"):
        cases.withdraw(case(state), act("2026-03-05"))


@pytest.mark.parametrize("state", CLOSED)
def test_close_archives_a_finished_case_once(state):
    tr = cases.close(case(state), act("2026-05-01", "classé"))
    assert tr.case.closed_on == D("2026-05-01") and tr.case.state is state
    assert tr.events[0].kind == "closed" and tr.events[0].actor == AGENT
    with pytest.raises(TransitionRefused, match="déjà clos depuis le 01/05/2026"):
        cases.close(tr.case, act("2026-05-02"))


@pytest.mark.parametrize("state", OPEN + [CaseState.RECEIVED])
def test_close_refused_while_the_clock_can_still_run(state):
    with pytest.raises(TransitionRefused, match="Clôture impossible.*rendez d'abord l'avis"):
        cases.close(case(state), act("2026-03-05"))


@pytest.mark.parametrize("state", list(CaseState))
def test_note_in_any_state_changes_nothing_else(state):
    tr = cases.note(case(state), act("2026-03-05", "  appel du SG : dossier en route  "))
    assert tr.case == case(state) and tr.mails == ()
    assert (tr.events[0].kind, tr.events[0].reason, tr.events[0].actor) == ("note", "appel du SG : dossier en route", AGENT)
    with pytest.raises(TransitionRefused, match="#note attend un texte"):
        cases.note(case(state), act("2026-03-05", " "))


# -- ANSSI and budget ------------------------------------------------------------------------------------
PARTNERS = {"anssi": ["obs@ssi.gouv.fr"], "budget": ["si@budget.gouv.fr"]}
DOSSIER = [FileRef("inbound:1", "", "GP-2026-0007-message-1.eml", "application/octet-stream", 2_000_000)]


def test_complete_dossier_is_forwarded_once_with_a_25_day_deadline():
    tr = partners.forward(case(), PARTNERS, DOSSIER, [], POLICY, D("2026-03-02"))
    assert tr.case.forwarded_on == D("2026-03-02")
    assert [m.to for m in tr.mails] == [("obs@ssi.gouv.fr",), ("si@budget.gouv.fr",)]
    assert {m.context["observations_due"] for m in tr.mails} == {D("2026-03-27")}
    assert all(m.attachments == tuple(DOSSIER) and m.key.startswith("forward:GP-2026-0007:") for m in tr.mails)
    assert tr.events[0].data["observations_due"] == "2026-03-27"
    assert partners.forward(tr.case, PARTNERS, DOSSIER, [], POLICY, D("2026-03-03")).mails == ()
    assert partners.forward(awaiting(), PARTNERS, DOSSIER, [], POLICY, D("2026-03-03")).mails == ()
    assert partners.forward(case(), {"anssi": [], "budget": []}, DOSSIER, [], POLICY, D("2026-03-03")).mails == ()


def test_a_dossier_too_big_to_mail_is_listed_not_attached():
    big = [replace(DOSSIER[0], size=partners.FORWARD_MAX_BYTES + 1)]
    tr = partners.forward(case(), PARTNERS, big, [], POLICY, D("2026-03-02"))
    assert all(m.attachments == () and m.context["attached"] == [] for m in tr.mails)


def test_observations_keep_their_first_date_and_are_flagged_when_late():
    sent = case(forwarded_on=D("2026-03-02"))
    first = partners.receive_observations(sent, "anssi", D("2026-03-20"), "obs@ssi.gouv.fr")
    again = partners.receive_observations(first.case, "anssi", D("2026-03-30"), "obs@ssi.gouv.fr")
    assert again.case.observed == (("anssi", D("2026-03-20")),)
    assert again.events[0].data == {"partner": "anssi", "late": True} and first.events[0].data["late"] is False
    assert partners.pending(first.case, ["anssi", "budget"], D("2026-03-28")) == [
        {"partner": "direction du budget", "due": D("2026-03-27"), "late": True}]
    assert partners.partner_of(" OBS@ssi.gouv.fr", PARTNERS) == "anssi" and partners.partner_of("x@y.fr", PARTNERS) is None


# -- properties ------------------------------------------------------------------------------------------
days = st.integers(min_value=0, max_value=60)


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), days, days)
def test_request_then_answer_adds_exactly_the_suspended_days(received, wait, answered_after):
    start = case(received=received.isoformat())
    due = cases.deadline_of(start, POLICY).due_date
    requested_on = received + timedelta(days=wait)
    kit = Kit.from_toml(KIT.read_text(encoding="utf-8"))
    if requested_on > due:
        with pytest.raises(TransitionRefused):
            cases.request_complement(start, act(requested_on.isoformat(), "x"), [], kit, POLICY, BOX)
        return
    asked = cases.request_complement(start, act(requested_on.isoformat(), "x"), [], kit, POLICY, BOX).case
    answer_on = requested_on + timedelta(days=answered_after)
    resumed = cases.receive_complement(asked, _intake(kit, answer_on.isoformat()), kit, POLICY, BOX, answer_on).case
    assert resumed.state is CaseState.UNDER_REVIEW
    assert cases.deadline_of(resumed, POLICY).due_date == due + timedelta(days=answered_after + 1)


ACTIONS = {
    "request": lambda c: cases.request_complement(c, act("2026-03-05", "x"), [], Kit.from_toml(KIT.read_text()), POLICY, BOX),
    "avis": lambda c: cases.record_avis(c, act("2026-03-05"), "favorable", POLICY, BOX),
    "out_of_scope": lambda c: cases.declare_out_of_scope(c, act("2026-03-05"), POLICY, BOX),
    "withdraw": lambda c: cases.withdraw(c, act("2026-03-05")),
}


@given(st.sampled_from(CLOSED), st.sampled_from(sorted(ACTIONS)))
def test_closed_states_never_reopen(state, action):
    with pytest.raises(TransitionRefused):
        ACTIONS[action](case(state))


@given(st.sampled_from(OPEN), st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, max_size=4))
def test_any_sequence_of_actions_ends_in_a_consistent_state(state, sequence):
    current = awaiting() if state is CaseState.AWAITING_COMPLEMENT else case()
    for name in sequence:
        try:
            current = ACTIONS[name](current).case
        except TransitionRefused:
            assert current.state.closed or name == "request"
    open_suspensions = [s for s in current.suspensions if s.end is None]
    assert (current.state is CaseState.AWAITING_COMPLEMENT) == bool(open_suspensions)
    cases.deadline_of(current, POLICY)  # the suspensions stay valid for the deadline rule
