"""Staff act on cases by email (allow-list AND our server's DKIM/SPF verdict) and by the CLI, audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select
from sqlmodel import Session

from intake_bot import cli, report
from intake_bot.demo import KIT
from intake_bot.errors import UsageError
from intake_bot.staff import cli_command
from intake_bot.tables import InboundRow, OutboxRow
from tests.conftest import FakeClock
from tests.test_lifecycle_e2e import (
    AGENT,
    AUTHSERV,
    example,
    history,
    lifecycle_app,
    run,
    staff_mail,
    utc,
)

RECEIVED = utc(2026, 11, 2, 8, 30)  # PORTALIS, complete: due 02/12/2026


@pytest.fixture
def app(tmp_path, clock):
    a = lifecycle_app(tmp_path, clock)
    run(a, clock, example("01-portalis-justice.eml"), RECEIVED)
    return a


def mails(app, template: str) -> list:
    with Session(app.engine) as s:
        rows = s.execute(select(OutboxRow).where(OutboxRow.template == template).order_by(OutboxRow.id)).scalars()
        return [message_from_bytes(r.raw, policy=policy.default) for r in rows]


def last_inbound(app) -> InboundRow:
    with Session(app.engine) as s:
        return s.execute(select(InboundRow).order_by(InboundRow.id.desc())).scalars().first()


def text(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("auth, authserv", [
    (None, AUTHSERV),  # no verdict at all
    ("dkim=pass header.d=numerique.gouv.fr", "mx.attacker.example"),  # a verdict from someone else's server
    ("dkim=fail header.d=numerique.gouv.fr; spf=softfail smtp.mailfrom=agent@numerique.gouv.fr", AUTHSERV),
    ("dkim=pass header.d=gmail.com", AUTHSERV),  # passes, but for another domain
])
def test_unauthenticated_staff_commands_are_quarantined_not_applied(app, clock, auth, authserv):
    run(app, clock, staff_mail("[GP-2026-0001] avis", "#avis favorable", auth=auth, authserv=authserv), utc(2026, 11, 3, 9))
    row = last_inbound(app)
    assert (row.status, row.decision) == ("quarantined", "quarantine") and "authentification" in row.reason
    assert report.case_detail(app, "GP-2026-0001")["state"] == "under_review"
    assert mails(app, "ministere.avis") == [] and len(mails(app, "staff.quarantaine")) == 1


@pytest.mark.parametrize("auth", ["dkim=pass header.d=numerique.gouv.fr",
                                  "spf=pass smtp.mailfrom=agent@numerique.gouv.fr"])
def test_avis_by_authenticated_email_forwards_the_signed_file_to_the_ministry(app, clock, auth):
    signed = b"%PDF-1.4 avis du directeur interministeriel du numerique"
    run(app, clock, staff_mail("Re: [GP-2026-0001] PORTALIS", "#avis réserves\nVoir le courrier.", auth=auth,
                               files=(("Avis DINUM PORTALIS.pdf", signed),)), utc(2026, 11, 20, 9))
    detail = report.case_detail(app, "GP-2026-0001")
    assert (detail["state"], detail["avis"], detail["avis_on"]) == ("avis_rendered", "reserves", "2026-11-20")
    (avis,) = mails(app, "ministere.avis")
    assert avis["Subject"] == "[GP-2026-0001] Avis favorable avec réserves de la DINUM — PORTALIS"
    assert avis["To"] == "sg@justice.gouv.fr" and "rendu le 20/11/2026" in text(avis)
    (attached,) = list(avis.iter_attachments())
    assert attached.get_filename() == "Avis DINUM PORTALIS.pdf" and attached.get_content() == signed
    (answer,) = mails(app, "staff.commande")
    assert answer["To"] == AGENT and answer["Subject"] == "[GP-2026-0001] Commande #avis appliquée"
    assert history(app)[-1] == ("avis", AGENT, "avis_rendered", last_inbound(app).id)


@pytest.mark.parametrize("body, subject, reason", [
    ("#clore", "[GP-2026-0001] clôture", "Clôture impossible : le dossier GP-2026-0001 est en cours d'instruction"),
    ("#avis peut-être", "[GP-2026-0001] avis", "#avis attend favorable, reserves ou defavorable"),
    ("#valider tout", "[GP-2026-0001] ?", "commande inconnue « #valider »"),
    ("Bonjour, pouvez-vous regarder ce dossier ?", "[GP-2026-0001] question", "aucune commande"),
    ("#note appel du SG", "sans référence", "aucune référence de dossier"),
    ("#note appel du SG", "[GP-2026-0999] note", "le dossier GP-2026-0999 n'existe pas"),
])
def test_refused_commands_are_answered_with_the_reason_and_change_nothing(app, clock, body, subject, reason):
    run(app, clock, staff_mail(subject, body), utc(2026, 11, 3, 9))
    (answer,) = mails(app, "staff.commande")
    assert answer["To"] == AGENT and "refusée" in answer["Subject"]
    assert reason in " ".join(text(answer).split())
    assert report.case_detail(app, "GP-2026-0001")["state"] == "under_review"
    assert mails(app, "ministere.avis") == [] and mails(app, "ministere.demande-complement") == []
    row = last_inbound(app)
    assert row.status == "processed" and row.reason.startswith("commande refusée")
    if "GP-2026-0001" in subject:
        assert history(app)[-1][:2] == ("refused", AGENT)


def test_request_after_expiry_is_refused_by_email_with_the_rule(app, clock):
    run(app, clock, staff_mail("[GP-2026-0001] complément", "#complement finances"), utc(2026, 12, 3, 9))
    (answer,) = mails(app, "staff.commande")
    assert "postérieure à l'échéance du 02/12/2026 : elle ne suspend pas le délai" in " ".join(text(answer).split())


def test_note_and_out_of_scope_by_email(app, clock):
    run(app, clock, staff_mail("[GP-2026-0001] note", "#note Appel du SG : le coût réel est de 7 M€."), utc(2026, 11, 3, 9))
    run(app, clock, staff_mail("[GP-2026-0001] hp", "#hors-périmètre coût réel sous le seuil"), utc(2026, 11, 3, 10))
    kinds = [(k, a) for k, a, _, _ in history(app)][-2:]
    assert kinds == [("note", AGENT), ("state", AGENT)]
    (decision,) = mails(app, "ministere.avis")
    assert decision["Subject"] == "[GP-2026-0001] Saisine hors périmètre — PORTALIS"
    assert "Motif : coût réel sous le seuil" in text(decision)


# -- the command line --------------------------------------------------------------------------------------
@pytest.fixture
def cli_app(tmp_path):
    """A case received now (the CLI runs on the system clock), and a config file for the same directory."""
    clock = FakeClock(datetime.now(timezone.utc))
    a = lifecycle_app(tmp_path, clock)
    run(a, clock, example("01-portalis-justice.eml"), clock.now)
    config = tmp_path / "intake-bot.toml"
    config.write_text(f'[mailbox]\nurl = "maildir://maildir"\n[smtp]\nurl = "dir://outbox"\n'
                      f'[database]\nurl = "sqlite:///intake.db"\n[storage]\nblob_dir = "blobs"\n'
                      f'[intake]\nkit_path = "{KIT}"\nstaff_addresses = ["{AGENT}"]\nauthserv_id = "{AUTHSERV}"\n'
                      f'[digest]\nrecipients = ["equipe@numerique.gouv.fr"]\n', encoding="utf-8")
    return a, str(config)


def test_cli_actions_are_audited_with_who(cli_app, capsys):
    app, config = cli_app
    assert cli.main(["-c", config, "case", "note", "GP-2026-0001", "réunion", "de", "cadrage", "--by", "marie"]) == 0
    assert cli.main(["-c", config, "case", "complement", "GP-2026-0001", "planning", "--by", "marie"]) == 0
    out = capsys.readouterr().out
    assert "GP-2026-0001: awaiting_complement — suspendu depuis le" in out
    assert "ministere.demande-complement -> sg@justice.gouv.fr" in out
    assert history(app)[-2:] == [("note", "marie", None, None), ("request", "marie", "awaiting_complement", None)]
    assert report.case_detail(app, "GP-2026-0001")["suspended"] is True


def test_cli_avis_with_file_then_close_then_export(cli_app, capsys, tmp_path):
    app, config = cli_app
    signed = tmp_path / "avis.pdf"
    signed.write_bytes(b"%PDF-1.4 avis")
    assert cli.main(["-c", config, "case", "avis", "GP-2026-0001", "favorable", "--file", str(signed)]) == 0
    assert cli.main(["-c", config, "case", "close", "GP-2026-0001", "--by", "marie"]) == 0
    (avis,) = mails(app, "ministere.avis")
    assert [a.get_content() for a in avis.iter_attachments()] == [b"%PDF-1.4 avis"]
    assert history(app)[-2][1].startswith("cli")  # default actor: cli:<login>
    out = tmp_path / "panorama.csv"
    assert cli.main(["-c", config, "export", "panorama", "--format", "csv", "--output", str(out)]) == 0
    (line,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert line["Nom du projet"] == "PORTALIS" and line["Ministère porteur"] == "MJ"


@pytest.mark.parametrize("args, message", [
    (["case", "close", "GP-2026-0001"], "Clôture impossible"),
    (["case", "avis", "GP-2026-0001", "bof"], "#avis attend favorable, reserves ou defavorable"),
    (["case", "note", "GP-2026-0009", "x"], "no case GP-2026-0009"),
    (["case", "archive", "GP-2026-0001"], "unknown case action 'archive'"),
    (["case", "note", "GP-2026-0001", "x", "--file", "/nonexistent.pdf"], "No such file"),
    (["export", "panorama", "--format", "xlsx"], "only `export panorama --format csv`"),
])
def test_cli_refusals_are_one_line_and_exit_2(cli_app, capsys, args, message):
    _, config = cli_app
    assert cli.main(["-c", config, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_digest_preview_and_tick(cli_app, capsys):
    _, config = cli_app
    assert cli.main(["-c", config, "digest", "--preview", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [line["ref"] for line in data["new"]] == ["GP-2026-0001"] and data["empty"] is False
    assert cli.main(["-c", config, "digest", "--preview"]) == 0
    assert "Nouveaux dossiers (1)" in capsys.readouterr().out
    assert cli.main(["-c", config, "tick"]) == 0
    assert capsys.readouterr().out.startswith("deemed 0, reminders 0")


def test_cli_words_mean_what_the_email_commands_mean():
    assert cli_command("complement", "finances, planning et le reste", ["finances", "planning"]).items == (
        "finances", "planning")
    assert cli_command("avis", "Réserves", []).argument == "reserves"
    assert cli_command("withdraw", " abandon ", []).verb == "retrait"
    with pytest.raises(UsageError):
        cli_command("delete", "", [])
