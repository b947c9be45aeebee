"""intake-bot on a real mailbox (issue 3): Dovecot (IMAP, LMTP), an aiosmtpd sink, SQLite, and PostgreSQL.

The first two tests run ``intake-bot run`` as a subprocess, configured by a TOML file and the password in
the environment; the others drive the pipeline in-process on the same real servers, to reach into it
(a crash between commit and move, a count of downloads).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from intake_bot import config, report
from intake_bot.imap import ImapBox
from intake_bot.mailbox import InboundRef
from intake_bot.report import read_health
from intake_bot.tables import CaseRow, InboundRow
from intake_bot.wiring import App, build
from tests.bot import (STAFF, Daemon, engine, fresh_database, inbound, saisines, tags, wait_until,
                       write_config)
from tests.servers import DovecotServer, MailAccount, SmtpSink

pytestmark = pytest.mark.servers
SEEN = b"\\Seen"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "sqlite:///intake.db"
    return fresh_database(request.getfixturevalue("pg_url"), f"intake_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[list[Daemon]]:
    """The daemons a test starts, all stopped at the end whatever happens."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def start_bot(started: list[Daemon], tmp_path: Path, account: MailAccount, sink: SmtpSink, database: str,
              **sections: dict[str, Any]) -> Daemon:
    daemon = Daemon(write_config(tmp_path, account, sink.port, database, **sections), account, tmp_path / "bot.log")
    started.append(daemon.start())
    wait_until(lambda: (read_health(tmp_path / "status.json") or {}).get("idle"), 30, "the bot to idle", daemon)
    return daemon


def sender_of(raw: bytes) -> str:
    match = re.search(rb"(?m)^From: [^\r\n]*<([^>]+)>", raw)
    assert match
    return match.group(1).decode()


# --- intake-bot run --------------------------------------------------------------------------------------

def test_run_answers_mail_arriving_while_it_idles(tmp_path: Path, imap_account: MailAccount, smtp_sink: SmtpSink,
                                                  database: str, bot: list[Daemon]) -> None:
    daemon = start_bot(bot, tmp_path, imap_account, smtp_sink, database)
    raw = saisines(1)[0]
    start = time.monotonic()
    imap_account.deliver_lmtp(raw)
    (receipt,) = smtp_sink.wait_for(1, timeout=15)
    latency = time.monotonic() - start
    assert latency < 5, f"receipt after {latency:.1f} s"
    assert receipt["To"] == sender_of(raw) and "Accusé de réception" in receipt["Subject"]
    assert receipt["In-Reply-To"] == re.search(rb"(?m)^Message-ID: (<[^>]+>)", raw).group(1).decode()  # type: ignore[union-attr]
    wait_until(lambda: imap_account.uids("Processed"), 10, "the move to Processed", daemon)
    assert imap_account.uids() == []
    db = engine(database, tmp_path)
    assert [(r.status, r.decision) for r in inbound(db)] == [("processed", "new_case")]
    time.sleep(0.5)  # back in IDLE
    stopping = time.monotonic()
    assert daemon.stop() == 0  # SIGTERM leaves the IDLE at once and drops that connection, no LOGOUT
    assert time.monotonic() - stopping < 5  # the IMAP timeout is 10 s: a LOGOUT left unanswered would show
    assert read_health(tmp_path / "status.json")["state"] == "stopped"  # type: ignore[index]


def test_dovecot_restarted_under_the_running_bot(tmp_path: Path, dovecot: DovecotServer, imap_account: MailAccount,
                                                  smtp_sink: SmtpSink, bot: list[Daemon]) -> None:
    daemon = start_bot(bot, tmp_path, imap_account, smtp_sink, "sqlite:///intake.db")
    before, after = saisines(2)
    imap_account.deliver_lmtp(before)
    smtp_sink.wait_for(1, timeout=15)
    dovecot.stop()
    health = tmp_path / "status.json"
    wait_until(lambda: not read_health(health)["connected"], 10, "the bot to see the server gone", daemon)  # type: ignore[index]
    down = report.status(build(config.load(daemon.config, env={})))
    assert (down["daemon"], down["connected"]) == ("running", False) and down["last_error"]
    dovecot.start()
    imap_account.deliver_lmtp(after)
    smtp_sink.wait_for(2, timeout=30)
    wait_until(lambda: len(imap_account.uids("Processed")) == 2, 15, "both messages moved", daemon)
    assert imap_account.uids() == []
    assert set(tags(m["Subject"] for m in smtp_sink.messages()).values()) == {1}  # two cases, one receipt each
    assert [r.status for r in inbound(engine("sqlite:///intake.db", tmp_path))] == ["processed", "processed"]
    wait_until(lambda: read_health(health)["connected"], 5, "the health file to say so", daemon)  # type: ignore[index]


