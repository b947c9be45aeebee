"""The panorama export: projects with a positive avis (given or deemed), in the public panorama's 15 columns."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import or_, select
from sqlmodel import Session

from . import terminal
from .classify import fold
from .model import CaseState
from .tables import CaseRow

if TYPE_CHECKING:
    from .wiring import App

# The 15 columns of the 2016-2018 panorama files, as named in shared/data/panorama/README.md (the CSV files
# themselves head the cost column "Coût estimé"; the README adds the unit).
COLUMNS = ("Ministère porteur", "Ministère nom complet", "Nom du projet", "Projet interministériel",
           "Description et objectifs du projet", "En savoir plus sur le projet", "Début",
           "Durée prévisionnelle en année", "Phase du projet en cours", "Coût estimé (M€)", "Coût estimé par tranche",
           "Zone fonctionnelle", "Financement [programme(s)]", "Lien vers les Projets Annuels de Performances",
           "Date de publication")
POSITIVE_AVIS = ("favorable", "reserves")
# Short names used by the panorama for the "Ministère porteur" column, keyed by a word of the full name;
# an unknown ministry leaves the cell empty for the panorama editors rather than guessing.
SIGLES = (("premier ministre", "SPM"), ("justice", "MJ"), ("interieur", "MI"), ("economie", "MEF"),
          ("finances", "MEF"), ("armees", "MINARM"), ("defense", "MINDEF"), ("agriculture", "MAA"),
          ("education", "MEN"), ("culture", "MC"), ("affaires etrangeres", "MEAE"), ("europe", "MEAE"),
          ("transition ecologique", "MTES"), ("travail", "MTSS"), ("sante", "MSS"), ("solidarites", "MSS"))


def tranche(cost_eur: int | None) -> str:
    """The panorama's cost bracket."""
    if cost_eur is None:
        return ""
    m = cost_eur / 1_000_000
    for limit, label in ((5, "< 5 M€"), (9, "entre 5 et 9 M€"), (20, "entre 9 et 20 M€"), (100, "entre 20 et 100 M€")):
        if m < limit:
            return label
    return "> 100 M€"


def sigle(ministry: str) -> str:
    words = fold(ministry)
    return next((short for key, short in SIGLES if key in words), "")


def row_of(case: CaseRow, published: date) -> dict[str, str]:
    """One panorama line; what a saisine does not tell (description, dates, zone, funding) stays empty."""
    cost = case.estimated_cost_eur
    values = {"Ministère porteur": sigle(case.ministry), "Ministère nom complet": case.ministry,
              "Nom du projet": case.project_name, "Phase du projet en cours": "Cadrage",
              "Coût estimé (M€)": f"{cost / 1_000_000:.1f}" if cost is not None else "",
              "Coût estimé par tranche": tranche(cost), "Date de publication": published.isoformat()}
    return {column: terminal.cell(values.get(column, "")) for column in COLUMNS}


def positive_cases(app: App) -> list[CaseRow]:
    """Cases whose avis is favorable (with or without reservations) or deemed given, oldest avis first."""
    given = (CaseRow.state == CaseState.AVIS_RENDERED.value) & CaseRow.avis.in_(POSITIVE_AVIS)  # type: ignore[union-attr]
    with Session(app.engine) as s:
        rows = s.execute(select(CaseRow).where(or_(given, CaseRow.state == CaseState.DEEMED.value))
                         .order_by(CaseRow.avis_on, CaseRow.ref)).scalars()
        return list(rows)


def panorama(app: App, published: date) -> list[dict[str, str]]:
    return [row_of(case, published) for case in positive_cases(app)]


def write_csv(rows: Iterable[dict[str, str]], out: TextIO, columns: Sequence[str] = COLUMNS) -> None:
    """Comma-separated, UTF-8, header first: the layout of the public panorama files."""
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
