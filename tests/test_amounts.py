"""French money phrases -> euros, and the choice of the global cost among several amounts."""

from __future__ import annotations

import time

import pytest

from intake_bot.amounts import Amount, global_amount, parse_amounts

NNBSP, NBSP, THIN = "\u202f", "\u00a0", "\u2009"

# (phrase, euros, ttc): each phrase alone is exactly one amount whose raw text is the whole phrase.
PHRASES = [
    ("52 000 000 €", 52_000_000, None),
    (f"52{NNBSP}000{NNBSP}000 euros TTC", 52_000_000, True),
    (f"52{NBSP}000{NBSP}000{NBSP}€", 52_000_000, None),
    (f"52{THIN}000{THIN}000 €", 52_000_000, None),
    ("52.000.000 €", 52_000_000, None),
    ("52 000 000,00 €", 52_000_000, None),
    ("1 500 000,50 €", 1_500_001, None),
    ("52000000 €", 52_000_000, None),
    ("12,5 M€", 12_500_000, None),
    ("12,5M€", 12_500_000, None),
    ("12,5 M€ HT", 12_500_000, False),
    ("12,5 millions d'euros", 12_500_000, None),
    ("12,5 millions d’euros", 12_500_000, None),
    ("1 million d'euros", 1_000_000, None),
    ("9 millions €", 9_000_000, None),
    ("9 M€ TTC", 9_000_000, True),
    ("9 M€ (TTC)", 9_000_000, True),
    ("9 000 000 € T.T.C.", 9_000_000, True),
    ("12 M€ hors taxes", 12_000_000, False),
    ("12 M€ toutes taxes comprises", 12_000_000, True),
    ("1,2 Md€", 1_200_000_000, None),
    ("1,5 Mds €", 1_500_000_000, None),
    ("1,2 milliard d'euros", 1_200_000_000, None),
    ("2 milliards d'euros TTC", 2_000_000_000, True),
    ("850 k€", 850_000, None),
    ("850 K€ HT", 850_000, False),
    ("12 500 k€", 12_500_000, None),
    ("250 milliers d'euros", 250_000, None),
    ("2,75 M€", 2_750_000, None),
    ("0,8 M€", 800_000, None),
    ("1.5 M€", 1_500_000, None),
    ("1.500 €", 1_500, None),
    ("12 MEUR", 12_000_000, None),
    ("12,5 M EUR", 12_500_000, None),
    ("40 000 000 EUR", 40_000_000, None),
    ("12 euros", 12, None),
    ("1 euro", 1, None),
    ("€ 12.5M", 12_500_000, None),
    ("€12.5 million", 12_500_000, None),
    ("EUR 9m", 9_000_000, None),
    ("€1,200,000", 1_200_000, None),
    ("EUR 1,200", 1_200, None),
    ("€ 2.4bn", 2_400_000_000, None),
]


@pytest.mark.parametrize(("phrase", "euros", "ttc"), PHRASES)
def test_each_phrase_alone_is_one_amount(phrase: str, euros: int, ttc: bool | None) -> None:
    assert parse_amounts(phrase) == [Amount(euros, phrase, 0, ttc)]


@pytest.mark.parametrize("phrase", [p for p, _, _ in PHRASES])
def test_each_phrase_is_found_inside_a_sentence(phrase: str) -> None:
    text = f"Le coût complet du projet s'élève à {phrase}, selon la note."
    [amount] = parse_amounts(text)
    assert text[amount.start:].startswith(amount.raw)


@pytest.mark.parametrize("text", [
    "décret n° 2019-1088 du 25 octobre 2019",
    "Tél. : 01 45 67 89 00",
    "une hausse de 12,5 % en 2026",
    "article 3, alinéa 2 de l'arrêté du 5 juin 2020",
    "sur la période 2026-2028",
    "24 mois de MCO",
    "le programme Europe 2030",
    "leur 12 agents",
    "12 millions d'habitants",
    "3 000 agents, 450 sites",
])
def test_numbers_that_are_not_money_are_ignored(text: str) -> None:
    assert parse_amounts(text) == []