# --- the pipeline in-process on the same servers ---------------------------------------------------------

def make_app(tmp_path: Path, account: MailAccount, sink: SmtpSink, **sections: dict[str, Any]) -> App:
    return build(config.load(write_config(tmp_path, account, sink.port, **sections), env={}))


class Crash(BaseException):
    """The process dies here (not an error the loop could catch)."""


class Instrumented:
    """The real ``ImapBox``, counting downloads per UID, whose next move can be cut short by a crash."""

    def __init__(self, box: ImapBox, crash_on_move: int | None = None) -> None:
        self.box, self.crash_on_move, self.fetched, self.moves = box, crash_on_move, Counter[str](), 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.box, name)

    def fetch(self, ref: InboundRef) -> bytes:
        self.fetched[ref.key.uid] += 1
        return self.box.fetch(ref)

    def mark_processed(self, ref: InboundRef) -> None:
        self.moves += 1
        if self.moves == self.crash_on_move:
            raise Crash()
        self.box.mark_processed(ref)


def rows(app: App) -> list[InboundRow]:
    with Session(app.engine) as s:
        return list(s.execute(select(InboundRow).order_by(InboundRow.id)).scalars())


def cases(app: App) -> int:
    with Session(app.engine) as s:
        return len(s.execute(select(CaseRow.id)).all())


def test_uidvalidity_change_with_processed_mail_still_in_the_inbox_creates_nothing_twice(
        tmp_path: Path, imap_account: MailAccount, smtp_sink: SmtpSink) -> None:
    app = make_app(tmp_path, imap_account, smtp_sink)
    imap_account.append_many(saisines(2))
    box = Instrumented(imap_account.box(), crash_on_move=2)
    with pytest.raises(Crash):  # the 2nd message is committed and answered, then the process dies before its move
        app.pipeline(box).run_once()
    box.close()
    with imap_account.client() as other:  # someone copies the 1st one back from Processed
        other.select_folder("Processed")
        other.copy(other.search("ALL"), "INBOX")
    old = imap_account.uidvalidity()
    assert imap_account.recreate_inbox() != old and len(imap_account.uids()) == 2
    restarted = imap_account.box()
    try:
        counts = app.pipeline(restarted).run_once()
    finally:
        restarted.close()
    assert (counts.processed, counts.duplicates) == (0, 2)
    assert [r.status for r in rows(app)] == ["processed", "processed", "duplicate", "duplicate"]
    assert cases(app) == 2 and len(smtp_sink.raw()) == 2
    assert imap_account.uids() == [] and len(imap_account.uids("Processed")) == 3


def test_message_over_the_size_limit_is_quarantined_without_being_downloaded(
        tmp_path: Path, dovecot: DovecotServer, imap_account: MailAccount, smtp_sink: SmtpSink) -> None:
    app = make_app(tmp_path, imap_account, smtp_sink, limits={"max_message_bytes": 100_000})
    small, big = saisines(1, start=2)[0], saisines(1)[0]  # 03 (20 kB) and 01 (145 kB)
    assert len(small) < 100_000 < len(big)
    small_uid, big_uid = imap_account.append_many([small, big])
    box = Instrumented(imap_account.box())
    counts = app.pipeline(box).run_once()
    box.close()
    assert (counts.processed, counts.quarantined) == (1, 1)
    assert box.fetched == {str(small_uid): 1}  # the big one was never downloaded
    assert _downloaded_bytes(dovecot, imap_account, 2) == len(small)  # Dovecot agrees (APPEND + the bot)
    (quarantined,) = [r for r in rows(app) if r.status == "quarantined"]
    assert quarantined.decision == "message-too-large" and "au-delà de la limite de 100000 octets" in quarantined.reason
    assert [m[b"BODY[]"] for m in imap_account.messages("Quarantine").values()] == [big]
    assert imap_account.uids() == []
    notice = [m for m in smtp_sink.messages() if m["To"] == STAFF]
    assert len(notice) == 1 and "quarantaine" in notice[0]["Subject"]


