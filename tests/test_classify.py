"""Kit item of each piece, facts of a saisine, and the message-level rules (pure values, no I/O)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from intake_bot.classify import BODY, classify_piece, fold, is_cover_letter, items_named_by
from intake_bot.facts import project_name, read_facts
from intake_bot.commands import StaffCommand, parse_staff_command
from intake_bot.rules import Verdict, auto_reply, case_tag, sender_allowed, staff_authenticated
from intake_bot.kit import Kit
from intake_bot.model import Attachment, CaseKind, ParsedMessage, Section

KIT = Kit.from_toml((Path(__file__).resolve().parent.parent / "config" / "kit.toml").read_text(encoding="utf-8"))


def piece(filename: str, text: str = "", sections: tuple[Section, ...] = (), content_type: str = "application/pdf",
          ) -> Attachment:
    digest = hashlib.sha256(f"{filename}\n{text}".encode()).hexdigest()
    return Attachment(filename, content_type, len(text) + 1000, digest, text=text, sections=sections)


def message(subject: str = "Saisine", from_addr: str = "sg@interieur.gouv.fr", body: str = "",
            attachments: tuple[Attachment, ...] = (), **kw: object) -> ParsedMessage:
    return ParsedMessage("<m1@interieur.gouv.fr>", subject, from_addr, body_text=body, attachments=attachments,
                         **kw)  # type: ignore[arg-type]


LETTER = """MINISTÈRE
DE L'INTÉRIEUR
ET DES OUTRE-MER
Secrétariat général

Paris, le 2 mars 2026

Le secrétaire général
à
Madame la directrice interministérielle du numérique

Objet : saisine pour avis conforme du projet « SIRIUS »
Réf. : décret n° 2019-1088 du 25 octobre 2019, article 3

Madame la directrice,

En application de l'article 3 du décret n° 2019-1088 du 25 octobre 2019, j'ai l'honneur de solliciter votre
avis conforme sur le projet SIRIUS de refonte du système d'information des ressources humaines, dont le
coût complet, y compris les vingt-quatre premiers mois de maintien en condition opérationnelle, est estimé
à 52 400 000 € TTC, dont 9 M€ de MCO. Ce montant dépasse le seuil de 9 M€ fixé par l'arrêté du 5 juin 2020.

Vous trouverez ci-joint la note de synthèse et les documents de cadrage du projet.

Je vous prie d'agréer, Madame la directrice, l'expression de ma considération distinguée.

Pour le ministre et par délégation,
Le secrétaire général,

Jean-Marc DUPONT
"""

NOTE = """Note de synthèse
Projet SIRIUS – refonte du SI des ressources humaines
1. Stratégie
Le projet répond aux objectifs de simplification ; l'analyse de la valeur MAREVA conclut à un gain net.
2. Finances
Le montant prévisionnel global est de 52,4 M€ TTC (construction 43,4 M€, MCO sur 24 mois 9 M€).
3. Gouvernance
Un comité de pilotage présidé par le secrétaire général se réunit tous les trimestres.
4. Réalisation
Architecture en micro-services hébergée sur le cloud interne ; stratégie d'achat en deux lots.
5. Planning
Jalons : cadrage T1 2026, pilote T1 2027, généralisation 2028.
"""

NOTE_SECTIONS = (
    Section("Stratégie", 1, "titre 1", "Le projet répond aux objectifs…"),
    Section("Finances", 1, "page 2", "Le montant prévisionnel global…"),
    Section("Gouvernance", 1, "page 2", "Un comité de pilotage…"),
    Section("Réalisation", 1, "page 3", "Architecture en micro-services…"),
    Section("Planning", 1, "page 3", "Jalons…"),
)

BODY_LETTER = """Madame la directrice interministérielle du numérique,

En application de l'article 3 du décret n° 2019-1088, j'ai l'honneur de vous saisir pour avis conforme sur le
programme « France Titres 2030 », dont le montant prévisionnel global est évalué à 31,5 M€ TTC.

