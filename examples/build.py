"""Regenerate the example saisine emails (.eml) from real projects of the public panorama data."""

from __future__ import annotations

import argparse
import csv
import email.policy
import html
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from examples import documents

DEFAULT_OUTDIR = Path(__file__).resolve().parent / "saisines"
PANORAMA_DIR = Path(__file__).resolve().parents[2] / "shared/data/panorama"
DINUM = Address("Grands projets SI – DINUM", addr_spec="grandsprojets.si@numerique.gouv.fr")
PARIS_WINTER = timezone(timedelta(hours=1))
# Parts are encoded with the default policy (76-column base64 and quoted-printable); the message is
# written without header folding, because Python folds long RFC 2047 display names in the middle of a
# word and its own parser then reads "l' Intérieur". LF line endings; the bytes are stable across runs.
POLICY = email.policy.default
WRITE_POLICY = email.policy.default.clone(max_line_length=998)
SRC_2016 = "panorama_projets_si.csv"
SRC_2021 = "panorama_dec2021_from_disic_github_io_index_html.csv"
CRITERIA = ("strategie", "finances", "gouvernance", "realisation", "planning")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")

Rows = Sequence[Sequence[object]]
Sections = tuple[tuple[str, str], ...]

# Column names differ between the 2016–2018 exports and the Dec 2021 table.
COLUMNS = {
    "name": ("Nom du projet", "Projet"),
    "ministry": ("Ministère nom complet", "Ministère porteur"),
    "description": ("Description et objectifs du projet", "Description et objectifs"),
    "cost": ("Coût estimé", "Coût complet estimé"),
    "start": ("Début",),
    "duration": ("Durée prévisionnelle en année", "Durée du projet en années"),
    "funding": ("Financement [programme(s)]", "Programme de financement"),
}

MIME_TYPES = {
    "pdf": "application/pdf",
    "scan": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "zip": "application/zip",
}


# ---------------------------------------------------------------------------------------------------
# Data tables
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """One row of a panorama CSV file."""

    name: str
    ministry: str
    description: str
    cost_meur: float
    start: str
    duration_years: float
    funding: str
    source: str
    row: int  # spreadsheet row number: the header is row 1


@dataclass(frozen=True)
class Sender:
    """A ministry's secrétariat général mailbox and its signatory (names are fictitious)."""

    display_name: str
    address: str
    signatory: str  # "La secrétaire générale" / "Le secrétaire général"
    signer: str


@dataclass(frozen=True)
class Piece:
    """One document of the dossier, covering one or more kit items."""

    filename: str
    fmt: str  # pdf | scan | docx | xlsx | odt | ods
    items: tuple[str, ...]
    title: str = ""  # title of a document that merges several items
    in_zip: bool = False


@dataclass(frozen=True)
class Spec:
    """One example message: who sends what about which real project, and what intake-bot should do."""

    stem: str
    kind: str  # saisine | complement | auto-reply | information
    source: str
    project: str
    sender: Sender
    day: int
    time: str
    expected: str
    exercises: str
    pieces: tuple[Piece, ...] = ()
    zip_name: str = ""
    to_directrice: bool = True
    money: str = "meur"  # meur | euros | millions
    html: bool = False
    note_covers: tuple[str, ...] = CRITERIA
    reply_to: str = ""  # stem of the message this one answers


JUSTICE = Sender("Secrétariat général – Ministère de la Justice", "sg@justice.gouv.fr",
                 "La secrétaire générale", "Hélène Marchetti")
INTERIEUR = Sender("Secrétariat général du ministère de l'Intérieur", "sg@interieur.gouv.fr",
                   "Le secrétaire général", "Olivier Kerhervé")
EDUCATION = Sender("Secrétariat général – Éducation nationale", "sg@education.gouv.fr",
                   "La secrétaire générale", "Sophie Lannuzel")
AGRICULTURE = Sender("Secrétariat général – Ministère de l'Agriculture", "sg@agriculture.gouv.fr",
                     "Le secrétaire général", "Bertrand Échevin")
PREMIER_MINISTRE = Sender("Secrétariat général du Gouvernement", "sgg@pm.gouv.fr",
                          "Le secrétaire général du Gouvernement", "Arnaud Vallerin")
FINANCES = Sender("Secrétariat général – Ministères économiques et financiers",
                  "secretariat-general@finances.gouv.fr", "La secrétaire générale", "Camille Rousselot")

COURRIER = Piece("Courrier de saisine signé.pdf", "pdf", ("courrier-saisine",))

