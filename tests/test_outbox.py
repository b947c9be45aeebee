"""The outbox's two-phase send against a real SMTP server (aiosmtpd): the row is committed 'committing' between
the body and the final dot, so a crash before the dot is known harmless (resent) and only a crash or a lost
answer after it leaves a mail 'uncertain' (DESIGN §7.2)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from intake_bot.outbox import Dispatcher, Sender
from intake_bot.tables import OutboxRow
from intake_bot.transport import DirTransport, SmtpTransport, smtp_body
from tests.bot import BOT
from tests.conftest import FakeClock
from tests.servers import SmtpSink

pytestmark = pytest.mark.servers
SENDER = Sender("bot@numerique.gouv.fr", "Bot")
# a line starting with a dot, one that is only a dot, bare LF and CR: what dot-stuffing and CRLF must survive
BODY = b"Bonjour,\r\n.un point en tete\r\n.\r\nfin\nbare lf\r..\r\n"


class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing runs after it, no except clause catches it."""


class LosingSink(SmtpSink):
    """Accepts the message, then loses the answer: sleeps past the client's timeout, or closes the connection."""

    mode = "sleep"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.mode == "sleep":
            await asyncio.sleep(1.5)
        else:
            server.transport.close()
        return reply


@pytest.fixture
def losing_sink(tmp_path: Path) -> Iterator[LosingSink]:
    from aiosmtpd.controller import Controller
    sink = LosingSink(tmp_path / "losing")
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def add_rows(app: Any, n: int = 1) -> list[int]:
    with Session(app.engine) as s:
        rows = [OutboxRow(dedupe_key=f"test:{i}", template="test", recipients=[f"dest{i}@example.test"],
                          subject=f"Mail {i}", message_id=f"<m{i}@example.test>",
                          created_at=datetime(2026, 1, 1, tzinfo=UTC),
                          raw=f"Subject: Mail {i}\r\nMessage-ID: <m{i}@example.test>\r\n\r\n".encode() + BODY)
                for i in range(n)]
        s.add_all(rows)
        s.commit()
        return [r.id for r in rows]  # type: ignore[misc]


def state(app: Any, row_id: int) -> OutboxRow:
    with Session(app.engine) as s:
        return s.execute(select(OutboxRow).where(OutboxRow.id == row_id)).scalar_one()


def smtp(port: int, timeout: float = 5.0) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, starttls="off", timeout=timeout)


def settle(sink: SmtpSink, n: int) -> list[bytes]:
    """What the sink holds once a closed connection had time to be noticed (it must not turn into a mail)."""
    time.sleep(0.3)
    return sink.raw()[:n + 1]


class KilledAtCommit(Dispatcher):
    """Dies when the transport calls back between the body and the dot: before or after the commit."""

    after_commit = False

    def _move(self, mail: Any, sources: tuple[str, ...], **values: object) -> bool:
        if values.get("state") != "committing":
            return super()._move(mail, sources, **values)
        if self.after_commit:
            super()._move(mail, sources, **values)
        raise Killed()


def test_smtp_body_is_crlf_and_dot_stuffed_without_its_end() -> None:
    assert smtp_body(b".a\n.\rb\r\n..c") == b"..a\r\n..\r\nb\r\n...c\r\n"
    assert not smtp_body(BODY).endswith(b"\r\n.\r\n")