Le dossier établi selon le kit de saisine est joint à ce message.

La secrétaire générale,
Claire MARTIN
"""

COVERING_EMAIL = """Bonjour,

Veuillez trouver ci-joint le courrier de saisine du secrétaire général pour avis conforme, ainsi que la note de
synthèse du projet, à l'attention de la directrice interministérielle du numérique.

Bien cordialement,
Le bureau du cabinet
"""


@pytest.mark.parametrize(("attachment", "expected"), [
    (piece("Courrier_saisine_signe.pdf", LETTER), "courrier-saisine"),
    (piece("scan0001.pdf", LETTER), "courrier-saisine"),
    (piece("Lettre_saisine_signée.pdf"), "courrier-saisine"),
    (piece("NDS_SIRIUS_v3.docx", NOTE, NOTE_SECTIONS), "note-synthese"),
    (piece("SIRIUS.docx", NOTE, NOTE_SECTIONS), "note-synthese"),
    (piece("NoteDeSynthese.pdf"), "note-synthese"),
    (piece("note.pdf", "MINISTÈRE DE L'ÉCONOMIE ET DES FINANCES\nSecrétariat général\nNOTE DE SYNTHÈSE\n"
                       "Projet ORION\n" + NOTE), "note-synthese"),
    (piece("Etude_opportunite_MAREVA.pdf", "Étude d'opportunité\nObjectifs du projet et gains attendus."),
     "strategie"),
    (piece("annexe2.pdf", "Dossier de cadrage\nEnjeux, bénéfices et alignement stratégique du programme."),
     "strategie"),
    (piece("Annexe 3 - Budget.xlsx", "Poste;2026;2027\nMCO;1,2;1,5",
           (Section("Coût complet", 1, "feuille Coût complet"), Section("Financement", 1, "feuille Financement"))),
     "finances"),
    (piece("Classeur1.xlsx", "Coût complet\nConstruction\nMCO 24 mois\nPlan de financement\nCrédits T2",
           (Section("Coûts", 1, "feuille Coûts"), Section("Financement", 1, "feuille Financement"))), "finances"),
    (piece("Comitologie.pdf", "Comitologie\nLe comité de pilotage (COPIL) réunit la direction de projet."),
     "gouvernance"),
    (piece("DAT_v2.pdf", "Dossier d'architecture technique\nHébergement, déploiement, urbanisation."),
     "realisation"),
    (piece("Strategie_achat.docx", "Stratégie d'achat\nAllotissement et marchés publics envisagés."),
     "realisation"),
    (piece("Planning_directeur.xlsx", "Gantt\nJalons du projet", (Section("Planning", 1, "feuille Planning"),)),
     "planning"),
    (piece("Analyse_risques_EBIOS_RM.pdf", "Analyse de risques SSI\nMéthode EBIOS RM, homologation prévue."),
     "securite"),
    (piece("Registre_des_risques.xlsx", "Risque;Probabilité;Criticité;Plan de mitigation"), "risques"),
    # A data row that mentions "marchés" is not a title; the file name decides a tie.
    (piece("Planning et jalons.xlsx",
           "Jalon Date prévisionnelle\nNotification des marchés mars 2027\nMise en service du pilote mars 2029",
           (Section("Planning et jalons", 1, "feuille Planning et jalons"),)), "planning"),
])
def test_pieces_are_classified(attachment: Attachment, expected: str) -> None:
    match = classify_piece(KIT, attachment)
    assert match is not None and match.item_id == expected, match


@pytest.mark.parametrize("attachment", [
    piece("photo.jpg", content_type="image/jpeg"),
    piece("annexe.pdf", "Liste des sigles utilisés dans le présent document."),
    piece("Organigramme.png", content_type="image/png"),
])
def test_unrelated_pieces_match_nothing(attachment: Attachment) -> None:
    assert classify_piece(KIT, attachment) is None


def test_a_match_says_why() -> None:
    match = classify_piece(KIT, piece("Courrier_saisine_signe.pdf", LETTER))
    assert match is not None
    assert "nom de fichier" in match.why and "signé du secrétaire général" in match.why


@pytest.mark.parametrize(("heading", "expected"), [
    ("Gouvernance", ("gouvernance",)),
    ("2. Coût complet et financement", ("finances",)),
    ("Stratégie d'achat", ("realisation",)),
    ("Stratégie", ("strategie",)),
    ("Analyse de risques SSI (EBIOS RM)", ("securite",)),
    ("Organisation et planning", ("gouvernance", "planning")),
    ("Sécurité et risques", ("securite", "risques")),
    ("Mise en œuvre", ("realisation",)),
    ("Jalon", ("planning",)),
    ("Registre du risque", ("risques",)),
    ("PLANNING ET JALONS", ("planning",)),
    ("Contexte", ()),
    ("Annexes", ()),
])
def test_headings_name_items(heading: str, expected: tuple[str, ...]) -> None:
    assert tuple(i.id for i in items_named_by(KIT, heading, sections_only=True)) == expected


def test_the_cover_letter_is_never_a_section() -> None:
    assert items_named_by(KIT, "Courrier de saisine", sections_only=True) == ()
    assert [i.id for i in items_named_by(KIT, "Courrier de saisine")] == ["courrier-saisine"]


def test_fold_removes_case_accents_and_typographic_marks() -> None:
    assert fold("Stratégie d’ACHAT – Mise en Œuvre\u202f!") == "strategie d'achat - mise en oeuvre !"


@pytest.mark.parametrize(("text", "expected"), [
    (LETTER, True), (BODY_LETTER, True), (COVERING_EMAIL, False), ("", False), (NOTE, False),
])
def test_cover_letter_needs_addressee_request_and_signature(text: str, expected: bool) -> None:
    assert is_cover_letter(KIT, text) is expected


# -- facts --------------------------------------------------------------------------------------------------

def test_facts_of_a_ministry_saisine() -> None:
    msg = message("Saisine DINUM – projet SIRIUS", attachments=(
        piece("Courrier_saisine_signe.pdf", LETTER), piece("NDS_SIRIUS.docx", NOTE, NOTE_SECTIONS)))
    facts = read_facts(msg, KIT)
    assert facts.project_name == "SIRIUS"
    assert facts.ministry == "Ministère de l'Intérieur et des outre-mer"
    assert facts.signatory == "Le secrétaire général, Jean-Marc DUPONT"
    assert facts.kind is CaseKind.AVIS_CONFORME
    assert (facts.estimated_cost_eur, facts.cost_ttc, facts.in_scope) == (52_400_000, True, True)
    assert facts.is_information is False
    assert facts.letter == "Courrier_saisine_signe.pdf"


def test_facts_when_the_body_is_the_letter_of_an_operator() -> None:
    body = BODY_LETTER.replace(
        "j'ai l'honneur de vous saisir pour avis conforme sur",
        "l'Agence, établissement public placé sous la tutelle du ministère, sollicite votre avis sur")
    facts = read_facts(message("Demande d'avis", "sg@ants.gouv.fr", body), KIT)
    assert facts.kind is CaseKind.AVIS_SIMPLE
    assert facts.project_name == "France Titres 2030"
    assert facts.signatory == "La secrétaire générale, Claire MARTIN"
    assert facts.estimated_cost_eur == 31_500_000 and facts.in_scope is True
    assert facts.letter == BODY
    assert facts.ministry == ""


def test_facts_of_an_information_email() -> None:
    body = ("Madame la directrice,\n\nPour information, je vous informe que le montant prévisionnel global du projet "
            "ORION dépasse désormais 9 M€. La saisine de la DINUM interviendra à l'issue du cadrage.\n\n"
            "Le secrétaire général adjoint")
    facts = read_facts(message("Information – projet ORION", "sg@dgfip.finances.gouv.fr", body), KIT)
    assert facts.is_information is True
    assert (facts.estimated_cost_eur, facts.in_scope) == (None, None)
    assert facts.project_name == "ORION"
    assert facts.ministry == "Ministère de l'Économie et des Finances (DGFiP)"


def test_an_information_email_that_says_it_is_not_a_saisine() -> None:
    body = ("Madame la directrice,\n\nConformément à l'arrêté du 5 juin 2020, nous vous informons que "
            "l'estimation du coût complet du projet FRANCE SESAME dépasse désormais le seuil de 9 M€ : elle "
            "s'établit à 10,0 M€ TTC.\n\nLe cadrage est en cours. Ce message ne constitue pas une saisine : le "
            "courrier de saisine et le dossier vous seront adressés à l'issue du cadrage.\n\nSecrétariat général")
    facts = read_facts(message("Information – projet FRANCE SESAME", "sg@finances.gouv.fr", body), KIT)
    assert (facts.is_information, facts.estimated_cost_eur, facts.in_scope) == (True, 10_000_000, True)
    assert facts.project_name == "FRANCE SESAME"


def test_a_saisine_with_a_dossier_is_never_an_information() -> None:
    body = "Pour information, le coût complet dépasse 9 M€."
    msg = message(body=body, attachments=(piece("NDS.docx", NOTE, NOTE_SECTIONS),))
    assert read_facts(msg, KIT).is_information is False


@pytest.mark.parametrize(("sentence", "cost", "in_scope"), [
    ("Le coût complet du projet est de 6,5 M€ TTC.", 6_500_000, False),
    ("Le coût complet du projet est de 9 000 000 € TTC.", 9_000_000, True),
    ("Le coût complet du projet est de 8 M€ HT.", 8_000_000, None),
    ("Le coût du projet n'est pas encore connu.", None, None),
])
def test_scope_follows_the_global_cost(sentence: str, cost: int | None, in_scope: bool | None) -> None:
    body = BODY_LETTER.replace("dont le montant prévisionnel global est évalué à 31,5 M€ TTC.",
                               f"en cours de cadrage. {sentence}")
    facts = read_facts(message(body=body), KIT)
    assert (facts.estimated_cost_eur, facts.in_scope) == (cost, in_scope)


def test_cost_is_read_from_the_note_when_the_letter_has_none() -> None:
    letter = LETTER.replace("dont le\ncoût complet", "dont le\ncalendrier")
    letter = letter.replace("52 400 000 € TTC, dont 9 M€ de MCO", "fin 2028")
    msg = message(attachments=(piece("Courrier.pdf", letter), piece("Annexe.pdf", "Budget : 80 M€ de marchés"),
                               piece("NDS.pdf", NOTE)))
    assert read_facts(msg, KIT).estimated_cost_eur == 52_400_000


@pytest.mark.parametrize(("letterhead", "expected"), [
    ("MINISTÈRE\nDE L'INTÉRIEUR\nET DES OUTRE-MER\nSecrétariat général",
     "Ministère de l'Intérieur et des outre-mer"),
    ("MINISTÈRE DE L’INTÉRIEUR\nSECRÉTARIAT GÉNÉRAL", "Ministère de l’Intérieur"),
    ("MINISTÈRE DES ARMÉES", "Ministère des Armées"),
    ("Ministère de la Culture\nSecrétariat général", "Ministère de la Culture"),
    ("Ministère de l'Éducation nationale de la Jeunesse\n et des Sports\nParis, le 4 novembre 2026",
     "Ministère de l'Éducation nationale de la Jeunesse et des Sports"),
    ("Ministère de l'Agriculture, de l'Agroalimentaire et\n de la Forêt", 
     "Ministère de l'Agriculture, de l'Agroalimentaire et de la Forêt"),
    ("RÉPUBLIQUE FRANÇAISE\nSecrétariat général", "Ministère de l'Intérieur"),  # from the sender's domain
])
def test_ministry_from_the_letterhead(letterhead: str, expected: str) -> None:
    letter = letterhead + LETTER.split("Secrétariat général", 1)[1]
    assert read_facts(message(attachments=(piece("Courrier.pdf", letter),)), KIT).ministry == expected


def test_ministry_falls_back_on_the_longest_known_sender_domain() -> None:
    facts = read_facts(message(from_addr="cabinet@sg.dgfip.finances.gouv.fr", body="Bonjour"), KIT)
    assert facts.ministry == "Ministère de l'Économie et des Finances (DGFiP)"


@pytest.mark.parametrize(("text", "subject", "expected"), [
    ("TR: [GP-2026-0003] Saisine – programme « Nouvelle Vague »", True, "Nouvelle Vague"),
    ("Saisine DINUM - projet SIRIUS (refonte SI RH)", True, "SIRIUS"),
    ("Saisine pour avis conforme : Projet France Identité Numérique", True, "France Identité Numérique"),
    ("Saisine projet de refonte du SI RH", True, "refonte du SI RH"),
    ("Saisine « ATLAS »", True, "ATLAS"),
    ("Saisine DINUM – projet OP@LE – demande d'avis conforme", True, "OP@LE"),
    ("Saisine pour avis conforme", True, ""),
    ("crédits du programme 218 pour le projet ORION-2.", False, "ORION-2"),
    ("le projet de loi de finances", False, ""),
    ("Le projet. Le ministère", False, ""),
    ("sur le projet intitulé « Cap Données » porté par", False, "Cap Données"),
])
def test_project_names(text: str, subject: bool, expected: str) -> None:
    assert project_name(text, subject=subject) == expected


@pytest.mark.parametrize(("signature", "expected"), [
    ("Le secrétaire général,\n\nJean-Marc DUPONT", "Le secrétaire général, Jean-Marc DUPONT"),
    ("La secrétaire générale adjointe, Marie-Claire de La Tour",
     "La secrétaire générale adjointe, Marie-Claire de La Tour"),
    ("Jean DUPONT\nSecrétaire général", "Secrétaire général, Jean DUPONT"),
    ("Pour le ministre et par délégation,\nLe secrétaire général\nSigné : Paul MARTIN",
     "Le secrétaire général, Paul MARTIN"),
    ("Le secrétaire général", "Le secrétaire général"),
    ("Cordialement,\nLe bureau du cabinet", "Le secrétaire général"),  # from the header "Le secrétaire général à"
])
def test_signatory(signature: str, expected: str) -> None:
    """The last signature block wins; the letter's header line is the fallback."""
    text = LETTER.rsplit("Pour le ministre", 1)[0] + signature
    assert read_facts(message(attachments=(piece("Courrier.pdf", text),)), KIT).signatory == expected