MESSAGES: tuple[Spec, ...] = (
    Spec(
        stem="01-portalis-justice", kind="saisine", source=SRC_2016, project="PORTALIS",
        sender=JUSTICE, day=2, time="09:30", html=True,
        exercises="complete dossier, 10 attachments in mixed formats (PDF, DOCX, XLSX, scan), "
                  "accented file names (RFC 2231), text + HTML body",
        expected="complete case, avis conforme: every required and recommended piece present; "
                 "the scanned annex has no text and matches no kit item",
        pieces=(
            Piece("Courrier de saisine – PORTALIS.pdf", "pdf", ("courrier-saisine",)),
            Piece("Note de synthèse – PORTALIS.docx", "docx", ("note-synthese",)),
            Piece("Étude d'opportunité et MAREVA.pdf", "pdf", ("strategie",)),
            Piece("Coût complet et financement.xlsx", "xlsx", ("finances",)),
            Piece("Gouvernance du projet.docx", "docx", ("gouvernance",)),
            Piece("Architecture et stratégie d'achat.pdf", "pdf", ("realisation",)),
            Piece("Planning et jalons.xlsx", "xlsx", ("planning",)),
            Piece("Analyse de risques SSI et homologation.pdf", "pdf", ("securite",)),
            Piece("Registre des risques.xlsx", "xlsx", ("risques",)),
            Piece("Annexe – délégation de signature (scan).pdf", "scan", ()),
        ),
    ),
    Spec(
        stem="02-france-visas-interieur-zip", kind="saisine", source=SRC_2021, project="FRANCE VISAS",
        sender=INTERIEUR, day=3, time="14:12", to_directrice=False, money="euros",
        zip_name="Dossier de saisine – FRANCE VISAS.zip",
        exercises="dossier inside a ZIP (UTF-8 member names), letter outside; amount written in "
                  "euros with no-break-space thousands separators; addressed to 'Monsieur le directeur'",
        expected="complete case, avis conforme: pieces found inside the ZIP",
        pieces=(
            COURRIER,
            Piece("01 – Note de synthèse.pdf", "pdf", ("note-synthese",), in_zip=True),
            Piece("02 – Étude d'opportunité.pdf", "pdf", ("strategie",), in_zip=True),
            Piece("03 – Coût complet (construction + MCO 24 mois).xlsx", "xlsx", ("finances",), in_zip=True),
            Piece("04 – Gouvernance.docx", "docx", ("gouvernance",), in_zip=True),
            Piece("05 – Réalisation.pdf", "pdf", ("realisation",), in_zip=True),
            Piece("06 – Planning.pdf", "pdf", ("planning",), in_zip=True),
            Piece("07 – Sécurité (EBIOS RM).pdf", "pdf", ("securite",), in_zip=True),
            Piece("08 – Registre des risques.xlsx", "xlsx", ("risques",), in_zip=True),
        ),
    ),
    Spec(
        stem="03-opale-education-odf", kind="saisine", source=SRC_2021, project="OP@LE",
        sender=EDUCATION, day=4, time="11:47", money="millions", html=True,
        exercises="OpenDocument dossier (ODT + ODS); several kit items satisfied by headings of one "
                  "dossier de cadrage and by sheets of one workbook",
        expected="complete case, avis conforme: strategie/gouvernance/realisation/planning/securite "
                 "found as headings of the ODT, finances and risques as ODS sheets",
        pieces=(
            COURRIER,
            Piece("Note de synthèse OP@LE.odt", "odt", ("note-synthese",)),
            Piece("Dossier de cadrage OP@LE.odt", "odt",
                  ("strategie", "gouvernance", "realisation", "planning", "securite"),
                  title="Dossier de cadrage – OP@LE"),
            Piece("Coût complet et risques OP@LE.ods", "ods", ("finances", "risques")),
        ),
    ),
    Spec(
        stem="04-expadon2-agriculture-sans-planning", kind="saisine", source=SRC_2016,
        project="EXPADON 2", sender=AGRICULTURE, day=5, time="16:05", to_directrice=False,
        note_covers=("strategie", "finances", "gouvernance", "realisation"),
        exercises="dossier without the required 'planning' piece (the note de synthèse has no "
                  "planning section either)",
        expected="case opened, awaiting_complement: missing required piece 'planning' (clock suspended)",
        pieces=(
            COURRIER,
            Piece("Note de synthèse EXPADON 2.docx", "docx", ("note-synthese",)),
            Piece("Étude d'opportunité EXPADON 2.pdf", "pdf", ("strategie",)),
            Piece("Coût complet EXPADON 2.xlsx", "xlsx", ("finances",)),
            Piece("Gouvernance EXPADON 2.pdf", "pdf", ("gouvernance",)),
            Piece("Réalisation et stratégie d'achat EXPADON 2.docx", "docx", ("realisation",)),
            Piece("Sécurité et homologation EXPADON 2.pdf", "pdf", ("securite",)),
            Piece("Registre des risques EXPADON 2.xlsx", "xlsx", ("risques",)),
        ),
    ),
    Spec(
        stem="05-expadon2-agriculture-complement", kind="complement", source=SRC_2016,
        project="EXPADON 2", sender=AGRICULTURE, day=16, time="10:20", to_directrice=False,
        reply_to="04-expadon2-agriculture-sans-planning",
        exercises="follow-up linked only by In-Reply-To/References to message 04 (no case tag)",
        expected="follow-up attached to the case of 04; dossier complete; clock resumes "
                 "(under_review, new due date)",
        pieces=(Piece("Planning et jalons EXPADON 2.pdf", "pdf", ("planning",)),),
    ),
    Spec(
        stem="06-franceconnect-spm-sous-seuil", kind="saisine", source=SRC_2016, project="FRANCE CONNECT",
        sender=PREMIER_MINISTRE, day=9, time="15:40", money="euros",
        exercises="saisine whose announced montant prévisionnel global (7 M€) is below the 9 M€ threshold",
        expected="out_of_scope (< 9 M€ TTC): hors-périmètre answer",
        pieces=(
            COURRIER,
            Piece("Note de synthèse FranceConnect.docx", "docx", ("note-synthese",)),
            Piece("Coût complet FranceConnect.xlsx", "xlsx", ("finances",)),
        ),
    ),
    Spec(
        stem="07-reponse-automatique-justice", kind="auto-reply", source=SRC_2016, project="PORTALIS",
        sender=JUSTICE, day=10, time="18:02",
        exercises="Outlook out-of-office reply (Auto-Submitted: auto-replied, X-Auto-Response-Suppress)",
        expected="no answer: recorded as an auto-reply, never answered, no case",
    ),
    Spec(
        stem="08-france-sesame-finances-information", kind="information", source=SRC_2021,
        project="FRANCE SESAME", sender=FINANCES, day=12, time="08:55", html=True,
        exercises="'information' email: the estimate passed 9 M€, no dossier, no saisine yet",
        expected="out_of_scope (information, not a saisine): recorded, no case clock",
    ),
)


