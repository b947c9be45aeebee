"""ImapBox: backoff and URL units with fakes, then behaviour against a real Dovecot on loopback."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from imapclient import IMAPClient

from intake_bot.backoff import Backoff
from intake_bot.errors import ConfigError, MailboxError
from intake_bot.imap import ImapBox
from tests.servers import DovecotServer, MailAccount, make_mail

SEEN = b"\\Seen"


# --- units: no server ---------------------------------------------------------------------------

def test_backoff_is_immediate_then_doubles_up_to_the_cap() -> None:
    high, low = Backoff(base=0.5, cap=4.0, rand=lambda: 1.0), Backoff(base=0.5, cap=4.0, rand=lambda: 0.0)
    assert [high.failed() for _ in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [low.failed() for _ in range(4)] == [0.0, 0.25, 0.5, 1.0]  # jitter keeps at least half
    high.reset()
    assert high.failed() == 0.0


class FakeMonotonic:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []  # type: float, list[float]

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing_factory(exc: BaseException, attempts: list[int]) -> Callable[..., Any]:
    def connect(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        raise exc
    return connect


def fake_box(exc: BaseException, clock: FakeMonotonic, attempts: list[int], **options: Any) -> ImapBox:
    return ImapBox("localhost", 143, ssl=False, starttls=False, username="bot", password="pw",
                   clock=clock, sleep=clock.sleep, rand=lambda: 1.0, max_backoff=8.0,
                   client_factory=failing_factory(exc, attempts), **options)


def test_calls_retry_with_backoff_then_raise_and_the_wait_carries_over() -> None:
    clock, attempts = FakeMonotonic(), []  # type: FakeMonotonic, list[int]
    box = fake_box(ConnectionRefusedError(111, "Connection refused"), clock, attempts, retry_for=10.0)
    with pytest.raises(MailboxError, match="unreachable.*Connection refused"):
        box.pending()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0] and len(attempts) == 6  # then 8 s would end past 10 s
    assert box.health()["connected"] is False and "ConnectionRefusedError" in box.health()["last_error"]
    del clock.sleeps[:]
    with pytest.raises(MailboxError):
        box.pending()
    assert clock.sleeps == [8.0] and len(attempts) == 7  # first waits out the backoff left by the last call


def test_wait_never_raises_it_spends_its_timeout_reconnecting() -> None:
    clock, attempts = FakeMonotonic(), []  # type: FakeMonotonic, list[int]
    box = fake_box(ConnectionResetError(), clock, attempts)
    start = clock.now
    assert box.wait(20.0) is False
    assert clock.now == pytest.approx(start + 20.0) and len(attempts) == 7  # at 0, 0, .5, 1.5, 3.5, 7.5, 15.5 s


def test_untrusted_certificate_and_refused_login_fail_at_once() -> None:
    clock, attempts = FakeMonotonic(), []  # type: FakeMonotonic, list[int]
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    box = fake_box(error, clock, attempts)
    with pytest.raises(MailboxError, match="not trusted \\(self-signed certificate\\).*cafile"):
        box.pending()
    assert len(attempts) == 1 and clock.sleeps == []


def test_from_url_defaults_to_verified_tls() -> None:
    box = ImapBox.from_url("imaps://saisines%40gp.example.test@imap.example.test/Saisines", "pw")
    conn = box.conn
    assert (conn.host, conn.port, conn.ssl, conn.starttls) == ("imap.example.test", 993, True, False)
    assert conn.username == "saisines@gp.example.test" and box.folder == "Saisines"
    assert conn.ssl_context is not None and conn.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert conn.ssl_context.check_hostname and "pw" not in box.name


def test_from_url_options() -> None:
    box = ImapBox.from_url("imap://bot@h:1143?starttls=require&verify=false", None, oauth2_token="tok")
    assert box.conn.starttls and not box.conn.ssl and box.conn.port == 1143 and box.folder == "INBOX"
    assert box.conn.ssl_context is not None and box.conn.ssl_context.verify_mode == ssl.CERT_NONE
    assert box.conn.oauth2_token == "tok"
    plain = ImapBox.from_url("imap://bot@127.0.0.1/INBOX", "pw", processed="Traités", poll_interval=5.0)
    assert plain.conn.ssl_context is None and plain.processed == "Traités" and plain.poll_interval == 5.0
    # another machine: STARTTLS unless the URL says otherwise, since a login carries a password
    remote = ImapBox.from_url("imap://bot@h/INBOX", "pw")
    assert remote.conn.starttls and remote.conn.ssl_context is not None
    allowed = ImapBox.from_url("imap://bot@h/INBOX?starttls=off&cleartext=allow", "pw")
    assert not allowed.conn.starttls and not allowed.conn.ssl


@pytest.mark.parametrize("url, password, message", [
    ("pop3://bot@h/INBOX", "pw", "expected imap"),
    ("imap://h/INBOX", "pw", "expected imap"),
    ("imap://bot@h/INBOX?tls=1", "pw", "unknown option"),
    ("imap://bot@127.0.0.1/INBOX?cafile=/x.pem", "pw", "need imaps"),
    ("imap://bot@h/INBOX?starttls=off", "pw", "refusing to send a password in clear to h"),
    ("imap://bot@192.0.2.1/INBOX?starttls=no", "pw", "refusing to send a password in clear"),
    ("imap://bot@h/INBOX?starttls=off&cleartext=yes", "pw", "expected cleartext=allow"),
    ("imaps://bot@h/INBOX?starttls=require", "pw", "already uses TLS"),
    ("imap://bot@h/INBOX?starttls=maybe", "pw", "yes/no"),
    ("imap://bot@h/INBOX", None, "no password"),
])
def test_from_url_refuses(url: str, password: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ImapBox.from_url(url, password)


def test_idle_must_be_renewed_before_the_29_minute_limit() -> None:
    with pytest.raises(ConfigError, match="idle_renew"):
        ImapBox.from_url("imap://bot@h/INBOX", "pw", idle_renew=30 * 60)


# --- against Dovecot ----------------------------------------------------------------------------

@pytest.fixture
def open_box(imap_account: MailAccount) -> Iterator[Callable[..., ImapBox]]:
    boxes: list[ImapBox] = []

    def make(account: MailAccount = imap_account, **options: Any) -> ImapBox:
        boxes.append(account.box(**options))
        return boxes[-1]
    yield make
    for box in boxes:
        box.close()


@pytest.mark.servers
def test_pending_lists_oldest_first_with_size_and_date_and_fetch_does_not_mark_read(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    t0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    newer, older = make_mail("newer", body="x" * 300_000), make_mail("older")
    imap_account.append(newer, internal_date=t0 + timedelta(hours=1))
    imap_account.append(older, internal_date=t0)
    box = open_box()
    refs = list(box.pending())
    assert [r.size for r in refs] == [len(older), len(newer)]  # known before any download
    assert [r.received_at for r in refs] == [t0, t0 + timedelta(hours=1)]
    assert refs[0].received_at.tzinfo == timezone.utc
    assert refs[0].key.mailbox == box.name and refs[0].key.uidvalidity == imap_account.uidvalidity()
    assert box.fetch(refs[0]) == older and box.fetch(refs[1]) == newer  # byte for byte
    assert all(SEEN not in m[b"FLAGS"] for m in imap_account.messages().values())


@pytest.mark.servers
def test_mail_already_read_by_another_client_is_still_pending(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    uid = imap_account.append(make_mail("lu par un agent"))
    with imap_account.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uid], [SEEN])
    assert [r.key.uid for r in open_box().pending()] == [str(uid)]


@pytest.mark.parametrize("use_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
@pytest.mark.servers
def test_processed_and_quarantined_mail_is_moved_into_created_folders(
        imap_account: MailAccount, open_box: Callable[..., ImapBox], use_move: bool) -> None:
    raws = [make_mail(f"m{i}") for i in range(3)]
    imap_account.append_many(raws)
    box = open_box(processed="Traités/2026", quarantine="Quarantaine", use_move=use_move)
    first, second, third = box.pending()
    box.mark_processed(first)
    box.quarantine(second)
    box.mark_processed(first)  # idempotent: already gone
    assert [m[b"BODY[]"] for m in imap_account.messages("Traités/2026").values()] == [raws[0]]
    assert [m[b"BODY[]"] for m in imap_account.messages("Quarantaine").values()] == [raws[1]]
    assert imap_account.uids() == [int(third.key.uid)]  # nothing left flagged \Deleted in the INBOX
    assert [r.key for r in box.pending()] == [third.key]


@pytest.mark.servers
def test_fetch_of_a_message_gone_meanwhile_is_a_mailbox_error(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    imap_account.append(make_mail())
    box = open_box()
    (ref,) = box.pending()
    with imap_account.client() as other:
        other.select_folder("INBOX")
        other.delete_messages([int(ref.key.uid)])
        other.expunge()
    with pytest.raises(MailboxError, match="no longer in"):
        box.fetch(ref)


def deliver_later(account: MailAccount, raw: bytes, delay: float) -> threading.Thread:
    def deliver() -> None:
        time.sleep(delay)
        account.deliver_lmtp(raw)
    thread = threading.Thread(target=deliver)
    thread.start()
    return thread


@pytest.mark.servers
def test_idle_wakes_wait_within_a_second_of_an_lmtp_delivery(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    box = open_box()
    assert list(box.pending()) == []
    assert box.wait(0.3) is False  # nothing arrives: a quiet timeout
    sender = deliver_later(imap_account, make_mail("urgent"), 0.3)
    start = time.monotonic()
    assert box.wait(10) is True
    woke_after = time.monotonic() - start
    sender.join()
    assert woke_after < 1.5, f"IDLE woke after {woke_after:.2f} s"
    assert len(list(box.pending())) == 1


@pytest.mark.servers
def test_mail_arriving_between_pending_and_wait_is_not_missed(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    box = open_box()
    list(box.pending())
    imap_account.deliver_lmtp(make_mail())
    assert box.wait(5) is True and box.health()["idle"] is False


@pytest.mark.servers
def test_polling_without_idle(imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    box = open_box(use_idle=False, poll_interval=0.2)
    list(box.pending())
    sender = deliver_later(imap_account, make_mail(), 0.2)
    assert box.wait(5) is True
    sender.join()


class CountingClient(IMAPClient):  # type: ignore[misc]  # imapclient ships no type hints
    """The real client, counting IDLE commands and their DONE."""

    idles = dones = 0

    def idle(self) -> None:
        CountingClient.idles += 1
        super().idle()

    def idle_done(self) -> Any:
        CountingClient.dones += 1
        return super().idle_done()


@pytest.mark.servers
def test_idle_is_renewed_every_idle_renew_seconds_and_always_ended(
        open_box: Callable[..., ImapBox]) -> None:
    CountingClient.idles = CountingClient.dones = 0
    box = open_box(idle_renew=0.2, client_factory=CountingClient)
    list(box.pending())
    assert box.wait(1.0) is False
    assert CountingClient.idles >= 4 and CountingClient.dones == CountingClient.idles
    assert box.health()["connected"] and not box.health()["idle"]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.mark.servers
def test_dovecot_restarted_under_an_idling_box(
        dovecot: DovecotServer, imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    box = open_box()
    list(box.pending())
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(box.wait(30)))
    waiter.start()
    wait_until(lambda: box.health()["idle"])
    dovecot.stop()
    dovecot.start()
    raw = make_mail("après redémarrage")
    imap_account.deliver_lmtp(raw)
    waiter.join(30)
    assert woke == [True]
    (ref,) = box.pending()
    assert box.fetch(ref).endswith(raw)  # after the Return-Path/Delivered-To/Received LMTP adds
    assert box.health()["connected"] and box.health()["last_error"]


@pytest.mark.servers
def test_session_killed_between_calls_is_reopened_transparently(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    imap_account.append(make_mail())
    box = open_box()
    assert len(list(box.pending())) == 1
    imap_account.kick()
    time.sleep(0.2)
    assert len(list(box.pending())) == 1


@pytest.mark.servers
def test_uidvalidity_change_gives_new_keys_and_stale_refs_are_not_touched(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    imap_account.append(make_mail())
    box = open_box()
    (old,) = box.pending()
    new_validity = imap_account.recreate_inbox()
    (new,) = box.pending()
    assert new.key.uidvalidity == new_validity != old.key.uidvalidity
    assert new.key != old.key
    box.mark_processed(old)  # its UID means nothing now: left alone, listed again under the new key
    assert [r.key for r in box.pending()] == [new.key]
    with pytest.raises(MailboxError, match="UIDVALIDITY"):
        box.fetch(old)


@pytest.mark.servers
def test_imaps_and_starttls_with_the_test_ca(dovecot: DovecotServer, imap_account: MailAccount) -> None:
    raw = make_mail("tls")
    imap_account.append(raw)
    for url in (f"{imap_account.url(tls=True)}?cafile={dovecot.cafile}",
                f"{imap_account.url()}?starttls=require&cafile={dovecot.cafile}",
                f"{imap_account.url(tls=True)}?verify=false"):
        box = ImapBox.from_url(url, imap_account.password, timeout=10.0)
        try:
            assert [box.fetch(r) for r in box.pending()] == [raw], url
        finally:
            box.close()


@pytest.mark.servers
def test_self_signed_certificate_is_refused_by_default(imap_account: MailAccount) -> None:
    box = ImapBox.from_url(imap_account.url(tls=True), imap_account.password, timeout=10.0)
    start = time.monotonic()
    with pytest.raises(MailboxError, match="certificate of 127.0.0.1 not trusted"):
        box.pending()
    assert time.monotonic() - start < 2  # a configuration error: no retries within the call
    assert box.health()["connected"] is False


@pytest.mark.servers
def test_xoauth2_login(dovecot: DovecotServer, imap_account: MailAccount) -> None:
    # Dovecot's xoauth2 mechanism checks the bearer token against the passdb: the password is the token
    box = ImapBox.from_url(imap_account.url(), None, oauth2_token=imap_account.password, timeout=10.0)
    try:
        assert list(box.pending()) == []
    finally:
        box.close()
    assert f"user=<{imap_account.user}>, method=XOAUTH2" in dovecot.log.read_text()


@pytest.mark.servers
def test_wrong_password_fails_at_once(imap_account: MailAccount) -> None:
    box = ImapBox.from_url(imap_account.url(), "wrong", timeout=10.0)
    with pytest.raises(MailboxError, match="login refused"):
        box.pending()


@pytest.mark.servers
def test_unreachable_server_raises_after_retry_for(imap_account: MailAccount) -> None:
    from tests.servers import free_port
    box = ImapBox("127.0.0.1", free_port(), ssl=False, starttls=False, username="u", password="p",
                  retry_for=1.0, timeout=2.0)
    start = time.monotonic()
    with pytest.raises(MailboxError, match="unreachable"):
        box.pending()
    assert time.monotonic() - start < 2.5


# --- a message already gone when it is to be moved -----------------------------------------------

class RecordingClient(IMAPClient):  # type: ignore[misc]  # imapclient ships no type hints
    """The real client, keeping what the server answered NO to (a MOVE or COPY of a message gone meanwhile)."""

    refusals: ClassVar[list[str]] = []

    def move(self, messages: Any, folder: str) -> Any:
        return self._recorded(super().move, messages, folder)

    def copy(self, messages: Any, folder: str) -> Any:
        return self._recorded(super().copy, messages, folder)

    def _recorded(self, command: Callable[..., Any], *args: Any) -> Any:
        try:
            return command(*args)
        except IMAPClient.Error as exc:
            RecordingClient.refusals.append(str(exc))
            raise


@pytest.mark.parametrize("taken_by", ["expunge", "move"])
@pytest.mark.parametrize("use_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
@pytest.mark.servers
def test_a_message_moved_or_expunged_by_another_session_counts_as_moved(
        imap_account: MailAccount, open_box: Callable[..., ImapBox], caplog: pytest.LogCaptureFixture,
        use_move: bool, taken_by: str) -> None:
    raws = [make_mail(f"m{i}") for i in range(3)]
    imap_account.append_many(raws)
    RecordingClient.refusals = []
    box = open_box(use_move=use_move, client_factory=RecordingClient)
    first, second, third = box.pending()
    box.mark_processed(first)  # the Processed folder exists now: the next move goes straight to MOVE/COPY
    with imap_account.client() as other:  # another instance got to the second message first
        other.select_folder("INBOX")
        if taken_by == "move":
            other.move([int(second.key.uid)], "Processed")
        else:
            other.delete_messages([int(second.key.uid)])
            other.expunge()
    caplog.set_level(logging.INFO, logger="intake_bot.imap")
    box.mark_processed(second)  # the box's session still lists it: Dovecot answers NO [EXPUNGEISSUED]
    assert len(RecordingClient.refusals) == 1 and "EXPUNGEISSUED" in RecordingClient.refusals[0]
    assert box.health()["last_error"] is None  # no reconnection, no retry: done
    assert any("no longer in" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    box.mark_processed(second)  # again, now that the session knows: OK from the server, still nothing moved
    box.mark_processed(third)  # and the box goes on with the next message
    in_processed = [m[b"BODY[]"] for m in imap_account.messages("Processed").values()]
    assert sorted(in_processed) == sorted([raws[0], raws[2]] + ([raws[1]] if taken_by == "move" else []))
    assert imap_account.uids() == [] and box.health()["last_error"] is None


class RefusingMoves(IMAPClient):  # type: ignore[misc]  # imapclient ships no type hints
    """A server refusing every MOVE for a reason of its own (over quota, say), the message still there."""

    def move(self, messages: Any, folder: str) -> Any:
        raise IMAPClient.Error("move failed: [OVERQUOTA] Quota exceeded (mailbox for user is full)")


@pytest.mark.servers
def test_a_refused_move_of_a_message_still_there_is_still_a_mailbox_error(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    imap_account.append(make_mail())
    box = open_box(client_factory=RefusingMoves, retry_for=0.5)
    (ref,) = box.pending()
    with pytest.raises(MailboxError, match="OVERQUOTA"):
        box.mark_processed(ref)
    assert imap_account.uids() == [int(ref.key.uid)] and imap_account.uids("Processed") == []


# --- close() while another thread waits -------------------------------------------------------------

@pytest.mark.parametrize("use_idle", [True, False], ids=["IDLE", "polling"])
@pytest.mark.servers
def test_close_from_another_thread_ends_a_long_wait_at_once(
        imap_account: MailAccount, open_box: Callable[..., ImapBox], caplog: pytest.LogCaptureFixture,
        use_idle: bool) -> None:
    box = open_box(use_idle=use_idle, poll_interval=60.0, timeout=40.0)  # a LOGOUT would hang until the IDLE ends
    list(box.pending())
    outcome: list[object] = []

    def waiter() -> None:
        try:
            outcome.append(box.wait(60))
        except BaseException as exc:  # noqa: BLE001 - the test wants to see anything it raises
            outcome.append(exc)
    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: box.conn.waiter is not None and (box.health()["idle"] or not use_idle))
    time.sleep(0.2)  # well inside idle_check, or the poll's sleep
    start = time.monotonic()
    box.close()
    closed_after = time.monotonic() - start
    thread.join(5)
    assert not thread.is_alive() and outcome == [False]  # returned, quietly, nothing raised
    assert closed_after < 5, f"close() took {closed_after:.1f} s"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    health = box.health()
    assert not health["connected"] and not health["idle"] and health["last_error"] is None
    imap_account.append(make_mail())
    assert len(list(box.pending())) == 1  # a closed box opens a new session when used again


class Interrupted(BaseException):
    """What the daemon's SIGTERM handler raises in the middle of an IDLE."""


class InterruptedInIdle(IMAPClient):  # type: ignore[misc]  # imapclient ships no type hints
    def idle_check(self, timeout: float | None = None) -> Any:
        raise Interrupted()


@pytest.mark.servers
def test_close_after_an_idle_cut_short_does_not_wait_for_the_server(
        imap_account: MailAccount, open_box: Callable[..., ImapBox]) -> None:
    box = open_box(client_factory=InterruptedInIdle, timeout=20.0)
    list(box.pending())
    with pytest.raises(Interrupted):
        box.wait(60)  # IDLE sent, never ended by DONE
    start = time.monotonic()
    box.close()
    assert time.monotonic() - start < 5  # a LOGOUT would go unanswered for the 20 s read timeout
    assert not box.health()["connected"]
