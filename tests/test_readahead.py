"""The read-ahead's two threads (claim, parse) around the consumer: order, overlap, isolation of suspect
messages, stopping early, a failed mailbox. Claim and finish are plain functions here (pure scheduling logic);
the pipeline tests run it against Maildir, Dovecot, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from intake_bot.errors import MailboxError
from intake_bot.mailbox import InboundRef, MailKey
from intake_bot.readahead import Prepared, ReadAhead

AT = datetime(2026, 11, 25, tzinfo=UTC)


def refs(n: int) -> list[InboundRef]:
    return [InboundRef(MailKey("INBOX", 1, str(uid)), 100, AT) for uid in range(1, n + 1)]


class Log:
    """What happened, in order, from every thread."""

    def __init__(self, suspects: frozenset[str] = frozenset(), parse_s: float = 0.0) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.suspects, self.parse_s = suspects, parse_s

    def add(self, what: str, uid: str) -> None:
        with self.lock:
            self.events.append((what, uid))

    def claim(self, ref: InboundRef, isolate):  # type: ignore[no-untyped-def]
        uid = ref.key.uid
        if uid in self.suspects:
            isolate()
        self.add("claimed", uid)
        return Prepared(ref, row_id=int(uid), raw=b"x", suspect=uid in self.suspects)

    def finish(self, item: Prepared) -> Prepared:
        if item.raw is None:  # settled or failed while claimed: nothing to parse (as Pipeline._finish)
            return item
        self.add("parse-start", item.ref.key.uid)
        time.sleep(self.parse_s)
        self.add("parse-end", item.ref.key.uid)
        return Prepared(item.ref, row_id=item.row_id, identity=item.ref.key.uid)

    def index(self, what: str, uid: str) -> int:
        return self.events.index((what, uid))


def consume(log: Log, ahead: ReadAhead, stop_after: int | None = None) -> list[str]:
    seen = []
    for item in ahead:
        log.add("settle-start", item.ref.key.uid)
        time.sleep(0.002)
        seen.append(item.ref.key.uid)
        log.add("settled", item.ref.key.uid)
        if stop_after is not None and len(seen) == stop_after:
            break
    return seen


def test_every_message_comes_out_once_in_inbox_order() -> None:
    log = Log()
    with ReadAhead(log.claim, log.finish, refs(30), depth=2) as ahead:
        assert consume(log, ahead) == [str(u) for u in range(1, 31)]
        assert ahead.unread() == []


def test_the_next_message_is_claimed_while_the_current_one_is_parsed() -> None:
    log = Log(parse_s=0.05)
    with ReadAhead(log.claim, log.finish, refs(5), depth=2) as ahead:
        consume(log, ahead)
    for uid in range(1, 5):
        assert log.index("claimed", str(uid + 1)) < log.index("parse-end", str(uid))


def test_a_suspect_is_claimed_alone() -> None:
    """Claimed once everything before it is settled; nothing after it claimed before it is settled."""
    log = Log(suspects=frozenset({"4"}), parse_s=0.01)
    with ReadAhead(log.claim, log.finish, refs(8), depth=2) as ahead:
        assert consume(log, ahead) == [str(u) for u in range(1, 9)]
    assert all(log.index("settled", str(u)) < log.index("claimed", "4") for u in range(1, 4))
    assert log.index("settled", "4") < log.index("claimed", "5")


def test_stopping_early_leaves_every_other_message_listed_as_unread() -> None:
    log = Log(parse_s=0.01)
    with ReadAhead(log.claim, log.finish, refs(20), depth=2) as ahead:
        seen = consume(log, ahead, stop_after=5)
        left = [r.key.uid for r in ahead.unread()]
    assert seen == ["1", "2", "3", "4", "5"]
    assert left == [str(u) for u in range(6, 21)]  # claimed, parsed or not, then never reached: in order


def test_a_failed_mailbox_stops_claiming_and_reaches_the_consumer() -> None:
    log = Log()

    def claim(ref: InboundRef, isolate):  # type: ignore[no-untyped-def]
        if ref.key.uid == "3":
            return Prepared(ref, error=MailboxError("connection lost"))
        return log.claim(ref, isolate)

    with ReadAhead(claim, log.finish, refs(6), depth=2) as ahead:
        items = list(ahead)
    assert [i.ref.key.uid for i in items] == ["1", "2", "3"]
    assert isinstance(items[-1].error, MailboxError)
    assert ("claimed", "4") not in log.events