# ---------------------------------------------------------------------------------------------------
# Panorama data
# ---------------------------------------------------------------------------------------------------


def panorama_dir() -> Path:
    """The panorama data directory, overridable with INTAKE_PANORAMA_DIR."""
    override = os.environ.get("INTAKE_PANORAMA_DIR")
    return Path(override) if override else PANORAMA_DIR


def _column(row: Mapping[str, str], key: str) -> str:
    """The value of a logical column, whichever export the row comes from."""
    for name in COLUMNS[key]:
        if name in row:
            return row[name].strip()
    raise KeyError(key)


def clean(text: str) -> str:
    """Description text without the HTML links of the 2021 export and without doubled spaces."""
    text = re.sub(r"\s*\(?<a [^>]*>.*?</a>\)?", "", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def first_sentence(text: str) -> str:
    """The first sentence of a description (up to the first full stop or line break)."""
    match = re.match(r"[^\n]*?[.!?](?=\s|$)", text)
    return (match.group(0) if match else text.split("\n")[0]).strip()


def _number(text: str, default: float) -> float:
    """A decimal from the CSV ('52.4'), or the default for 'En cadrage' and blanks."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return default


def load_project(data_dir: Path, source: str, name: str) -> Project:
    """Find a project by its exact name in one panorama CSV file."""
    with (data_dir / source).open(encoding="utf-8", newline="") as handle:
        for index, raw in enumerate(csv.DictReader(handle), start=2):
            row = {(key or "").strip(): (value or "") for key, value in raw.items()}
            if _column(row, "name") != name:
                continue
            return Project(
                name=name, ministry=_column(row, "ministry"), description=clean(_column(row, "description")),
                cost_meur=_number(_column(row, "cost"), 0.0), start=_column(row, "start"),
                duration_years=_number(_column(row, "duration"), 4.0), funding=_column(row, "funding"),
                source=source, row=index,
            )
    raise LookupError(f"project {name!r} not found in {source}")


# ---------------------------------------------------------------------------------------------------
# French phrasing
# ---------------------------------------------------------------------------------------------------


def euros(amount: int) -> str:
    """'52 400 000' with no-break spaces, as French word processors write it."""
    return f"{amount:,}".replace(",", "\u00a0")


def decimal_fr(value: float) -> str:
    """'52,4': one decimal, French decimal comma."""
    return f"{value:.1f}".replace(".", ",")


def money(cost_meur: float, style: str) -> str:
    """The montant prévisionnel global in one of the French phrasings found in real letters."""
    decimal = decimal_fr(cost_meur)
    if style == "euros":
        return f"{euros(round(cost_meur * 1_000_000))} euros TTC"
    if style == "millions":
        return f"{decimal} millions d'euros TTC"
    return f"{decimal} M€ TTC"


def month_label(year: int, month: int) -> str:
    """'mars 2027' from a year and a possibly overflowing month number (1-based)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{MONTHS[month - 1]} {year}"


def long_date(day: int) -> str:
    """'2 novembre 2026' for a day of November 2026 (all example messages are dated then)."""
    return f"{'1er' if day == 1 else day} novembre 2026"


def lower_first(text: str) -> str:
    """'le secrétaire général du Gouvernement' from 'Le secrétaire général du Gouvernement'."""
    return text[:1].lower() + text[1:]


def addressee(spec: Spec) -> str:
    """The salutation for the DINUM director."""
    return "Madame la directrice" if spec.to_directrice else "Monsieur le directeur"


# ---------------------------------------------------------------------------------------------------
# Kit contents, one function per kit item
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """What one kit item says about a project, ready for any document format."""

    heading: str  # criterion heading in the note de synthèse and in merged documents
    title: str  # document title when the item is a document of its own
    summary: str
    sections: Sections
    tables: Mapping[str, Rows] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    """A message being composed: its spec and its real project."""

    spec: Spec
    project: Project


def _strategie(ctx: Ctx) -> Content:
    p = ctx.project
    return Content(
        heading="Stratégie", title=f"Étude d'opportunité et analyse de la valeur – {p.name}",
        summary=f"Opportunité : {first_sentence(p.description)} Scénario de refonte retenu après analyse "
                f"de la valeur (MAREVA).",
        sections=(
            ("Contexte et opportunité", p.description),
            ("Objectifs", f"Le projet {p.name} répond aux orientations de la feuille de route numérique "
                          f"du ministère : qualité du service rendu aux usagers, productivité des agents, "
                          f"réduction de la dette technique."),
            ("Analyse de la valeur (MAREVA)", "La méthode MAREVA 2 a été appliquée : rentabilité, maîtrise "
                                              "des risques, nécessité et bénéfices pour les usagers et les "
                                              "agents. Le scénario retenu présente la meilleure valeur."),
            ("Scénarios étudiés", "Trois scénarios ont été comparés : statu quo, évolution de l'existant, "
                                  "refonte. La refonte est recommandée."),
        ),
    )


COST_LINES: tuple[tuple[str, float, float], ...] = (
    # label, share of the total in construction, share of the total in the first 24 months of MCO
    ("Études amont et cadrage", 0.05, 0.0),
    ("Prestations de conception et de développement", 0.34, 0.06),
    ("Matériel, licences et hébergement", 0.10, 0.06),
    ("Personnel interne (ETP valorisés)", 0.12, 0.05),
    ("Conduite du changement, formation et communication", 0.07, 0.01),
    ("Tierce maintenance applicative", 0.0, 0.08),
    ("Décommissionnement de l'existant", 0.03, 0.0),
    ("Provision pour risques", 0.03, 0.0),
)


def cost_table(cost_meur: float) -> list[list[object]]:
    """Coût complet in euros (construction + 24 months of MCO), rows summing exactly to the total."""
    total = round(cost_meur * 1_000_000)
    cells = [[round(total * build), round(total * run)] for _, build, run in COST_LINES]
    cells[1][0] += total - sum(b + r for b, r in cells)
    header: list[object] = ["Poste", "Construction (€ TTC)", "MCO 24 premiers mois (€ TTC)", "Total (€ TTC)"]
    rows = [[label, b, r, b + r] for (label, _, _), (b, r) in zip(COST_LINES, cells, strict=True)]
    build, run = sum(b for b, _ in cells), sum(r for _, r in cells)
    return [header, *rows, ["Coût complet", build, run, build + run]]


def _finances(ctx: Ctx) -> Content:
    p = ctx.project
    table = cost_table(p.cost_meur)
    _, build, run, _ = (v if isinstance(v, int) else 0 for v in table[-1])
    funding = p.funding or "programme ministériel"
    summary = (f"Coût complet : {money(p.cost_meur, 'meur')}, dont {money(build / 1e6, 'meur')} de "
               f"construction et {money(run / 1e6, 'meur')} pour les 24 premiers mois de MCO. "
               f"Financement : {funding}.")
    return Content(
        heading="Finances", title=f"Coût complet et financement – {p.name}", summary=summary,
        sections=(("Coût complet", summary),
                  ("Plan de financement", f"Le projet est financé sur les crédits suivants : {funding}.")),
        tables={"Coût complet": table,
                "Financement": [["Programme", "Montant (€ TTC)"], [funding, table[-1][3]]]},
    )


def _gouvernance(ctx: Ctx) -> Content:
    p = ctx.project
    return Content(
        heading="Gouvernance", title=f"Gouvernance et organisation du projet – {p.name}",
        summary="Comité de pilotage stratégique présidé par le secrétaire général, direction de projet "
                "dédiée, comité de suivi mensuel.",
        sections=(
            ("Comitologie", "Un comité de pilotage stratégique, présidé par le secrétaire général, se réunit "
                            "chaque trimestre ; un comité de suivi opérationnel se réunit chaque mois."),
            ("Direction de projet", f"Un directeur de projet à temps plein pilote {p.name} avec une équipe "
                                    f"de douze ETP (maîtrise d'ouvrage et maîtrise d'œuvre)."),
            ("Organisation", f"Ministère porteur : {p.ministry}. Les directions métiers sont représentées "
                             f"au comité de pilotage."),
        ),
    )


def _realisation(ctx: Ctx) -> Content:
    p = ctx.project
    return Content(
        heading="Réalisation", title=f"Architecture, stratégie d'achat et conduite du changement – {p.name}",
        summary="Architecture en services hébergée sur un cloud de confiance ; accord-cadre alloti ; "
                "déploiement progressif accompagné d'un plan de conduite du changement.",
        sections=(
            ("Architecture", "Architecture orientée services, API documentées, hébergement dans un cloud "
                             "qualifié SecNumCloud, réversibilité prévue."),
            ("Stratégie d'achat", "Accord-cadre alloti (développement, tierce recette, hébergement) passé "
                                  "après mise en concurrence ; aucun marché n'est notifié à ce jour."),
            ("Conduite du changement", "Formation des agents, réseau de référents, communication "
                                       "interne ; déploiement progressif par vagues."),
        ),
    )


def milestones(p: Project) -> list[tuple[str, str]]:
    """Jalons counted in months from March 2027, spread over the project's duration (2 to 5 years)."""
    months = min(60, max(24, round(p.duration_years * 12)))
    offsets = (("Fin du cadrage", -5), ("Notification des marchés", 0),
               ("Mise en service du pilote", round(months * 0.4)), ("Généralisation", round(months * 0.8)),
               ("Fin des 24 premiers mois de MCO", round(months * 0.8) + 24))
    return [(label, month_label(2027, 3 + offset)) for label, offset in offsets]


def _planning(ctx: Ctx) -> Content:
    p = ctx.project
    jalons = milestones(p)
    text = " ; ".join(f"{label} : {when}" for label, when in jalons)
    return Content(
        heading="Planning", title=f"Planning et jalons – {p.name}", summary=f"Jalons : {text}.",
        sections=(("Calendrier prévisionnel", f"Début du projet (panorama) : {p.start}. "
                                              f"Durée prévisionnelle : {decimal_fr(p.duration_years)} ans."),
                  ("Jalons", "\n\n".join(f"{label} : {when}" for label, when in jalons))),
        tables={"Planning et jalons": [["Jalon", "Date prévisionnelle"], *jalons]},
    )


def _securite(ctx: Ctx) -> Content:
    p = ctx.project
    return Content(
        heading="Sécurité", title=f"Analyse de risques SSI et homologation – {p.name}",
        summary="Analyse de risques EBIOS Risk Manager conduite ; homologation de sécurité prévue avant "
                "la mise en service.",
        sections=(
            ("Analyse de risques (EBIOS Risk Manager)",
             f"L'analyse de risques SSI de {p.name} a été conduite selon la méthode EBIOS Risk Manager "
             f"avec le FSSI."),
            ("Homologation de sécurité", "La commission d'homologation se réunira avant la mise en service ; "
                                         "l'autorité d'homologation est le secrétaire général."),
        ),
    )


def _risques(ctx: Ctx) -> Content:
    rows = [["Id", "Risque", "Probabilité", "Impact", "Mesure de mitigation"],
            ["R1", "Dérive du coût complet", "Moyenne", "Fort", "Revue budgétaire trimestrielle"],
            ["R2", "Indisponibilité des experts métier", "Forte", "Moyen", "Référents désignés et déchargés"],
            ["R3", "Retard de notification des marchés", "Moyenne", "Fort", "Procédure lancée au cadrage"],
            ["R4", "Reprise des données de l'existant", "Moyenne", "Fort", "Lot de reprise anticipé"],
            ["R5", "Adhésion des utilisateurs", "Faible", "Moyen", "Plan de conduite du changement"]]
    return Content(
        heading="Risques", title=f"Registre des risques du projet – {ctx.project.name}",
        summary="Registre des risques tenu par la direction de projet, revu en comité de suivi.",
        sections=(("Registre des risques", "\n\n".join(" – ".join(r[1:]) for r in rows[1:])),),
        tables={"Registre des risques": rows},
    )


def _note(ctx: Ctx) -> Content:
    covered = tuple(CONTENTS[item](ctx) for item in ctx.spec.note_covers)
    p = ctx.project
    return Content(
        heading="Note de synthèse", title=f"Note de synthèse – projet {p.name}",
        summary=p.description,
        sections=(("Présentation du projet", f"{p.ministry} – {p.description}"),
                  *((c.heading, c.summary) for c in covered)),
    )


def _courrier(ctx: Ctx) -> Content:
    spec, p = ctx.spec, ctx.project
    annexes = "\n\n".join(f"– {piece.filename}" for piece in spec.pieces
                          if piece.items != ("courrier-saisine",))
    body = (
        f"{addressee(spec)},",
        f"En application de l'article 3 du décret n° 2019-1088 du 25 octobre 2019 relatif au système "
        f"d'information et de communication de l'État et à la direction interministérielle du numérique, "
        f"j'ai l'honneur de vous saisir, pour avis conforme, du projet {p.name}.",
        p.description,
        f"Le montant prévisionnel global du projet, incluant les coûts de construction depuis les premières "
        f"études amont et les 24 premiers mois de maintien en condition opérationnelle, s'élève à "
        f"{money(p.cost_meur, spec.money)}. Le cadrage est achevé et aucun marché n'a été signé.",
        f"Vous trouverez ci-joint le dossier établi selon le kit de saisine :\n\n{annexes}",
        f"Je vous prie d'agréer, {addressee(spec)}, l'expression de ma considération distinguée.",
        f"{spec.sender.signatory}\n\n{spec.sender.signer}",
    )
    return Content(
        heading="Courrier de saisine", title=p.ministry, summary="",
        sections=((f"Paris, le {long_date(spec.day)}", ""),
                  (f"{addressee(spec)} interministériel{'le' if spec.to_directrice else ''} du numérique",
                   "Direction interministérielle du numérique (DINUM)"),
                  (f"Objet : saisine pour avis conforme – projet {p.name}", "\n\n".join(body))),
    )


CONTENTS: dict[str, Callable[[Ctx], Content]] = {
    "courrier-saisine": _courrier, "note-synthese": _note, "strategie": _strategie,
    "finances": _finances, "gouvernance": _gouvernance, "realisation": _realisation,
    "planning": _planning, "securite": _securite, "risques": _risques,
}


# ---------------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------------


def piece_content(piece: Piece, ctx: Ctx) -> Content:
    """The content of a piece; a piece covering several items gets one heading per item."""
    contents = [CONTENTS[item](ctx) for item in piece.items]
    if len(contents) == 1:
        return contents[0]
    sections: list[tuple[str, str]] = []
    tables: dict[str, Rows] = {}
    for content in contents:
        sections.append((content.heading, content.summary))
        sections.extend(content.sections)
        tables.update(content.tables)
    return Content(heading=piece.title, title=piece.title, summary="", sections=tuple(sections),
                   tables=tables)


def _tables_as_sections(content: Content) -> Sections:
    """Tables flattened into text sections, for formats without our table support (PDF, ODT)."""
    flat = tuple((name, "\n\n".join(" | ".join(_cell(v) for v in row) for row in rows))
                 for name, rows in content.tables.items())
    return content.sections + flat


def _cell(value: object) -> str:
    """A table cell as text; integer amounts in French grouping."""
    return euros(value) if isinstance(value, int) else str(value)


def _sheets(content: Content) -> Mapping[str, Rows]:
    """Workbook sheets: the tables, or the sections as a two-column sheet."""
    return content.tables or {content.heading: [[h, b] for h, b in content.sections]}


def render(piece: Piece, ctx: Ctx) -> bytes:
    """The bytes of one piece, in its format."""
    if piece.fmt == "scan":
        return documents.scanned_pdf_bytes()
    content = piece_content(piece, ctx)
    if piece.fmt == "pdf":
        return documents.pdf_bytes(content.title, _tables_as_sections(content))
    if piece.fmt == "odt":
        return documents.odt_bytes(content.title, _tables_as_sections(content))
    if piece.fmt == "docx":
        return documents.docx_bytes(content.title, content.sections, tables=list(content.tables.values()))
    if piece.fmt == "xlsx":
        return documents.xlsx_bytes(_sheets(content))
    if piece.fmt == "ods":
        return documents.ods_bytes(_sheets(content))
    raise ValueError(f"unknown format {piece.fmt!r}")


def attachments(ctx: Ctx) -> list[tuple[str, str, bytes]]:
    """(file name, MIME type, bytes) of every attachment; ZIP members are packed into one archive."""
    out = [(p.filename, MIME_TYPES[p.fmt], render(p, ctx)) for p in ctx.spec.pieces if not p.in_zip]
    members = {p.filename: render(p, ctx) for p in ctx.spec.pieces if p.in_zip}
    if members:
        out.append((ctx.spec.zip_name, MIME_TYPES["zip"], documents.zip_bytes(members)))
    return out


# ---------------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------------


def _saisine_body(ctx: Ctx) -> str:
    spec, p = ctx.spec, ctx.project
    signed_by = lower_first(spec.sender.signatory)
    return (f"{addressee(spec)},\n\n"
            f"Veuillez trouver ci-joint le courrier de saisine signé par {signed_by} "
            f"ainsi que le dossier relatif au projet {p.name}, pour lequel nous sollicitons votre avis "
            f"conforme.\n\n"
            f"Le montant prévisionnel global du projet s'élève à {money(p.cost_meur, spec.money)}.\n\n"
            f"Nous restons à votre disposition pour tout complément.\n\n"
            f"Bien cordialement,\n\n{spec.sender.display_name}\n")


def _complement_body(ctx: Ctx) -> str:
    spec, p = ctx.spec, ctx.project
    parent = spec_by_stem(spec.reply_to)
    return (f"{addressee(spec)},\n\n"
            f"En complément de notre saisine du {long_date(parent.day)} relative au projet {p.name}, "
            f"veuillez trouver ci-joint le planning et les jalons du projet, pièce manquante du dossier.\n\n"
            f"Bien cordialement,\n\n{spec.sender.display_name}\n\n"
            f"-----Message d'origine-----\nDe : {parent.sender.address}\nObjet : {subject(parent, p)}\n")


def _auto_reply_body(ctx: Ctx) -> str:
    return ("Bonjour,\n\n"
            "Le secrétariat général est fermé du 11 au 13 novembre 2026 inclus. Votre message a bien été "
            "reçu ; il sera traité à compter du lundi 16 novembre 2026.\n\n"
            f"Pour toute urgence : standard du ministère.\n\n{ctx.spec.sender.display_name}\n")


def _information_body(ctx: Ctx) -> str:
    spec, p = ctx.spec, ctx.project
    return (f"{addressee(spec)},\n\n"
            f"Conformément à l'arrêté du 5 juin 2020, nous vous informons que l'estimation du coût complet "
            f"du projet {p.name} dépasse désormais le seuil de 9 M€ : elle s'établit à "
            f"{money(p.cost_meur, 'meur')}.\n\n{p.description}\n\n"
            f"Le cadrage est en cours. Ce message ne constitue pas une saisine : le courrier de saisine "
            f"et le dossier vous seront adressés à l'issue du cadrage.\n\n"
            f"Bien cordialement,\n\n{spec.sender.display_name}\n")


BODIES: dict[str, Callable[[Ctx], str]] = {
    "saisine": _saisine_body, "complement": _complement_body,
    "auto-reply": _auto_reply_body, "information": _information_body,
}


def spec_by_stem(stem: str) -> Spec:
    """The spec of another example message (for replies)."""
    return next(spec for spec in MESSAGES if spec.stem == stem)


def subject(spec: Spec, p: Project) -> str:
    """The subject line of a message."""
    if spec.kind == "complement":
        return f"RE: {subject(spec_by_stem(spec.reply_to), p)}"
    if spec.kind == "auto-reply":
        return f"Réponse automatique : Accusé de réception – saisine du projet {p.name}"
    if spec.kind == "information":
        return f"Information – projet {p.name} : coût complet estimé supérieur à 9 M€"
    return f"Saisine DINUM – projet {p.name} – demande d'avis conforme"


def message_id(spec: Spec) -> str:
    """A fixed Message-ID in the sender's domain."""
    domain = spec.sender.address.split("@")[1]
    return f"<{spec.stem}.202611{spec.day:02d}{spec.time.replace(':', '')}@{domain}>"


def _as_html(text: str) -> str:
    """A minimal HTML rendering of a plain-text body, paragraph by paragraph."""
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in text.split("\n\n"))
    return f'<html lang="fr"><head><meta charset="utf-8"></head><body>\n{paragraphs}</body></html>\n'


