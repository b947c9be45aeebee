"""The intake loop: list the inbox, read ahead, decide and commit each message, deliver its mail, then move it."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from . import decision, repository
from .apply import Applier
from .errors import MailboxError
from .mailbox import InboundRef, Mailbox
from .model import ParsedMessage
from .outbox import Dispatcher
from .parsing import parse_message
from .readahead import Prepared, ReadAhead
from .store import BlobStore, session
from .tables import InboundRow

log = logging.getLogger("intake_bot.pipeline")
FINAL = {"processed": "processed", "duplicate": "processed", "ignored": "processed", "quarantined": "quarantined"}
OUTCOME = {"processed": "processed", "duplicate": "duplicates", "ignored": "ignored", "quarantined": "quarantined"}


@dataclass
class Counts:
    processed: int = 0
    quarantined: int = 0
    ignored: int = 0
    duplicates: int = 0
    failed: int = 0


@dataclass
class Pass:
    """What the last pass over the inbox saw, for ``intake-bot status``."""

    listed_at: datetime
    listed: int
    left: list[InboundRef] = field(default_factory=list)  # still in the inbox after the pass (failed, or new)


def message_identity(raw: bytes, message_id: str | None) -> str:
    """Message-ID + digest of the content below the header block: the same mail re-delivered (with new
    Received / Delivered-To headers) or copied keeps its identity; a message without Message-ID uses its bytes."""
    head_end = raw.find(b"\r\n\r\n")
    head_end = raw.find(b"\n\n") if head_end < 0 else head_end
    body = raw[head_end:] if head_end >= 0 and message_id else raw
    return hashlib.sha256((message_id or "").encode() + b"\0" + body).hexdigest()


class Pipeline:
    """One pass over the inbox; each message is its own unit of work and one failure never stops the batch.

    Two reader threads (``ReadAhead``) claim (fetch, count the attempt, store) and parse the next messages while
    this thread decides, commits, delivers and moves the current one; parsing happens in the extraction
    worker, another process, so the three overlap. The mailbox is used by one thread at a time (``_io``)."""

    def __init__(self, engine: Engine, mailbox: Mailbox, blobs: BlobStore, applier: Applier, dispatcher: Dispatcher,
                 clock: Callable[[], datetime], *, max_message_bytes: int, max_retries: int = 3,
                 tz: str = "Europe/Paris", read_ahead: int = 2) -> None:
        self.engine, self.mailbox, self.blobs, self.applier = engine, mailbox, blobs, applier
        self.dispatcher, self.clock = dispatcher, clock
        self.max_message_bytes, self.max_retries, self.tz = max_message_bytes, max_retries, ZoneInfo(tz)
        self.limits, self.read_ahead = applier.limits, read_ahead
        self.last_pass: Pass | None = None
        self._io = threading.Lock()

    def received_on(self, ref: InboundRef) -> date:
        """R of the deadline rule: the Paris date of the server's receipt time, never the Date header."""
        return ref.received_at.astimezone(self.tz).date()

    def run_once(self, stop: threading.Event | None = None) -> Counts:
        """Deliver what waits in the outbox, then process every message of the inbox, oldest first.
        Raises MailboxError when the mailbox fails (the daemon retries); ``stop`` ends the pass early."""
        counts = Counts()
        self.dispatcher.recover()
        try:  # one outgoing connection serves the whole pass
            self.dispatcher.deliver_pending(keep_open=True)  # what a previous run committed but did not send
            with self._io:
                refs = list(self.mailbox.pending())
            current = Pass(self.clock(), len(refs))
            with ReadAhead(self._claim, self._finish, refs, self.read_ahead) as ahead:
                for item in ahead:
                    outcome = self._settle(item)
                    setattr(counts, outcome, getattr(counts, outcome) + 1)
                    if outcome == "failed":
                        current.left.append(item.ref)
                    if stop is not None and stop.is_set():
                        break
                current.left += ahead.unread()
        finally:
            self.dispatcher.close()
        self.last_pass = current
        return counts

    def handle(self, ref: InboundRef) -> str:
        """Process one message on its own; return the Counts field it adds to."""
        try:
            return self._settle(self._finish(self._claim(ref, lambda: None)))
        finally:
            self.dispatcher.close()

    # -- the reading half (reader threads) -------------------------------------------------------------------
    def _claim(self, ref: InboundRef, isolate: Callable[[], None]) -> Prepared:
        """Look the message up, fetch it, count the attempt and store it (short I/O, done while the decider waits)."""
        try:
            return self._fetch(ref, isolate)
        except Exception as exc:  # noqa: BLE001 - the loop edge of the reader: handed to _settle with the message
            return Prepared(ref, error=exc)

    def _finish(self, item: Prepared) -> Prepared:
        """Parse a claimed message (the long part, mostly in the extraction worker)."""
        if item.raw is None:
            return item
        try:
            parsed = parse_message(item.raw, self.limits)
            identity = message_identity(item.raw, parsed.message_id)
        except Exception as exc:  # noqa: BLE001 - as in _claim
            return Prepared(item.ref, error=exc)
        return replace(item, raw=None, parsed=parsed, identity=identity)

    def _fetch(self, ref: InboundRef, isolate: Callable[[], None]) -> Prepared:
        """The claim itself: settled already, too large, too many attempts, or fetched, counted and stored."""
        k = ref.key
        with Session(self.engine) as s:
            row = repository.inbound_at(s, k.mailbox, k.uidvalidity, k.uid)
            status, tried, last_error = (row.status, row.attempts, row.last_error) if row is not None \
                else ("new", 0, "")
        if tried and status not in FINAL:
            isolate()
        if status in FINAL:
            return Prepared(ref, status=status)  # committed by an earlier run that stopped before moving it
        if ref.size > self.max_message_bytes:  # decided on RFC822.SIZE: the body is never downloaded
            reason = f"message de {ref.size} octets, au-delà de la limite de {self.max_message_bytes} octets"
            row_id, _ = self._attempt(ref)
            return Prepared(ref, status=self.applier.quarantine_unread(row_id, ref, "message-too-large", reason))
        with self._io:
            raw = self.mailbox.fetch(ref)  # a MailboxError here is no attempt: the mailbox failed, not the message
        row_id, attempts = self._attempt(ref)  # counted before the work: a crash of the process counts too
        if attempts > self.max_retries:
            reason = f"échec du traitement après {self.max_retries} tentatives : {last_error or 'arrêt brutal'}"
            return Prepared(ref, status=self.applier.quarantine_unread(row_id, ref, "too-many-attempts", reason))
        digest = self.blobs.put(raw)  # stored before anything is decided (DESIGN §7.1)
        return Prepared(ref, row_id=row_id, raw=raw, digest=digest, suspect=tried > 0)

    def _attempt(self, ref: InboundRef) -> tuple[int, int]:
        """Count one more attempt on the row of this location, created if new, committed before the work:
        (row id, attempts so far). One upsert: two instances reaching a new message together both count."""
        k = ref.key
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(InboundRow).values(mailbox=k.mailbox, uidvalidity=k.uidvalidity, uid=k.uid, size=ref.size,
                                         received_at=ref.received_at, status="new", attempts=1)
        stmt = stmt.on_conflict_do_update(index_elements=["mailbox", "uidvalidity", "uid"],  # type: ignore[union-attr]
                                          set_={"attempts": InboundRow.attempts + 1})
        with self.engine.begin() as conn:
            row_id, attempts = conn.execute(stmt.returning(InboundRow.id, InboundRow.attempts)).one()  # type: ignore[call-overload]
        return row_id, attempts

    # -- the deciding half (this thread) ---------------------------------------------------------------------
    def _settle(self, item: Prepared) -> str:
        """Decide and commit one prepared message, deliver its mail, move it; return the Counts field."""
        try:
            if item.error is not None:
                raise item.error
            status = item.status or self._decide(item)
        except MailboxError:
            raise  # the mailbox, not the message: the daemon waits and lists again, no attempt is lost
        except Exception as exc:  # noqa: BLE001 - the loop edge: record, cap retries, carry on
            log.exception("message %s failed", item.ref.key)
            status = self._record_failure(item.ref, exc)
        if status in FINAL:
            self.dispatcher.deliver_pending(keep_open=True)  # run_once closes the connection at the end of the pass
            with self._io:
                if FINAL[status] == "quarantined":
                    self.mailbox.quarantine(item.ref)
                else:
                    self.mailbox.mark_processed(item.ref)
        return OUTCOME.get(status, "failed")

    def _decide(self, item: Prepared) -> str:
        parsed, ref = item.parsed, item.ref
        assert parsed is not None and item.row_id is not None
        with session(self.engine) as s:
            _one_at_a_time(s, item.identity)
            row = s.get(InboundRow, item.row_id)
            if row is not None and row.status in FINAL:
                return row.status  # another instance settled it while we were reading it
            twin = repository.same_message(s, item.identity, item.digest)
            if twin is not None:
                return self.applier.duplicate(s, item.row_id, twin, parsed, item.digest, item.identity)
            verdict = decision.decide(parsed, self.applier.context(s, parsed))
            log.info("message %s from %s: %s (%s)", parsed.message_id, parsed.from_addr, verdict.route.value,
                     verdict.rule)
            return self.applier.apply(s, item.row_id, verdict, parsed, digest=item.digest, identity=item.identity,
                                      received_at=ref.received_at, received_on=self.received_on(ref))

    def _record_failure(self, ref: InboundRef, exc: Exception) -> str:
        k = ref.key
        with session(self.engine) as s:
            row = repository.inbound_at(s, k.mailbox, k.uidvalidity, k.uid)
            if row is None:
                return "failed"
            if row.status in FINAL:
                return row.status  # settled by another instance meanwhile: its outcome stands
            row.status, row.last_error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
            s.add(row)
            attempts, row_id = row.attempts, row.id
        if attempts >= self.max_retries:
            return self.applier.quarantine_unread(row_id, ref, "processing-error",  # type: ignore[arg-type]
                                                  f"erreur de traitement répétée : {type(exc).__name__}")
        return "failed"


def _id(row: InboundRow) -> int:
    assert row.id is not None  # a committed row
    return row.id


def _one_at_a_time(s: Session, identity: str) -> None:
    """Several instances on one PostgreSQL database: one decides a given mail at a time, whichever copy or
    location it came from; the lock ends with the transaction. SQLite serves one instance."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:identity, 0))"), {"identity": identity})


def inspect_message(raw: bytes, applier: Applier) -> dict[str, object]:
    """Analysis only, no DB and no mail: what the bot would decide and why (DESIGN §8)."""
    parsed: ParsedMessage = parse_message(raw, applier.limits)
    return applier.analysis(parsed)