def test_no_signatory_without_a_signature_line() -> None:
    assert read_facts(message(body="Bonjour,\nCordialement,\nLe bureau du cabinet"), KIT).signatory == ""


# -- message-level rules ------------------------------------------------------------------------------------

OURS = {"grandsprojets.si@numerique.gouv.fr"}


@pytest.mark.parametrize(("kw", "rule"), [
    ({}, None),
    ({"is_report": True}, "delivery-report"),
    ({"headers": {"auto-submitted": ("auto-replied",)}}, "auto-submitted"),
    ({"headers": {"auto-submitted": ("auto-generated; owner-email=x@y.fr",)}}, "auto-submitted"),
    ({"headers": {"auto-submitted": ("No",)}}, None),
    ({"headers": {"precedence": ("bulk",)}}, "precedence"),
    ({"headers": {"precedence": ("auto_reply",)}}, "precedence"),
    ({"headers": {"precedence": ("first-class",)}}, None),
    ({"headers": {"x-auto-response-suppress": ("All",)}}, "auto-response-suppress"),
    ({"headers": {"x-auto-response-suppress": ("DR, OOF, AutoReply",)}}, "auto-response-suppress"),
    ({"headers": {"x-auto-response-suppress": ("RN, NRN",)}}, None),  # only asks for no read receipt
    ({"headers": {"x-autoreply": ("yes",)}}, "x-autoreply"),
    ({"headers": {"list-id": ("<annonces.lists.gouv.fr>",)}}, "list-id"),
    ({"headers": {"x-loop": ("GrandsProjets.SI@numerique.gouv.fr",)}}, "x-loop"),
    ({"from_addr": "grandsprojets.si@numerique.gouv.fr"}, "own-address"),
    ({"from_addr": "mailer-daemon@mx.interieur.gouv.fr"}, "bounce-sender"),
    ({"from_addr": "postmaster@interieur.gouv.fr"}, "bounce-sender"),
    ({"from_addr": ""}, None),  # no From at all: malformed, quarantined later, not silently ignored
    ({"headers": {"return-path": ("<>",)}}, "bounce-sender"),
    ({"subject": "Réponse automatique : Saisine projet SIRIUS"}, "auto-reply-subject"),
    ({"subject": "REPONSE AUTOMATIQUE: Saisine"}, "auto-reply-subject"),
    ({"subject": "Absence du bureau jusqu'au 12 mars"}, "auto-reply-subject"),
    ({"subject": "Out of Office: Saisine"}, "auto-reply-subject"),
    ({"subject": "Automatic reply: Saisine"}, "auto-reply-subject"),
    ({"subject": "Non remis : Saisine"}, "auto-reply-subject"),
    ({"subject": "Saisine – réponse automatique attendue ?"}, None),
])
def test_auto_reply_rules(kw: dict, rule: str | None) -> None:
    verdict = auto_reply(message(**kw), OURS, KIT.auto_reply_prefixes)
    assert (verdict.rule_id if verdict else None) == rule
    if verdict:
        assert isinstance(verdict, Verdict) and verdict.reason_fr