def _headers(msg: EmailMessage, spec: Spec, p: Project) -> None:
    """Envelope headers: fixed Date and Message-ID; reply and auto-reply headers where they apply."""
    local, domain = spec.sender.address.split("@")
    msg["From"] = Address(spec.sender.display_name, local, domain)
    msg["To"] = DINUM
    msg["Subject"] = subject(spec, p)
    hour, minute = (int(x) for x in spec.time.split(":"))
    msg["Date"] = datetime(2026, 11, spec.day, hour, minute, tzinfo=PARIS_WINTER)
    msg["Message-ID"] = message_id(spec)
    if spec.reply_to:
        msg["In-Reply-To"] = msg["References"] = message_id(spec_by_stem(spec.reply_to))
    if spec.kind == "auto-reply":
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-MS-Exchange-Inbox-Rules-Loop"] = spec.sender.address
    msg["X-Mailer"] = "Microsoft Outlook 16.0"


def compose(spec: Spec, p: Project) -> EmailMessage:
    """The whole message for one spec, with stable boundaries."""
    ctx = Ctx(spec, p)
    msg = EmailMessage(policy=POLICY)
    _headers(msg, spec, p)
    body = BODIES[spec.kind](ctx)
    msg.set_content(body, cte="quoted-printable")
    if spec.html:
        msg.add_alternative(_as_html(body), subtype="html", cte="quoted-printable")
    for filename, mime, data in attachments(ctx):
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    msg["Content-Language"] = "fr-FR"  # after set_content, which drops Content-* headers
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_intake-example-{spec.stem}-{index}")
    return msg


