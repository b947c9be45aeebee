"""The panorama export: the public panorama's 15 columns, projects with a positive avis, given or deemed."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone

import pytest
from sqlmodel import Session

from intake_bot import export
from intake_bot.tables import CaseRow
from tests.conftest import ROOT

README = ROOT.parent / "shared" / "data" / "panorama" / "README.md"
NOW = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)


def test_columns_are_the_fifteen_of_the_public_files():
    assert len(export.COLUMNS) == 15
    if README.exists():  # the documented list, in order
        text = " ".join(README.read_text(encoding="utf-8").split())
        listed = re.search(r"15 columns of the 2016–2018 files: (.*?)\. ", text)
        assert listed and tuple(listed.group(1).split(", ")) == export.COLUMNS


@pytest.mark.parametrize("cost, bracket", [(None, ""), (4_900_000, "< 5 M€"), (7_000_000, "entre 5 et 9 M€"),
                                           (9_000_000, "entre 9 et 20 M€"), (52_400_000, "entre 20 et 100 M€"),
                                           (101_800_000, "> 100 M€")])
def test_cost_brackets(cost, bracket):
    assert export.tranche(cost) == bracket


def _case(n: int, state: str, avis: str | None, **kw) -> CaseRow:
    return CaseRow(ref=f"GP-2026-{n:04d}", state=state, avis=avis, project_name=f"P{n}", received_at=NOW,
                   received_on=date(2026, 11, 1), created_at=NOW, updated_at=NOW, **kw)


def test_only_positive_avis_given_or_deemed_are_exported(embedded):
    with Session(embedded.engine) as s:
        s.add_all([_case(1, "avis_rendered", "favorable", avis_on=date(2026, 11, 20), ministry="Ministère de la Justice",
                         estimated_cost_eur=52_400_000),
                   _case(2, "avis_rendered", "reserves", avis_on=date(2026, 11, 10)),
                   _case(3, "avis_rendered", "defavorable", avis_on=date(2026, 11, 5)),
                   _case(4, "deemed", "réputé favorable", avis_on=date(2026, 11, 15)),
                   _case(5, "under_review", None), _case(6, "out_of_scope", None), _case(7, "withdrawn", None)])
        s.commit()
    rows = export.panorama(embedded, date(2026, 11, 25))
    assert [r["Nom du projet"] for r in rows] == ["P2", "P4", "P1"]  # by date of avis
    out = io.StringIO()
    export.write_csv(rows, out)
    parsed = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(parsed[0]) == export.COLUMNS
    p1 = dict(zip(parsed[0], parsed[3]))
    assert (p1["Ministère porteur"], p1["Ministère nom complet"], p1["Coût estimé (M€)"]) == (
        "MJ", "Ministère de la Justice", "52.4")
    assert p1["Date de publication"] == "2026-11-25" and p1["Description et objectifs du projet"] == ""
