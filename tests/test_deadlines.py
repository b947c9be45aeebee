"""Tests of the deadline arithmetic (DESIGN §3): worked examples, refusals, and properties."""

from __future__ import annotations

import ast
import json
import random
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

import intake_bot.deadlines as deadlines_module
from intake_bot.deadlines import (
    DeadlinePolicy,
    add_one_month,
    base_due,
    check_request,
    compute,
    deadline_json,
    observation_due,
    parse_date,
    parse_suspension,
)
from intake_bot.errors import DeadlineError, UsageError
from intake_bot.model import Suspension

D = date.fromisoformat
THIRTY = DeadlinePolicy(delay="30 days")
EXTEND = DeadlinePolicy(extend_to_working_day=True)


def susp(start: str, end: str | None = None) -> Suspension:
    return Suspension(D(start), D(end) if end else None)


# --- DESIGN §3 worked examples -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-03-02", "2026-04-02"),
        ("2026-01-31", "2026-02-28"),
        ("2028-01-31", "2028-02-29"),
        ("2026-03-31", "2026-04-30"),
        ("2026-12-15", "2027-01-15"),
    ],
)
def test_worked_examples_without_suspension(received: str, due: str) -> None:
    deadline = compute(D(received), [])
    assert deadline.due_date == D(due) == deadline.base_due == add_one_month(D(received))
    assert deadline.deemed_on == D(due) + timedelta(days=1)
    assert deadline.suspended_days == 0
    assert not deadline.suspended and not deadline.extended


def test_worked_example_with_one_suspension() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-03-10", "2026-03-20")])
    assert deadline.base_due == D("2026-04-02")
    assert deadline.suspended_days == 11  # 10th to 20th, both ends suspended
    assert deadline.due_date == D("2026-04-13")
    assert deadline.deemed_on == D("2026-04-14")
    assert deadline.label_fr == "échéance le 13/04/2026"


def test_thirty_days_policy() -> None:
    assert compute(D("2026-03-02"), [], THIRTY).due_date == D("2026-04-01")
    assert compute(D("2026-01-31"), [], THIRTY).due_date == D("2026-03-02")
    assert compute(D("2026-03-02"), [susp("2026-03-10", "2026-03-20")], THIRTY).due_date == D("2026-04-12")


@pytest.mark.parametrize("alias", ["1 mois", "1 Month", "  1   month "])
def test_month_aliases_are_normalised(alias: str) -> None:
    assert DeadlinePolicy(delay=alias).delay == "1 month"


@pytest.mark.parametrize("alias", ["30 jours", "30 Days"])
def test_thirty_day_aliases_are_normalised(alias: str) -> None:
    assert DeadlinePolicy(delay=alias) == THIRTY


@pytest.mark.parametrize("bad", ["2 months", "", "30", "one month"])
def test_unknown_delay_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="délai inconnu"):
        DeadlinePolicy(delay=bad)


# --- suspensions ---------------------------------------------------------------------------------


def test_overlapping_suspensions_count_each_day_once() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-03-10", "2026-03-20"), susp("2026-03-15", "2026-03-25")])
    assert deadline.suspended_days == 16  # 10th to 25th
    assert deadline.due_date == D("2026-04-18")


def test_same_suspension_twice_counts_once() -> None:
    twice = [susp("2026-03-10", "2026-03-20"), susp("2026-03-10", "2026-03-20")]
    assert compute(D("2026-03-02"), twice).suspended_days == 11


def test_adjacent_and_disjoint_suspensions_add_up() -> None:
    adjacent = [susp("2026-03-10", "2026-03-12"), susp("2026-03-13", "2026-03-15")]
    assert compute(D("2026-03-02"), adjacent).suspended_days == 6
    disjoint = [susp("2026-03-10", "2026-03-10"), susp("2026-03-20", "2026-03-21")]
    assert compute(D("2026-03-02"), disjoint).due_date == D("2026-04-05")


def test_open_suspension_has_no_due_date_and_keeps_the_days_left() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-03-10")], today=D("2026-03-15"))
    assert deadline.suspended and deadline.open_since == D("2026-03-10")
    assert deadline.due_date is None and deadline.deemed_on is None
    assert deadline.days_left == 24  # 03-10..04-02: what remains when the clock resumes
    assert deadline.label_fr == "suspendu depuis le 10/03/2026, 24 jours restants"
    # ... and it does not depend on today, nor on today being given at all.
    assert compute(D("2026-03-02"), [susp("2026-03-10")]).days_left == 24