# ---------------------------------------------------------------------------------------------------
# README and entry point
# ---------------------------------------------------------------------------------------------------


README_NOTES = (
    "",
    "## Notes",
    "",
    "- Rebuild: `make examples` or `.venv/bin/python -m examples.build [OUTDIR]`. The data is read from",
    "  `../shared/data/panorama/` (override with `INTAKE_PANORAMA_DIR`); without it the script exits 2.",
    "- The projects are historical panorama entries replayed as if the saisine were sent in November 2026;",
    "  planning pieces therefore put the jalons after March 2027 (duration from the CSV, kept to 2–5 years).",
    "- Costs: the letter states the CSV cost in one of three phrasings (`52,4 M€ TTC`,",
    "  `101 770 000 euros TTC` with no-break spaces, `87,4 millions d'euros TTC`); the finances workbook",
    "  splits it into construction + 24 months of MCO, rows summing exactly to that total.",
    "- Message-IDs and Date headers are fixed; MIME boundaries are `=_intake-example-<file>-<n>`.",
    "- Headers are written unfolded (lines up to 998 characters, RFC 2047 words may exceed 75 characters):",
    "  when Python folds a long encoded display name it may split it inside a word, and its own parser then",
    "  reads the name back with a spurious space (`l' Intérieur`).",
    "- 01's last attachment is an image-only PDF (no text layer), as a scanned annex would be.",
)