def test_auto_reply_rules_run_in_order() -> None:
    msg = message(headers={"auto-submitted": ("auto-replied",), "list-id": ("<x>",)}, is_report=True)
    assert auto_reply(msg, OURS) == Verdict("delivery-report", "avis de remise ou de lecture (multipart/report)")


STAFF = {"Agent@Numerique.gouv.fr"}
ME = "mx.numerique.gouv.fr"


@pytest.mark.parametrize(("results", "sender", "expected"), [
    ((f"{ME}; dkim=pass (2048-bit key) header.d=numerique.gouv.fr header.s=mail",), "agent@numerique.gouv.fr", True),
    ((f"{ME}; dkim=pass header.i=@numerique.gouv.fr",), "agent@numerique.gouv.fr", True),
    ((f"{ME}; spf=pass smtp.mailfrom=agent@numerique.gouv.fr",), "agent@numerique.gouv.fr", True),
    ((f"{ME}; dmarc=pass header.from=numerique.gouv.fr",), "agent@numerique.gouv.fr", True),
    ((f"{ME.upper()} 1;\r\n\tdkim=pass\r\n\theader.d=NUMERIQUE.gouv.fr",), "agent@numerique.gouv.fr", True),
    ((f"{ME}; dkim=fail header.d=numerique.gouv.fr; spf=softfail smtp.mailfrom=numerique.gouv.fr",),
     "agent@numerique.gouv.fr", False),
    ((f"{ME}; dkim=pass header.d=evil.example",), "agent@numerique.gouv.fr", False),
    ((f"{ME}; dkim=pass header.d=gouv.fr",), "agent@numerique.gouv.fr", False),
    (("mx.evil.example; dkim=pass header.d=numerique.gouv.fr",), "agent@numerique.gouv.fr", False),
    ((f"{ME}; none", f"{ME}; dkim=pass header.d=numerique.gouv.fr"), "agent@numerique.gouv.fr", False),
    ((f"{ME}; dkim=pass header.d=numerique.gouv.fr",), "intrus@numerique.gouv.fr", False),
    ((), "agent@numerique.gouv.fr", False),
])
def test_staff_authentication(results: tuple[str, ...], sender: str, expected: bool) -> None:
    msg = message(from_addr=sender, headers={"authentication-results": results})
    assert staff_authenticated(msg, STAFF, ME) is expected


