"""The per-recipient daily cap on automatic mail (DESIGN §7.6), counted through the indexed recipients ledger,
and the migration that fills that ledger from an existing outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlmodel import Session

from intake_bot import store
from intake_bot.cases import MailSpec
from intake_bot.outbox import Sender, _sent_today, queue
from intake_bot.render import Renderer
from intake_bot.tables import OutboxRecipientRow, OutboxRow

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SENDER = Sender("grandsprojets.si@numerique.gouv.fr", "DINUM", daily_cap=3)


def note(n: int, *to: str) -> MailSpec:
    context = {"reason": "test", "from_addr": "x@y.fr", "subject": "s", "size": 1, "received_at": NOW,
               "inbound_id": n, "mailbox": "INBOX"}
    return MailSpec("staff.quarantaine", to, context, f"quarantine:{n}", reply=False, auto_submitted="auto-generated")


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = store.make_engine(f"sqlite:///{tmp_path}/cap.db")
    store.migrate(engine)
    return engine


def test_a_recipient_gets_at_most_the_cap_in_24_hours_whatever_the_case_of_the_address(db) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer()
    with store.session(db) as s:
        queued = [queue(s, renderer, SENDER, note(n, "SG@interieur.gouv.fr" if n % 2 else "sg@interieur.gouv.fr"),
                        case_id=None, now=NOW + timedelta(minutes=n)) for n in range(5)]
        assert [q is not None for q in queued] == [True, True, True, False, False]
        other = queue(s, renderer, SENDER, note(9, "agent@numerique.gouv.fr"), case_id=None, now=NOW)
        assert other is not None  # another recipient has its own count
        both = queue(s, renderer, SENDER, note(10, "sg@interieur.gouv.fr", "agent@numerique.gouv.fr"), case_id=None,
                     now=NOW + timedelta(hours=1))
        assert both is not None and both.recipients == ["agent@numerique.gouv.fr"]  # the capped one is left out
    with store.session(db) as s:  # a day after the first mail, it may be written to again
        again = queue(s, renderer, SENDER, note(11, "sg@interieur.gouv.fr"), case_id=None,
                      now=NOW + timedelta(days=1, seconds=1))
        assert again is not None
        rows = s.execute(select(OutboxRecipientRow.address)).scalars().all()
    assert sorted(rows).count("sg@interieur.gouv.fr") == 4


def _outbox_before_the_ledger(url: str) -> None:
    """A database at revision 0002 holding two queued mails, as an instance upgraded from it would have."""
    engine = store.make_engine(url)
    command.upgrade(store.alembic_config(engine), "0002")
    with engine.begin() as conn:
        for n, recipients in enumerate(['["SG@interieur.gouv.fr"]', '["sg@interieur.gouv.fr", "b@budget.gouv.fr"]']):
            conn.execute(text("INSERT INTO outbox (dedupe_key, template, recipients, subject, message_id, raw, state, "
                              "attempts, last_error, created_at) VALUES (:k, 't', :r, 's', :m, :raw, 'sent', 0, '', :at)"),
                         {"k": f"k{n}", "r": recipients, "m": f"<m{n}@x>", "raw": b"mail", "at": NOW})
    store.migrate(engine)
    with Session(engine) as s:
        ledger = s.execute(select(OutboxRecipientRow.address, OutboxRecipientRow.outbox_id)
                           .order_by(OutboxRecipientRow.id)).all()
        ids = s.execute(select(OutboxRow.id).order_by(OutboxRow.id)).scalars().all()
        assert _sent_today(s, "sg@interieur.gouv.fr", NOW) == 2 and _sent_today(s, "b@budget.gouv.fr", NOW) == 1
    assert sorted(ledger) == sorted([("sg@interieur.gouv.fr", ids[0]), ("sg@interieur.gouv.fr", ids[1]),
                                     ("b@budget.gouv.fr", ids[1])])
    engine.dispose()


def test_upgrade_fills_the_ledger_from_the_outbox_on_sqlite(tmp_path: Path) -> None:
    _outbox_before_the_ledger(f"sqlite:///{tmp_path}/old.db")


@pytest.mark.servers
def test_upgrade_fills_the_ledger_from_the_outbox_on_postgresql(pg_url: str) -> None:
    from tests.bot import fresh_database

    _outbox_before_the_ledger(fresh_database(pg_url, "ledger_upgrade"))
