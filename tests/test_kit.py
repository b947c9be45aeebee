"""The kit file (config/kit.toml), its validation, and the completeness report of a dossier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake_bot.classify import BODY
from intake_bot.errors import ConfigError
from intake_bot.kit import Evidence, Kit, KitReport, assess
from intake_bot.model import Section
from tests.test_classify import BODY_LETTER, COVERING_EMAIL, LETTER, NOTE, NOTE_SECTIONS, piece

KIT_FILE = Path(__file__).resolve().parent.parent / "config" / "kit.toml"
KIT = Kit.from_toml(KIT_FILE.read_text(encoding="utf-8"))

# DESIGN §2, verbatim: id, label, required ("yes" / "recommended").
DESIGN_ITEMS = [
    ("courrier-saisine", "Courrier de saisine signé du secrétaire général", "yes"),
    ("note-synthese", "Note de synthèse", "yes"),
    ("strategie", "Stratégie : opportunité, objectifs, valeur (MAREVA)", "yes"),
    ("finances", "Finances : coût complet (construction + 24 mois de MCO) et financement", "yes"),
    ("gouvernance", "Gouvernance et organisation du projet", "yes"),
    ("realisation", "Réalisation : architecture, stratégie d'achat, conduite du changement", "yes"),
    ("planning", "Planning et jalons", "yes"),
    ("securite", "Sécurité : analyse de risques, homologation", "recommended"),
    ("risques", "Registre des risques du projet", "recommended"),
]


def test_the_default_kit_has_the_nine_design_items() -> None:
    got = [(i.id, i.label, "yes" if i.required else "recommended" if i.recommended else "no") for i in KIT.items]
    assert got == DESIGN_ITEMS
    assert all(i.keywords and i.titles and i.filename_hints for i in KIT.items)


def test_the_default_kit_vocabulary() -> None:
    assert KIT.letter.item == "courrier-saisine"
    assert KIT.item("courrier-saisine").by_section is False
    assert {"Réponse automatique", "Absence du bureau", "Out of Office", "Automatic reply"} <= set(
        KIT.auto_reply_prefixes)
    assert KIT.ministries["interieur.gouv.fr"] == "Ministère de l'Intérieur"
    assert KIT.threshold_eur == 9_000_000


MINIMAL = """
[[items]]
id = "note"
label = "Note"
required = true
titles = ["note"]