def test_amounts_come_in_order_with_their_position_and_tax() -> None:
    text = "En 2026, tél. 01 45 67 89 00 : coût complet de 10 M€ HT, soit 12 M€ TTC (+12 % par rapport à 2025)."
    amounts = parse_amounts(text)
    assert [(a.euros, a.ttc) for a in amounts] == [(10_000_000, False), (12_000_000, True)]
    assert [text[a.start:a.start + len(a.raw)] for a in amounts] == ["10 M€ HT", "12 M€ TTC"]


@pytest.mark.parametrize(("text", "euros", "ttc"), [
    ("s'élève à 87,4\nmillions d'euros TTC.", 87_400_000, True),
    ("s'élève à 52,4 M€\nTTC. Le cadrage est achevé.", 52_400_000, True),
    ("soit 101 770 000\neuros TTC", 101_770_000, True),
])
def test_a_line_break_from_pdf_wrapping_is_tolerated(text: str, euros: int, ttc: bool) -> None:
    assert [(a.euros, a.ttc) for a in parse_amounts(text)] == [(euros, ttc)]


def test_a_blank_line_separates_a_number_from_a_unit() -> None:
    assert parse_amounts("lancé en 2026\n\nmillions d'euros") == []


def test_a_year_just_before_an_amount_is_not_glued_to_it() -> None:
    assert parse_amounts("en 2026 300 000 €") == [Amount(300_000, "300 000 €", 8, None)]


@pytest.mark.parametrize(("text", "euros"), [
    ("Le marché d'hébergement s'élève à 80 M€. Le montant prévisionnel global du projet est de 52 M€ TTC.",
     52_000_000),
    ("Le coût complet est de 10 M€ HT, soit 12 M€ TTC.", 12_000_000),
    ("Le projet, supérieur au seuil de 9 M€, a un coût complet de 52 M€.", 52_000_000),
    ("Le coût complet s'élève à 52 M€ TTC, dont 12 M€ de MCO sur 24 mois.", 52_000_000),
    ("Le budget de fonctionnement est de 2 M€ par an ; le coût total atteint 30 M€.", 30_000_000),
    ("Coût complet : 52 M€ (construction 40 M€, MCO 12 M€)", 52_000_000),
    ("Le coût complet, estimé en 2025, est de 25 M€ ; le budget annuel est de 4 M€.", 25_000_000),
    ("Le projet représentera 14 M€ et mobilisera 3 M€ de crédits de titre 2.", 14_000_000),
    ("The total cost is €12.5M, including two years of operations.", 12_500_000),
    ("Le montant prévisionnel global (construction et 24 mois de MCO) : 23 400 000 € TTC.", 23_400_000),
    ("Le projet, dont le coût complet s'élève à 18 M€, sera conduit en trois lots de 6 M€.", 18_000_000),
])
def test_global_amount_prefers_the_announced_global_cost(text: str, euros: int) -> None:
    found = global_amount(text)
    assert found is not None and found.euros == euros


@pytest.mark.parametrize("text", [
    "",
    "Aucun montant n'est encore connu.",
    "Le montant prévisionnel global du projet dépasse désormais 9 M€.",
    "Le projet est en dessous du seuil de 9 M€.",
])
def test_global_amount_is_none_without_a_usable_amount(text: str) -> None:
    assert global_amount(text) is None


def test_long_runs_of_numbers_stay_fast() -> None:
    """Bounded backtracking: a table of numbers without currency must not take quadratic time."""
    started = time.perf_counter()
    assert parse_amounts("123 " * 20_000) == []
    assert len(parse_amounts("1 000 000 € " * 3_000)) == 3_000
    assert time.perf_counter() - started < 5


def test_anchored_only_refuses_a_plain_amount() -> None:
    text = "Le coût complet sera précisé. Le marché d'AMOA est de 2 M€."
    assert global_amount(text, anchored_only=True) is None
    assert global_amount(text) == parse_amounts(text)[0]