def _downloaded_bytes(dovecot: DovecotServer, account: MailAccount, sessions: int) -> int:
    """Message bodies Dovecot sent to this user (``body_bytes`` of the first ``sessions`` logout lines)."""
    def logouts() -> list[str]:
        return [line for line in dovecot.log.read_text().splitlines()
                if f"imap({account.user})" in line and "Logged out" in line]
    lines = wait_until(lambda: len(logouts()) >= sessions and logouts(), 5, "Dovecot's logout lines")
    return sum(int(m.group(1)) for line in lines[:sessions] if (m := re.search(r"body_bytes=(\d+)", line)))


def test_mail_another_client_already_read_is_processed(tmp_path: Path, imap_account: MailAccount,
                                                        smtp_sink: SmtpSink) -> None:
    app = make_app(tmp_path, imap_account, smtp_sink)
    imap_account.append(saisines(1)[0], flags=[SEEN])
    box = imap_account.box()
    try:
        assert app.pipeline(box).run_once().processed == 1
    finally:
        box.close()
    assert len(smtp_sink.raw()) == 1 and imap_account.uids() == [] and len(imap_account.uids("Processed")) == 1


def test_a_message_that_keeps_failing_is_retried_then_quarantined_and_never_blocks_the_others(
        tmp_path: Path, imap_account: MailAccount, smtp_sink: SmtpSink) -> None:
    app = make_app(tmp_path, imap_account, smtp_sink, mailbox={"max_retries": 3})
    first, bad, last = _distinct_prefixes(saisines(12))
    blocker = app.blobs.path(hashlib.sha256(bad).hexdigest()).parent
    blocker.write_text("a file where the blob store needs a directory")  # storing this message fails, only it
    imap_account.append_many([first, bad, last])
    outcomes = []
    for _ in range(3):
        box = imap_account.box()
        try:
            c = app.pipeline(box).run_once()
        finally:
            box.close()
        outcomes.append((c.processed, c.failed, c.quarantined))
    assert outcomes == [(2, 1, 0), (0, 1, 0), (0, 0, 1)]
    (row,) = [r for r in rows(app) if r.status == "quarantined"]
    assert row.attempts == 3 and row.decision == "processing-error" and "FileExistsError" in row.last_error
    assert [m[b"BODY[]"] for m in imap_account.messages("Quarantine").values()] == [bad]
    assert len(imap_account.uids("Processed")) == 2 and imap_account.uids() == []
    subjects = [m["Subject"] for m in smtp_sink.messages()]
    assert len(tags(subjects)) == 2 and sum("quarantaine" in s for s in subjects) == 1


def _distinct_prefixes(raws: list[bytes]) -> list[bytes]:
    """Three messages whose blobs land in three different directories of the blob store."""
    chosen: dict[str, bytes] = {}
    for raw in raws:
        chosen.setdefault(hashlib.sha256(raw).hexdigest()[:2], raw)
    return list(chosen.values())[:3]


class Outrun(Instrumented):
    """Another instance of the bot, on its own IMAP session, moves each message to Processed just before
    this one does (both processed it; the database dedups the rest)."""

    def __init__(self, box: ImapBox, account: MailAccount) -> None:
        super().__init__(box)
        self.account = account

    def mark_processed(self, ref: InboundRef) -> None:
        with self.account.client() as other:
            if not other.folder_exists("Processed"):
                other.create_folder("Processed")
            other.select_folder("INBOX")
            other.move([int(ref.key.uid)], "Processed")
        super().mark_processed(ref)


def test_mail_another_instance_moved_first_is_done_not_a_lost_connection(
        tmp_path: Path, imap_account: MailAccount, smtp_sink: SmtpSink) -> None:
    app = make_app(tmp_path, imap_account, smtp_sink)
    raws = saisines(2)
    imap_account.append_many(raws)
    box = Outrun(imap_account.box(), imap_account)
    try:
        counts = app.pipeline(box).run_once()
        assert box.health()["last_error"] is None and box.health()["connected"]  # no reconnection, no retry
    finally:
        box.close()
    assert counts.processed == 2 and counts.failed == 0 and box.moves == 2
    assert [r.status for r in rows(app)] == ["processed", "processed"]
    assert imap_account.uids() == []
    assert sorted(m[b"BODY[]"] for m in imap_account.messages("Processed").values()) == sorted(raws)  # once each