def test_staff_authentication_refuses_unbalanced_comments() -> None:
    nested = f"{ME}; " + "(" * 8 + "dkim=pass header.d=numerique.gouv.fr" + ")" * 8
    msg = message(from_addr="agent@numerique.gouv.fr", headers={"authentication-results": (nested,)})
    assert staff_authenticated(msg, STAFF, ME) is False


def test_staff_authentication_without_an_authserv_id_fails_closed() -> None:
    msg = message(from_addr="agent@numerique.gouv.fr",
                  headers={"authentication-results": ("; dkim=pass header.d=numerique.gouv.fr",)})
    assert staff_authenticated(msg, STAFF, "") is False


@pytest.mark.parametrize(("addr", "expected"), [
    ("sg@interieur.gouv.fr", True),
    ("SG@Interieur.GOUV.FR", True),
    ("x@gouv.fr", True),
    ("x@a.b.gouv.fr.", True),
    ("x@evilgouv.fr", False),
    ("x@gouv.fr.evil.example", False),
    ("x@gouv.fr@evil.example", False),
    ("gouv.fr", False),
    ("", False),
    ("@gouv.fr", False),
])
def test_sender_allowed(addr: str, expected: bool) -> None:
    assert sender_allowed(addr, ["gouv.fr", "@ANTS.fr"]) is expected