def test_days_left_after_resumption_match_those_shown_while_suspended() -> None:
    resumed = compute(D("2026-03-02"), [susp("2026-03-10", "2026-03-20")], today=D("2026-03-21"))
    assert resumed.due_date == D("2026-04-13")
    assert resumed.days_left == 24  # 03-21..04-13


def test_days_left_counts_today_and_stops_at_zero() -> None:
    received = D("2026-03-02")
    assert compute(received, [], today=D("2026-04-02")).days_left == 1
    assert compute(received, [], today=D("2026-04-03")).days_left == 0
    assert compute(received, [], today=D("2026-05-20")).days_left == 0
    assert compute(received, []).days_left is None
    # Inside a closed suspension the suspended days do not count as days left.
    assert compute(received, [susp("2026-03-10", "2026-03-20")], today=D("2026-03-15")).days_left == 24


def test_open_suspension_after_a_closed_one() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-03-05", "2026-03-06"), susp("2026-03-20")])
    assert deadline.suspended_days == 2  # due would have been 04-04
    assert deadline.days_left == 16  # 03-20..04-04
    assert deadline.open_since == D("2026-03-20")


def test_open_suspension_overlapping_a_closed_one_started_the_clock_stop_earlier() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-03-10"), susp("2026-03-05", "2026-03-12")])
    assert deadline.open_since == D("2026-03-05")
    assert deadline.suspended_days == 0  # nothing is closed yet in that run of suspended days
    assert deadline.days_left == 29  # 03-05..04-02


def test_singular_in_french_label() -> None:
    deadline = compute(D("2026-03-02"), [susp("2026-04-02")])
    assert deadline.label_fr == "suspendu depuis le 02/04/2026, 1 jour restant"


def test_request_on_the_due_date_still_suspends() -> None:
    assert compute(D("2026-03-02"), [susp("2026-04-02", "2026-04-02")]).due_date == D("2026-04-03")


def test_request_after_expiry_suspends_nothing() -> None:
    message = "demande de complément du 03/04/2026 postérieure à l'échéance du 02/04/2026 : "
    message += "elle ne suspend pas le délai"
    with pytest.raises(DeadlineError) as caught:
        compute(D("2026-03-02"), [susp("2026-04-03", "2026-04-10")])
    assert str(caught.value) == message
    with pytest.raises(DeadlineError, match="ne suspend pas"):
        compute(D("2026-03-02"), [susp("2026-04-03")])


def test_expiry_takes_earlier_suspensions_into_account() -> None:
    first = susp("2026-03-10", "2026-03-20")
    assert compute(D("2026-03-02"), [first, susp("2026-04-13", "2026-04-14")]).due_date == D("2026-04-15")
    with pytest.raises(DeadlineError, match="postérieure à l'échéance du 13/04/2026"):
        compute(D("2026-03-02"), [susp("2026-04-14", "2026-04-15"), first])  # order given does not matter


def test_check_request() -> None:
    received, done = D("2026-03-02"), [susp("2026-03-10", "2026-03-20")]
    check_request(received, done, D("2026-04-13"))
    with pytest.raises(DeadlineError, match="ne suspend pas"):
        check_request(received, done, D("2026-04-14"))
    check_request(received, [susp("2026-03-10")], D("2026-05-30"))  # clock already stopped
    with pytest.raises(DeadlineError, match="antérieure à la réception"):
        check_request(received, [], D("2026-03-01"))
    with pytest.raises(DeadlineError, match="ne suspend pas"):
        check_request(received, [], D("2026-04-03"), THIRTY)


@pytest.mark.parametrize(
    ("suspensions", "match"),
    [
        ([susp("2026-03-20", "2026-03-10")], "réponse avant la demande"),
        ([susp("2026-03-01", "2026-03-10")], "antérieure à la réception"),
        ([susp("2026-03-10"), susp("2026-03-12")], "une seule peut être en cours"),
        ([susp("2026-03-10"), susp("2026-03-12", "2026-03-13")], "doit être la dernière"),
    ],
)
def test_impossible_suspensions_are_refused(suspensions: list[Suspension], match: str) -> None:
    with pytest.raises(DeadlineError, match=match):
        compute(D("2026-03-02"), suspensions)


# --- working-day extension -----------------------------------------------------------------------


def test_extension_off_by_default() -> None:
    deadline = compute(D("2026-04-01"), [])
    assert deadline.due_date == D("2026-05-01") and not deadline.extended


