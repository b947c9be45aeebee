"""A case walked end to end on a clock we control: real example saisine, staff email command, complement,
tacit avis by the scheduler's sweep, panorama export; mail through a real SMTP server on loopback."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from intake_bot import export, report, scheduler
from intake_bot.demo import embedded_settings
from intake_bot.mailbox import MaildirBox
from intake_bot.tables import CaseRow, EventRow, InboundRow, OutboxRow
from intake_bot.wiring import App, build
from tests.conftest import EXAMPLES

AUTHSERV = "mx.numerique.gouv.fr"
AGENT = "agent@numerique.gouv.fr"
TEAM = "equipe@numerique.gouv.fr"
MINISTRY = "sg@agriculture.gouv.fr"
PARTNERS = {"anssi": ["observations@ssi.gouv.fr"], "budget": ["bureau-si@budget.gouv.fr"]}
_seq = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def lifecycle_app(workdir: Path, clock, smtp_url: str | None = None) -> App:
    smtp = {"url": f"{smtp_url}?starttls=off"} if smtp_url else {}
    return build(embedded_settings(workdir, intake={"authserv_id": AUTHSERV}, partners=PARTNERS, smtp=smtp),
                 clock=clock)


def deliver(app: App, raw: bytes, at: datetime) -> None:
    """Into the Maildir as an MDA would, delivered at `at` (the receipt time the deadline counts from)."""
    box = MaildirBox(app.settings.base_dir / "maildir")
    (box.path / "new" / f"{int(at.timestamp())}.M{next(_seq)}P1.test").write_bytes(raw)


def run(app: App, clock, raw: bytes, at: datetime) -> None:
    clock.now = at
    deliver(app, raw, at)
    counts = app.pipeline(MaildirBox(app.settings.base_dir / "maildir")).run_once()
    assert counts.failed == 0


def staff_mail(subject: str, body: str, *, sender: str = AGENT, auth: str | None = "dkim=pass header.d=numerique.gouv.fr",
               authserv: str = AUTHSERV, files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, "grandsprojets.si@numerique.gouv.fr", subject
    msg["Message-ID"] = f"<staff.{next(_seq)}@numerique.gouv.fr>"
    if auth:
        msg["Authentication-Results"] = f"{authserv}; {auth}"
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def history(app: App) -> list[tuple[str, str, str | None, int | None]]:
    with Session(app.engine) as s:
        rows = s.execute(select(EventRow).order_by(EventRow.id)).scalars()
        return [(e.kind, e.actor, e.to_state, e.inbound_id) for e in rows]


def _saisine_without_planning(app: App, clock, sink) -> None:
    """EXPADON 2 arrives on Thursday 5 November 2026 without its planning: clock suspended from day 0."""
    run(app, clock, example("04-expadon2-agriculture-sans-planning.eml"), utc(2026, 11, 5, 15, 6))
    (receipt,) = sink.wait_for(1)
    assert receipt["Subject"].startswith("[GP-2026-0001] Accusé de réception") and receipt["To"] == MINISTRY
    assert "délai d'un mois" in text_of(receipt) and "suspendu" in text_of(receipt)


def _staff_request(app: App, clock, sink) -> None:
    """An agent asks for more by an authenticated email command; the ministry gets it, the agent an answer."""
    run(app, clock, staff_mail("Re: [GP-2026-0001] Accusé de réception", "#complement planning\nAvec les jalons "
                               "de déploiement, s'il vous plaît.\n\n-- \nL'agent"), utc(2026, 11, 10, 9, 0))
    request, answer = sink.wait_for(3)[1:]
    assert request["Subject"] == "[GP-2026-0001] Demande de complément — EXPADON 2" and request["To"] == MINISTRY
    assert request["In-Reply-To"].strip() == "<04-expadon2-agriculture-sans-planning.202611051605@agriculture.gouv.fr>"
    body = text_of(request)
    assert "Planning et jalons" in body and "Avec les jalons de déploiement" in body
    assert "faite le 10/11/2026, suspend le délai" in body and "suspendu depuis le 05/11/2026" in body
    assert answer["To"] == AGENT and answer["Subject"] == "[GP-2026-0001] Commande #complement appliquée"


def _complement(app: App, clock, sink) -> None:
    """The complement (threaded by In-Reply-To only) completes the dossier: the clock resumes, the new due date
    is announced, and the dossier goes to ANSSI and budget with the original messages attached."""
    run(app, clock, example("05-expadon2-agriculture-complement.eml"), utc(2026, 11, 16, 9, 21))
    mails = sink.wait_for(6)[3:]
    ack = next(m for m in mails if m["To"] == MINISTRY)
    assert ack["Subject"] == "[GP-2026-0001] Complément reçu — EXPADON 2"
    assert "au plus tard\nle 17/12/2026, l'avis sera réputé favorable le 18/12/2026" in text_of(ack)
    forwards = sorted((m for m in mails if m["To"] != MINISTRY), key=lambda m: m["To"])
    assert [m["To"] for m in forwards] == ["bureau-si@budget.gouv.fr", "observations@ssi.gouv.fr"]
    for fwd in forwards:
        assert fwd["Subject"].startswith("[GP-2026-0001] Transmission pour observations — EXPADON 2")
        assert fwd["Auto-Submitted"] == "auto-generated" and "au plus tard le 11/12/2026" in text_of(fwd)
        assert [a.get_content() for a in fwd.iter_attachments()] == [
            example("04-expadon2-agriculture-sans-planning.eml"), example("05-expadon2-agriculture-complement.eml")]
    detail = report.case_detail(app, "GP-2026-0001")
    assert (detail["state"], detail["due_date"], detail["kit"]["missing"]) == ("under_review", "2026-12-17", [])
    assert detail["observations"]["due"] == "2026-12-11"


def _reminder_and_digest(app: App, clock, sink) -> None:
    """Thursday 10 December: the reminder (7 days before) and the digest go to the team, once."""
    clock.now = utc(2026, 12, 10, 8, 30)
    assert scheduler.tick(app) == {"deemed": 0, "reminders": 1, "digest": 1}
    rappel, digest = sink.wait_for(8)[6:]
    assert rappel["Subject"] == "[GP-2026-0001] Échéance dans 7 jours (17/12/2026) — EXPADON 2" and rappel["To"] == TEAM
    assert "l'avis sera réputé favorable\nle 18/12/2026" in text_of(rappel)
    assert "Échéances proches (1)" in text_of(digest) and "ANSSI : observations attendues" in text_of(digest)
    assert scheduler.tick(app) == {"deemed": 0, "reminders": 0, "digest": 0}
    assert len(sink.raw()) == 8


def _tacit_avis(app: App, clock, sink) -> None:
    """Nobody answered: at 00:10 Paris on 18 December the sweep records the tacit avis and tells the ministry."""
    clock.now = utc(2026, 12, 17, 23, 10)
    assert scheduler.tick(app)["deemed"] == 1
    deemed = sink.wait_for(9)[8]
    assert deemed["Subject"] == "[GP-2026-0001] Avis réputé favorable — EXPADON 2" and deemed["To"] == MINISTRY
    assert "au plus tard le 17/12/2026, l'avis est réputé favorable depuis le 18/12/2026" in text_of(deemed)
    assert scheduler.tick(app)["deemed"] == 0
    final = report.case_detail(app, "GP-2026-0001")
    assert (final["state"], final["avis"], final["avis_on"]) == ("deemed", "réputé favorable", "2026-12-18")


def test_incomplete_saisine_to_staff_request_to_complement_to_tacit_avis_to_panorama(tmp_path, clock, smtp_sink):
    app = lifecycle_app(tmp_path, clock, smtp_sink.url)
    for step in (_saisine_without_planning, _staff_request, _complement, _reminder_and_digest, _tacit_avis):
        step(app, clock, smtp_sink)
    out = io.StringIO()
    export.write_csv(export.panorama(app, scheduler.today_in_paris(app)), out)
    (line,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (line["Nom du projet"], line["Ministère porteur"], line["Coût estimé (M€)"]) == ("EXPADON 2", "MAA", "16.1")
    assert line["Coût estimé par tranche"] == "entre 9 et 20 M€" and line["Date de publication"] == "2026-12-18"
    with Session(app.engine) as s:  # the audit trail: who did what, from which message
        saisine, command, complement = s.execute(select(InboundRow.id).order_by(InboundRow.id)).scalars()
        assert s.execute(select(OutboxRow).where(OutboxRow.state != "sent")).first() is None
    assert history(app) == [
        ("received", "intake-bot", "received", saisine), ("state", "intake-bot", "awaiting_complement", saisine),
        ("request", AGENT, "awaiting_complement", command),
        ("complement", "intake-bot", None, complement), ("state", "intake-bot", "under_review", complement),
        ("forwarded", "intake-bot", None, None), ("deemed", "intake-bot", "deemed", None)]


# -- follow-ups find their case ---------------------------------------------------------------------------
def reply(subject: str, *, in_reply_to: str = "", references: str = "", body: str = "Ci-joint le planning.") -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = MINISTRY, "grandsprojets.si@numerique.gouv.fr", subject
    msg["Message-ID"] = f"<reply.{next(_seq)}@agriculture.gouv.fr>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    return msg.as_bytes()


def our_receipt_id(app: App) -> str:
    with Session(app.engine) as s:
        return s.execute(select(OutboxRow.message_id).order_by(OutboxRow.id)).scalars().first()


@pytest.mark.parametrize("path", ["case-tag", "in-reply-to-ours", "references-ours", "sender-project"])
def test_each_follow_up_path_finds_the_case(tmp_path, clock, path):
    app = lifecycle_app(tmp_path, clock)
    run(app, clock, example("04-expadon2-agriculture-sans-planning.eml"), utc(2026, 11, 5, 15, 6))
    ours = our_receipt_id(app)
    raw = {"case-tag": reply("Complément [GP-2026-0001]"),
           "in-reply-to-ours": reply("RE: votre accusé de réception", in_reply_to=ours),
           "references-ours": reply("RE: votre message", references=f"<other@x.gouv.fr> {ours}"),
           "sender-project": reply("RE: projet EXPADON 2 : planning")}[path]
    run(app, clock, raw, utc(2026, 11, 9, 9, 0))
    with Session(app.engine) as s:
        row = s.execute(select(InboundRow).order_by(InboundRow.id.desc())).scalars().first()
    assert (row.decision, row.status, row.case_id) == ("follow_up", "processed", 1)
    assert len(report.case_list(app)) == 1
    assert ("complement", "intake-bot", None, row.id) in history(app)


def test_an_orphan_reply_goes_to_staff_not_to_a_new_case(tmp_path, clock):
    app = lifecycle_app(tmp_path, clock)
    run(app, clock, reply("RE: notre échange de la semaine dernière", in_reply_to="<unknown@x.gouv.fr>"),
        utc(2026, 11, 9, 9, 0))
    assert report.case_list(app) == []
    with Session(app.engine) as s:
        row = s.execute(select(InboundRow)).scalars().one()
        notice = s.execute(select(OutboxRow)).scalars().one()
    assert (row.status, row.decision) == ("quarantined", "quarantine")
    assert notice.template == "staff.quarantaine" and notice.recipients == [TEAM]
    assert "aucun dossier" in message_from_bytes(notice.raw, policy=policy.default).get_body(("plain",)).get_content()
    box = MaildirBox(app.settings.base_dir / "maildir")
    assert list((box.path / ".Quarantine" / "cur").iterdir())


def test_mail_on_a_closed_case_is_kept_on_the_case_and_shown_to_staff(tmp_path, clock):
    app = lifecycle_app(tmp_path, clock)
    run(app, clock, example("01-portalis-justice.eml"), utc(2026, 11, 2, 8, 30))
    assert app.staff is not None
    app.staff.run("withdraw", "GP-2026-0001", "projet suspendu par le ministère", "cli:test")
    raw = reply("Re: [GP-2026-0001] finalement nous maintenons la saisine").replace(MINISTRY.encode(), b"sg@justice.gouv.fr")
    run(app, clock, raw, utc(2026, 11, 4, 9, 0))
    with Session(app.engine) as s:
        row = s.execute(select(InboundRow).order_by(InboundRow.id.desc())).scalars().first()
        notices = s.execute(select(OutboxRow).where(OutboxRow.template == "staff.quarantaine")).scalars().all()
    assert (row.status, row.case_id) == ("quarantined", 1) and "retiré" in row.reason
    assert len(notices) == 1
    assert history(app)[-1][:2] == ("refused", "sg@justice.gouv.fr")


def test_a_tagged_message_from_another_ministry_is_not_attached(tmp_path, clock):
    app = lifecycle_app(tmp_path, clock)
    run(app, clock, example("04-expadon2-agriculture-sans-planning.eml"), utc(2026, 11, 5, 15, 6))
    raw = reply("Complément [GP-2026-0001]").replace(MINISTRY.encode(), b"bureau@interieur.gouv.fr")
    run(app, clock, raw, utc(2026, 11, 9, 9, 0))
    with Session(app.engine) as s:
        row = s.execute(select(InboundRow).order_by(InboundRow.id.desc())).scalars().first()
        case = s.execute(select(CaseRow)).scalars().one()
    assert (row.status, row.decision) == ("quarantined", "quarantine") and "étranger" in row.reason
    assert case.state == "awaiting_complement", "the clock did not resume on a stranger's word"
    assert ("complement", "intake-bot", None, row.id) not in history(app)