def test_sender_allowed_by_a_second_domain() -> None:
    assert sender_allowed("x@sub.ants.fr", ["gouv.fr", "@ANTS.fr"]) is True


@pytest.mark.parametrize(("subject", "expected"), [
    ("[GP-2026-0007] Accusé de réception", "GP-2026-0007"),
    ("RE: TR: Complément [gp-2026-0012]", "GP-2026-0012"),
    ("Complément [ GP-2027-10001 ]", "GP-2027-10001"),
    ("GP-2026-0007 sans crochets", None),
    ("[GP-26-7]", None),
    ("Saisine", None),
])
def test_case_tag(subject: str, expected: str | None) -> None:
    assert case_tag(subject) == expected


@pytest.mark.parametrize(("body", "expected"), [
    ("#complement finances, planning\n\n> Le 2 mars, X a écrit :",
     StaffCommand("complement", "finances, planning", ("finances", "planning"))),
    ("\n  #Complément merci de préciser le coût complet\navec le MCO\n\nCordialement",
     StaffCommand("complement", "merci de préciser le coût complet avec le MCO")),
    ("#avis favorable", StaffCommand("avis", "favorable")),
    ("#AVIS Réserves\n> cité", StaffCommand("avis", "reserves")),
    ("#avis favorable avec réserves", StaffCommand("avis", "reserves")),
    ("#avis défavorable", StaffCommand("avis", "defavorable")),
    ("#hors-perimetre", StaffCommand("hors-perimetre")),
    ("#hors périmètre coût de 6 M€", StaffCommand("hors-perimetre", "coût de 6 M€")),
    ("#clore\n-- \nAgent DINUM", StaffCommand("clore")),
    ("#note Appel avec le SG : dossier complet lundi\nLe 3 mars, X a écrit :\n> texte",
     StaffCommand("note", "Appel avec le SG : dossier complet lundi")),
    ("#avis peut-être", StaffCommand("avis", "", error="#avis attend favorable, reserves ou defavorable")),
    ("#note", StaffCommand("note", "", error="#note attend un texte")),
    ("Bonjour,\n#clore", None),
    ("> #clore", None),
    ("", None),
])
def test_staff_commands(body: str, expected: StaffCommand | None) -> None:
    assert parse_staff_command(body, {i.id for i in KIT.items}) == expected


def test_unknown_staff_command_is_reported_not_ignored() -> None:
    command = parse_staff_command("#relancer demain")
    assert command is not None and command.verb == "relancer" and "commande inconnue" in command.error