def test_extension_over_labour_day_and_weekend() -> None:
    deadline = compute(D("2026-04-01"), [], EXTEND)  # 05-01 is a Friday and a public holiday
    assert deadline.due_date == D("2026-05-04") and deadline.extended
    assert deadline.deemed_on == D("2026-05-05")


def test_extension_over_saturday_and_easter_monday() -> None:
    deadline = compute(D("2026-03-04"), [], EXTEND)  # 04-04 Saturday, 04-06 Easter Monday
    assert deadline.due_date == D("2026-04-07") and deadline.extended


def test_extension_leaves_working_days_alone() -> None:
    deadline = compute(D("2026-03-02"), [], EXTEND)  # Thursday
    assert deadline.due_date == D("2026-04-02") and not deadline.extended


def test_extension_applies_to_the_deadline_a_request_is_checked_against() -> None:
    check_request(D("2026-03-04"), [], D("2026-04-05"), EXTEND)  # Sunday, before Tuesday's extended due date
    with pytest.raises(DeadlineError):
        check_request(D("2026-03-04"), [], D("2026-04-05"))


# --- wording, observations, JSON, parsing --------------------------------------------------------


def test_wording_switches_on_the_deemed_date() -> None:
    assert compute(D("2023-03-22"), []).deemed_on == D("2023-04-23")
    assert compute(D("2023-03-22"), []).wording == "réputé conforme"
    assert compute(D("2023-03-23"), []).deemed_on == D("2023-04-24")
    assert compute(D("2023-03-23"), []).wording == "réputé favorable"
    assert compute(D("2026-03-02"), []).wording == "réputé favorable"
    # A dossier received under the old décret whose délai ends under the new one is "réputé favorable".
    assert compute(D("2023-03-20"), [susp("2023-03-25", "2023-04-05")]).wording == "réputé favorable"


def test_observation_due() -> None:
    assert observation_due(D("2026-03-10")) == D("2026-04-04")
    assert observation_due(D("2026-12-20")) == D("2027-01-14")


def test_deadline_json_running() -> None:
    policy = DeadlinePolicy()
    out = deadline_json(D("2026-03-02"), [susp("2026-03-10", "2026-03-20")], policy, today=D("2026-03-21"))
    assert json.loads(json.dumps(out)) == out
    assert out["received"] == "2026-03-02" and out["base_due"] == "2026-04-02"
    assert out["due_date"] == "2026-04-13" and out["deemed_on"] == "2026-04-14"
    assert out["suspended_days"] == 11 and out["suspended"] is False and out["open_since"] is None
    assert out["days_left"] == 24 and out["wording"] == "réputé favorable"
    assert out["policy"] == {"delay": "1 month", "extend_to_working_day": False}


def test_deadline_json_suspended() -> None:
    out = deadline_json(D("2026-03-02"), [susp("2026-03-10")], DeadlinePolicy("30 jours", True))
    assert out["due_date"] is None and out["deemed_on"] is None
    assert out["suspended"] is True and out["open_since"] == "2026-03-10"
    assert out["days_left"] == 23  # 03-10..04-01 under the 30-day policy
    assert out["policy"] == {"delay": "30 days", "extend_to_working_day": True}


def test_parse_suspension() -> None:
    assert parse_suspension("2026-03-10:2026-03-20") == susp("2026-03-10", "2026-03-20")
    assert parse_suspension(" 2026-03-10: ") == susp("2026-03-10")
    for bad in ["2026-03-10", "2026-03-10:later", "x:y", ":2026-03-20", "2026-02-30:"]:
        with pytest.raises(DeadlineError, match="invalide"):
            parse_suspension(bad)


def test_parse_date() -> None:
    assert parse_date("2026-03-10") == parse_date("10/03/2026") == D("2026-03-10")
    for bad in ["20260310", "2026-W11-2", "2026-3-10", "2026-02-30", "", "demain"]:
        with pytest.raises(DeadlineError, match="date invalide"):
            parse_date(bad)


def test_core_module_imports_no_io_library() -> None:
    tree = ast.parse(Path(deadlines_module.__file__).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "calendar", "re", "collections.abc", "dataclasses", "datetime", "functools"}
    assert names <= allowed | {"typing", "holidays", "intake_bot.errors", "intake_bot.model"}


# --- properties ----------------------------------------------------------------------------------

receipts = st.dates(date(2000, 1, 1), date(2100, 12, 31))
policies = st.builds(DeadlinePolicy, st.sampled_from(["1 month", "30 days"]), st.booleans())
# (offset from receipt, length - 1): a request at most 25 days after receipt is always before E0.
spans = st.lists(st.tuples(st.integers(0, 25), st.integers(0, 40)), max_size=5)


