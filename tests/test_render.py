"""Templates: every template renders strictly, every name the code uses exists, mails carry the required headers."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from email.headerregistry import Address
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from intake_bot.render import Renderer

PKG = Path(__file__).resolve().parent.parent / "intake_bot"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
CASE = {"ref": "GP-2026-0007", "project_name": "PORTALIS", "ministry": "Ministère de la Justice", "kind": "avis_conforme",
        "received_on": date(2026, 11, 25), "estimated_cost_eur": 52_400_000, "due_date": date(2026, 12, 25),
        "deemed_on": date(2026, 12, 26), "suspended": False, "status": "échéance le 25/12/2026"}
PIECE = {"filename": "note de synthèse.pdf", "path": "", "size": 1234, "sha256": "ab" * 32,
         "kit_label": "Note de synthèse", "problems": ["fichier chiffré"]}
BASE = {"case": CASE, "pieces": [PIECE], "present": [{"label": "Note de synthèse", "evidence": "note.pdf"}],
        "missing": ["Planning et jalons"], "missing_recommended": [], "problems": [], "wording": "réputé favorable",
        "mailbox": "grandsprojets.si@numerique.gouv.fr", "received_on": date(2026, 11, 26), "information": False,
        "reason": "trop gros", "from_addr": "x@y.fr", "subject": "s", "size": 1, "received_at": NOW, "inbound_id": 1}


# Keys of the case-lifecycle templates (demande de complément, relance, avis, rappel, digest, transmission, commande).
BASE |= {"request": "Précisez le coût du MCO.", "items": ["Planning et jalons"], "requested_on": date(2026, 11, 27),
         "number": 1, "text": "", "files": ["avis.pdf"], "decision": "favorable", "decision_fr": "favorable",
         "decided_on": date(2026, 12, 1), "days": 2, "forwarded_on": date(2026, 11, 25),
         "observations_due": date(2026, 12, 20), "attached": ["GP-2026-0007-message-1.eml"],
         "addressee": "Monsieur le directeur du budget", "partner": "direction du budget", "ref": "GP-2026-0007",
         "verb": "avis", "refusal": "", "open": True, "case": CASE | {"state_fr": "en cours d'instruction", "days_left": 30},
         "digest": {"day": date(2026, 11, 25), "since": date(2026, 11, 24), "empty": False,
                    "new": [{"ref": "GP-2026-0007", "project_name": "PORTALIS", "ministry": "Justice", "detail": "reçu"}],
                    "due_soon": [], "overdue": [], "waiting": [], "observations": [], "deemed": [],
                    "quarantine": [{"id": 3, "from_addr": "x@y.fr", "subject": "s", "reason": "inconnu"}]}}


def contexts() -> dict[str, dict]:
    """A complete context for each template; templates read only the keys they need."""
    return {name: BASE for name in Renderer().names()}


def test_every_template_name_used_in_code_exists():
    used = set()
    for py in PKG.glob("*.py"):
        used |= set(re.findall(r'"((?:ministere|staff|partenaires)\.[a-z-]+)"', py.read_text()))
    assert used, "no template names found in the code"
    missing = used - set(Renderer().names())
    assert not missing, f"templates used in code but absent: {missing}"


@pytest.mark.parametrize("name", Renderer().names())
def test_template_renders_subject_text_and_html(name):
    r = Renderer()
    parts = r.blocks(name, contexts()[name])
    assert parts["subject"] and parts["text"] and parts["html"]
    msg = r.message(name, contexts()[name], sender=Address("DINUM", "grandsprojets.si", "numerique.gouv.fr"),
                    to=["sg@justice.gouv.fr"], domain="numerique.gouv.fr", now=NOW, in_reply_to="<a@b>")
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Auto-Submitted"] in ("auto-replied", "auto-generated")
    assert parsed["Message-ID"].endswith("@numerique.gouv.fr>")
    assert parsed["In-Reply-To"] == "<a@b>"
    assert parsed.get_body(("plain",)) is not None and parsed.get_body(("html",)) is not None


def test_missing_variable_fails_loudly():
    with pytest.raises(UndefinedError):
        Renderer().blocks("ministere.accuse-reception", {"case": CASE})


def test_receipt_lists_every_piece_with_its_digest_and_escapes_html():
    ctx = dict(BASE, pieces=[PIECE, dict(PIECE, filename="<script>x</script>.pdf", sha256="cd" * 32)])
    parts = Renderer().blocks("ministere.accuse-reception", ctx)
    assert "[GP-2026-0007]" in parts["subject"]
    for digest in ("ab" * 32, "cd" * 32):
        assert digest in parts["text"] and digest in parts["html"]
    assert "<script>" not in parts["html"] and "&lt;script&gt;" in parts["html"]
    assert "Planning et jalons" in parts["text"] and "suspendu" in parts["text"]