def readme(rows: Sequence[tuple[Spec, Project]]) -> str:
    """examples/saisines/README.md: each file, its real project and the expected outcome."""
    lines = [
        "# Example saisines (generated)",
        "",
        "Generated by `python -m examples.build` from real projects of the public *panorama des grands",
        "projets numériques de l'État* (Etalab open data, copies in `shared/data/panorama/`). Do not edit by",
        "hand: change `examples/build.py` and rebuild (the output is byte-for-byte deterministic).",
        "Project names, ministries, descriptions and costs are real; the documents' other text, the",
        "senders' mailboxes and the signatories' names are invented. All dates are in November 2026.",
        "Row numbers are spreadsheet rows (the header is row 1).",
        "",
        "| file | real project (ministry) | source CSV, row | cost | exercises | expected outcome |",
        "|---|---|---|---|---|---|",
    ]
    for spec, p in rows:
        lines.append(f"| `{spec.stem}.eml` | {p.name} ({p.ministry}) | `{p.source}`, row {p.row} | "
                     f"{money(p.cost_meur, 'meur')} | {spec.exercises} | {spec.expected} |")
    return "\n".join([*lines, *README_NOTES]) + "\n"


def build(outdir: Path, data_dir: Path) -> list[Path]:
    """Write every example message and the README; returns the .eml paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [(spec, load_project(data_dir, spec.source, spec.project)) for spec in MESSAGES]
    paths = []
    for spec, project in rows:
        path = outdir / f"{spec.stem}.eml"
        path.write_bytes(compose(spec, project).as_bytes(policy=WRITE_POLICY))
        paths.append(path)
    (outdir / "README.md").write_text(readme(rows), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: python -m examples.build [OUTDIR]."""
    parser = argparse.ArgumentParser(prog="python -m examples.build", description=__doc__)
    parser.add_argument("outdir", nargs="?", type=Path, default=DEFAULT_OUTDIR)
    args = parser.parse_args(argv)
    data_dir = panorama_dir()
    missing = sorted({spec.source for spec in MESSAGES if not (data_dir / spec.source).is_file()})
    if missing:
        print(f"panorama data not found in {data_dir} (missing: {', '.join(missing)}); "
              f"set INTAKE_PANORAMA_DIR. The committed .eml files do not need it.", file=sys.stderr)
        return 2
    for path in build(args.outdir, data_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