def closed(received: date, raw: list[tuple[int, int]]) -> list[Suspension]:
    days = timedelta(days=1)
    return [Suspension(received + off * days, received + (off + extra) * days) for off, extra in raw]


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays.France(years=d.year)


@given(receipts, spans, policies)
def test_due_is_never_before_e0(received: date, raw: list[tuple[int, int]], policy: DeadlinePolicy) -> None:
    deadline = compute(received, closed(received, raw), policy)
    assert deadline.due_date is not None and deadline.due_date >= deadline.base_due == base_due(received, policy)
    assert deadline.deemed_on == deadline.due_date + timedelta(days=1)


@given(receipts, spans)
def test_suspended_days_are_the_size_of_the_union(received: date, raw: list[tuple[int, int]]) -> None:
    union = {received + timedelta(days=off + i) for off, extra in raw for i in range(extra + 1)}
    suspensions = closed(received, raw)
    deadline = compute(received, suspensions)
    assert deadline.suspended_days == len(union)
    assert deadline.due_date == deadline.base_due + timedelta(days=len(union))


@given(receipts, spans, policies, st.randoms(use_true_random=False))
def test_order_of_suspensions_does_not_matter(
    received: date, raw: list[tuple[int, int]], policy: DeadlinePolicy, rnd: random.Random
) -> None:
    suspensions = closed(received, raw)
    shuffled = list(suspensions)
    rnd.shuffle(shuffled)
    assert compute(received, suspensions, policy) == compute(received, shuffled, policy)


@given(receipts, spans, st.tuples(st.integers(0, 25), st.integers(0, 40)), policies)
def test_adding_a_suspension_never_moves_the_due_date_earlier(
    received: date, raw: list[tuple[int, int]], extra: tuple[int, int], policy: DeadlinePolicy
) -> None:
    before = compute(received, closed(received, raw), policy).due_date
    after = compute(received, closed(received, [*raw, extra]), policy).due_date
    assert before is not None and after is not None and after >= before


@given(receipts)
def test_one_month_lands_28_to_31_days_later(received: date) -> None:
    due = compute(received, []).due_date
    assert due is not None and 28 <= (due - received).days <= 31
    assert due.day == received.day or due.day < received.day and (due + timedelta(days=1)).day == 1
    assert compute(received, [], THIRTY).due_date == received + timedelta(days=30)


@given(receipts, spans, st.sampled_from(["1 month", "30 days"]))
def test_extension_lands_on_a_working_day_at_most_four_days_later(
    received: date, raw: list[tuple[int, int]], delay: str
) -> None:
    plain = compute(received, closed(received, raw), DeadlinePolicy(delay))
    moved = compute(received, closed(received, raw), DeadlinePolicy(delay, extend_to_working_day=True))
    assert plain.due_date is not None and moved.due_date is not None
    assert is_working_day(moved.due_date)
    assert 0 <= (moved.due_date - plain.due_date).days <= 4  # e.g. Ascension on 04-30, 05-01, weekend
    assert moved.extended == (moved.due_date != plain.due_date)


@given(receipts, st.integers(0, 60), policies)
def test_a_request_suspends_iff_made_by_the_due_date(received: date, offset: int, policy: DeadlinePolicy) -> None:
    requested = received + timedelta(days=offset)
    due = compute(received, [], policy).due_date
    assert due is not None
    if requested <= due:
        check_request(received, [], requested, policy)
        assert compute(received, [Suspension(requested)], policy).open_since == requested
    else:
        with pytest.raises(DeadlineError, match="ne suspend pas"):
            check_request(received, [], requested, policy)
        with pytest.raises(DeadlineError, match="ne suspend pas"):
            compute(received, [Suspension(requested)], policy)


@given(receipts, st.integers(0, 27), st.integers(0, 40), st.sampled_from(["1 month", "30 days"]))
def test_days_left_while_suspended_are_the_days_left_on_resumption(
    received: date, offset: int, length: int, delay: str
) -> None:
    policy = DeadlinePolicy(delay)
    start = received + timedelta(days=offset)
    answered = start + timedelta(days=length)
    waiting = compute(received, [Suspension(start)], policy, today=answered)
    resumed = compute(received, [Suspension(start, answered)], policy, today=answered + timedelta(days=1))
    assert waiting.days_left == resumed.days_left
    assert resumed.due_date is not None and waiting.days_left == (resumed.due_date - answered).days