def test_a_mail_is_sent_once_and_arrives_intact(embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    (row,) = add_rows(embedded)
    dispatcher = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
    assert dispatcher.deliver_pending() == 1
    assert state(embedded, row).state == "sent" and state(embedded, row).attempts == 1
    (raw,) = smtp_sink.raw()
    assert raw.endswith(b"Bonjour,\r\n.un point en tete\r\n.\r\nfin\r\nbare lf\r\n..\r\n")
    assert dispatcher.deliver_pending() == 0 and len(smtp_sink.raw()) == 1


def test_a_451_at_the_dot_is_retried_then_sent_once(embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    (row,) = add_rows(embedded)
    dispatcher = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
    smtp_sink.fail_next(1)
    assert dispatcher.deliver_pending() == 0
    assert state(embedded, row).state == "pending" and "451" in state(embedded, row).last_error
    assert dispatcher.deliver_pending() == 1
    assert smtp_sink.refused == 1 and len(smtp_sink.raw()) == 1 and state(embedded, row).state == "sent"


def test_a_kill_between_body_and_dot_delivers_nothing_and_the_mail_is_resent(
        embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    (row,) = add_rows(embedded)
    with pytest.raises(Killed):
        KilledAtCommit(embedded.engine, smtp(smtp_sink.port), SENDER, clock).deliver_pending()
    assert settle(smtp_sink, 0) == [] and state(embedded, row).state == "sending"
    restarted = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
    assert restarted.recover(every_claim=True) == 0 and state(embedded, row).state == "pending"
    assert restarted.deliver_pending() == 1
    assert len(settle(smtp_sink, 1)) == 1 and state(embedded, row).state == "sent"


def test_a_kill_after_the_committing_commit_is_uncertain_and_never_resent(
        embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    (row,) = add_rows(embedded)
    killed = KilledAtCommit(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
    killed.after_commit = True
    with pytest.raises(Killed):
        killed.deliver_pending()
    assert settle(smtp_sink, 0) == [] and state(embedded, row).state == "committing"
    restarted = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
    assert restarted.recover(every_claim=True) == 1 and state(embedded, row).state == "uncertain"
    assert restarted.deliver_pending() == 0 and settle(smtp_sink, 0) == []  # conservative: a human decides
    assert [u["id"] for u in restarted.uncertain()] == [row]


@pytest.mark.parametrize("mode", ["sleep", "close"])
def test_an_answer_lost_after_the_dot_is_uncertain_not_retried(
        embedded: Any, clock: FakeClock, losing_sink: LosingSink, mode: str) -> None:
    losing_sink.mode = mode
    (row,) = add_rows(embedded)
    dispatcher = Dispatcher(embedded.engine, smtp(losing_sink.port, timeout=0.5), SENDER, clock)
    assert dispatcher.deliver_pending() == 0
    assert state(embedded, row).state == "uncertain", state(embedded, row).last_error
    assert dispatcher.recover(every_claim=True) == 0 and dispatcher.deliver_pending() == 0
    time.sleep(1.5 if mode == "sleep" else 0.3)
    assert len(losing_sink.raw()) == 1  # it did arrive: resending would have made two


def test_a_sender_that_lost_its_claim_cuts_its_message_before_the_dot(
        embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    """A second instance starting (recovery) and sending the row while the first is between body and dot."""
    (row,) = add_rows(embedded)
    other = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)

    class Overtaken(Dispatcher):
        def _move(self, mail: Any, sources: tuple[str, ...], **values: object) -> bool:
            if values.get("state") == "committing":
                other.recover(every_claim=True)
                assert other.deliver_pending() == 1
            return super()._move(mail, sources, **values)

    assert Overtaken(embedded.engine, smtp(smtp_sink.port), SENDER, clock).deliver_pending() == 0
    assert len(settle(smtp_sink, 1)) == 1
    assert state(embedded, row).state == "sent" and state(embedded, row).attempts == 2


def test_two_dispatchers_racing_deliver_each_mail_once(embedded: Any, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    rows = add_rows(embedded, 12)
    start = threading.Barrier(2)
    sent: list[int] = []

    def run() -> None:
        dispatcher = Dispatcher(embedded.engine, smtp(smtp_sink.port), SENDER, clock)
        start.wait()
        sent.append(dispatcher.deliver_pending())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(sent) == len(rows) and len(settle(smtp_sink, len(rows))) == len(rows)
    assert {state(embedded, r).state for r in rows} == {"sent"}


def test_the_directory_transport_renames_only_after_the_commit(embedded: Any, clock: FakeClock,
                                                                tmp_path: Path) -> None:
    (row,) = add_rows(embedded)
    out = DirTransport(tmp_path / "out")
    with pytest.raises(Killed):
        KilledAtCommit(embedded.engine, out, SENDER, clock).deliver_pending()
    assert not list(out.path.glob("*.eml"))
    restarted = Dispatcher(embedded.engine, out, SENDER, clock)
    restarted.recover(every_claim=True)
    assert restarted.deliver_pending() == 1 and state(embedded, row).state == "sent"
    assert len(list(out.path.glob("*.eml"))) == 1 and not list(out.path.glob(".tmp-*"))


def test_outbox_command_lists_resends_and_marks_sent(embedded: Any, clock: FakeClock, tmp_path: Path) -> None:
    first, second = add_rows(embedded, 2)
    with Session(embedded.engine) as s:
        for row in s.execute(select(OutboxRow)).scalars():
            row.state = "uncertain"
        s.commit()
    config = tmp_path / "intake-bot.toml"
    config.write_text(f'[mailbox]\nurl = "maildir://maildir"\n[smtp]\nurl = "dir://outbox"\n[database]\n'
                      f'url = "sqlite:///intake.db"\n[storage]\nblob_dir = "blobs"\n[intake]\n'
                      f'kit_path = "{embedded.settings.intake.kit_path}"\n')

    def bot(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        return subprocess.run([str(BOT), "-c", str(config), "outbox", *args], check=False, capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=60)

    listed = json.loads(bot("list", "--state", "uncertain", "--json").stdout)
    assert [r["id"] for r in listed] == [first, second]
    assert bot("resend", str(first), "--by", "alice").returncode == 0
    assert bot("mark-sent", str(second), "--by", "alice").returncode == 0
    assert state(embedded, first).state == "pending" and "alice" in state(embedded, first).last_error
    assert state(embedded, second).state == "sent"
    refused = bot("resend", str(second))
    assert refused.returncode == 2 and "is sent" in refused.stderr
    assert f"#{first} pending" in bot("list").stdout


# --- durable renames: data fsynced before the rename, the directory after it (the outbox directory, and the
# --- same rule for the blob store and the Maildir moves) ----------------------------------------------------

@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """What reaches the disk, in order: ("fsync", path of the file or directory), ("replace", src, dest)."""
    events: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        real_replace(src, dst, **kw)
        events.append(("replace", os.path.realpath(src), os.path.realpath(dst)))
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_the_directory_transport_fsyncs_the_file_then_renames_then_fsyncs_the_directory(
        tmp_path: Path, disk: list[tuple[str, ...]]) -> None:
    out = DirTransport(tmp_path / "out")
    outdir = str(out.path.resolve())

    def commit() -> bool:
        disk.append(("commit",))
        return True
    disk.clear()
    out.send(b"Subject: x\r\n\r\nbody\r\n", "bot@example.test", ["a@example.test"], "<x@example.test>", commit)
    dest = str(out.file_for("<x@example.test>").resolve())
    assert [e[0] for e in disk] == ["fsync", "commit", "replace", "fsync"]
    tmp = disk[0][1]
    assert tmp.startswith(outdir + "/.tmp-") and disk[2] == ("replace", tmp, dest) and disk[3] == ("fsync", outdir)


def test_a_directory_that_cannot_be_flushed_leaves_the_mail_uncertain_not_retried(
        embedded: Any, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake_bot import durable

    (row,) = add_rows(embedded)
    out = DirTransport(tmp_path / "out")

    def broken(path: Path) -> None:
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(durable, "fsync_dir", broken)
    assert Dispatcher(embedded.engine, out, SENDER, clock).deliver_pending() == 0
    assert state(embedded, row).state == "uncertain"  # in place, maybe read already: never resent blindly
    assert len(list(out.path.glob("*.eml"))) == 1


def test_blob_store_fsyncs_the_blob_before_its_rename_and_the_directories_after(
        tmp_path: Path, disk: list[tuple[str, ...]]) -> None:
    from intake_bot.store import BlobStore

    blobs = BlobStore(tmp_path / "blobs")
    root = str(blobs.root.resolve())
    disk.clear()
    digest = blobs.put(b"a raw message")
    sub, dest = str(blobs.path(digest).parent.resolve()), str(blobs.path(digest).resolve())
    assert disk[0] == ("fsync", root)  # the new ab/ directory itself
    assert [e[0] for e in disk[1:]] == ["fsync", "replace", "fsync"]
    assert disk[1][1].startswith(sub + "/.tmp-") and disk[2] == ("replace", disk[1][1], dest)
    assert disk[3] == ("fsync", sub)
    disk.clear()
    assert blobs.put(b"a raw message") == digest and disk == []  # already there: nothing written


def test_maildir_moves_fsync_both_directories_after_the_rename(tmp_path: Path, disk: list[tuple[str, ...]]) -> None:
    from intake_bot.mailbox import MaildirBox

    box = MaildirBox(tmp_path / "Maildir")
    box.deliver(b"Subject: x\n\nbody\n")
    (ref,) = box.pending()
    disk.clear()
    box.mark_processed(ref)
    base = box.path.resolve()
    assert [e[0] for e in disk] == ["replace", "fsync", "fsync"]
    assert disk[0][1].startswith(f"{base}/new/") and disk[0][2].startswith(f"{base}/.Processed/cur/")
    assert [e[1] for e in disk[1:]] == [f"{base}/.Processed/cur", f"{base}/new"]
    box.mark_processed(ref)  # already moved: nothing more
    assert len(disk) == 3