[letter]
item = "note"
addressee = ["dinum"]
request = ["saisine"]
signatory = ["secrétaire général"]
"""


def test_a_minimal_kit_loads_with_defaults() -> None:
    kit = Kit.from_toml(MINIMAL)
    assert [i.id for i in kit.items] == ["note"] and kit.ministries == {} and kit.threshold_eur == 9_000_000
    assert "Out of Office" in kit.auto_reply_prefixes


@pytest.mark.parametrize(("text", "key"), [
    ("items = [", "not valid TOML"),
    ("[letter]\nitem = 'x'", "items: expected at least one"),
    (MINIMAL.replace('id = "note"\n', "", 1), "items[1].id: missing"),
    (MINIMAL.replace('id = "note"', 'id = "Note !"'), "items[1].id"),
    (MINIMAL.replace("required = true", 'required = "yes"'), 'items[1] (id "note").required: expected true or false'),
    (MINIMAL.replace("required = true", ""), 'items[1] (id "note").required: missing'),
    (MINIMAL.replace("required = true", "required = true\nrecommended = true"), 'items[1] (id "note").recommended'),
    (MINIMAL.replace('titles = ["note"]', 'titles = "note"'), 'items[1] (id "note").titles: expected a list'),
    (MINIMAL.replace('titles = ["note"]', 'titles = ["note", 3]'), 'items[1] (id "note").titles[1]'),
    (MINIMAL.replace('titles = ["note"]', 'titles = []'), 'items[1] (id "note").keywords: the item needs'),
    (MINIMAL.replace('titles = ["note"]', 'titles = ["note"]\nfilename_hint = ["n"]'),
     "items[1].filename_hint: unknown key"),
    (MINIMAL.replace('label = "Note"', 'label = ""'), 'items[1] (id "note").label'),
    (MINIMAL.replace("[letter]", '[[items]]\nid = "note"\nlabel = "Bis"\nrequired = false\ntitles = ["b"]\n[letter]'),
     "items[2].id: duplicate"),
    (MINIMAL.split("[letter]")[0], "letter: missing"),
    (MINIMAL.replace('item = "note"', 'item = "lettre"'), "letter.item"),
    (MINIMAL.replace('request = ["saisine"]', ""), "letter.request: missing"),
    ("threshold = 9\n" + MINIMAL, "threshold: unknown key"),
    ('threshold_eur = "9 M€"\n' + MINIMAL, "threshold_eur"),
    (MINIMAL + '\n[ministries]\n"x.gouv.fr" = 3\n', 'ministries."x.gouv.fr"'),
    (MINIMAL + '\n[auto_reply]\nsubject_prefixes = "Absence"\n', "auto_reply.subject_prefixes"),
])
def test_config_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        Kit.from_toml(text)
    assert key in str(err.value)


def _ids(report: KitReport) -> list[str]:
    return [e.item_id for e in report.present]


def test_one_file_per_item_makes_a_complete_dossier() -> None:
    pieces = [piece("Courrier_saisine.pdf", LETTER), piece("Note_de_synthese.pdf"), piece("Etude_opportunite.pdf"),
              piece("Budget.xlsx"), piece("Gouvernance.pdf"), piece("Architecture.pdf"), piece("Planning.xlsx"),
              piece("Homologation_SSI.pdf"), piece("Registre_des_risques.xlsx"), piece("Sigles.pdf")]
    report = assess(KIT, pieces)
    assert _ids(report) == [i.id for i in KIT.items]
    assert all(e.via == "piece" and e.location == "" for e in report.present)
    assert report.complete and not report.missing_recommended
    assert report.unclassified == ("Sigles.pdf",)


def test_the_note_de_synthese_sections_cover_the_five_criteria() -> None:
    note = piece("NDS_SIRIUS.docx", NOTE, NOTE_SECTIONS)
    report = assess(KIT, [piece("Courrier.pdf", LETTER), note])
    assert report.complete
    by_item = {e.item_id: e for e in report.present}
    assert by_item["gouvernance"] == Evidence("gouvernance", "NDS_SIRIUS.docx", note.sha256,
                                              "titre « Gouvernance », page 2", "section")
    assert by_item["strategie"].location == "titre « Stratégie »"
    criteria = ("strategie", "finances", "gouvernance", "realisation", "planning")
    assert {by_item[i].via for i in criteria} == {"section"}
    assert [i.id for i in report.missing_recommended] == ["securite", "risques"]


def test_a_workbook_sheet_is_evidence_named_by_its_sheet() -> None:
    sheets = (Section("Sommaire", 1, "feuille Sommaire"), Section("Budget", 1, "feuille Budget"),
              Section("Jalons", 1, "feuille Jalons"))
    workbook = piece("Annexes.xlsx", "", sheets)
    report = assess(KIT, [workbook])
    assert [(e.item_id, e.location) for e in report.present if e.via == "section"] == [
        ("finances", "feuille Budget"), ("planning", "feuille Jalons")]


def test_an_exact_heading_is_preferred_as_evidence() -> None:
    doc = piece("Dossier.pdf", "Dossier projet", (Section("Contexte, enjeux et objectifs du programme", 1, "page 1"),
                                                     Section("2. Stratégie", 1, "page 2")))
    [evidence] = [e for e in assess(KIT, [doc]).present if e.item_id == "strategie"]
    assert evidence.location == "titre « 2. Stratégie », page 2"


def test_a_piece_is_not_also_evidence_for_its_own_item() -> None:
    sheets = (Section("Budget", 1, "feuille Budget"), Section("Planning", 1, "feuille Planning"))
    budget = piece("Budget.xlsx", "", sheets)
    report = assess(KIT, [budget])
    assert [(e.item_id, e.via) for e in report.present] == [("finances", "piece"), ("planning", "section")]


def test_purchasing_strategy_heading_is_realisation_not_strategy() -> None:
    doc = piece("Annexe.pdf", "Annexe", (Section("Stratégie d'achat", 1, "page 4"),))
    assert _ids(assess(KIT, [doc])) == ["realisation"]


def test_a_heading_never_stands_for_the_signed_letter() -> None:
    doc = piece("Annexe.pdf", "Annexe", (Section("Courrier de saisine", 1, "page 1"),))
    assert "courrier-saisine" in [i.id for i in assess(KIT, [doc]).missing_required]


def test_the_email_body_can_be_the_cover_letter() -> None:
    report = assess(KIT, [piece("NDS.docx", NOTE, NOTE_SECTIONS)], BODY_LETTER)
    assert report.present[0] == Evidence("courrier-saisine", BODY, "", "", "body")
    assert report.complete


def test_a_covering_email_is_not_the_letter() -> None:
    report = assess(KIT, [piece("NDS.docx", NOTE, NOTE_SECTIONS)], COVERING_EMAIL)
    assert [i.id for i in report.missing_required] == ["courrier-saisine"]
    assert not report.complete


def test_an_attached_letter_wins_over_the_body() -> None:
    report = assess(KIT, [piece("Courrier.pdf", LETTER)], BODY_LETTER)
    assert [e.filename for e in report.present if e.item_id == "courrier-saisine"] == ["Courrier.pdf"]


def test_an_empty_dossier_misses_every_required_item() -> None:
    report = assess(KIT, [])
    assert report.present == () and not report.complete
    assert [i.id for i in report.missing_required] == [i.id for i in KIT.items if i.required]


def test_report_json() -> None:
    report = assess(KIT, [piece("NDS.docx", NOTE, NOTE_SECTIONS)])
    data = json.loads(json.dumps(report.to_json()))
    assert data["complete"] is False
    assert data["missing_required"] == [
        {"id": "courrier-saisine", "label": "Courrier de saisine signé du secrétaire général"}]
    assert data["present"][0] == {"item_id": "note-synthese", "filename": "NDS.docx",
                                  "sha256": piece("NDS.docx", NOTE).sha256, "location": "", "via": "piece"}
    assert {"missing_recommended", "unclassified"} <= data.keys()
