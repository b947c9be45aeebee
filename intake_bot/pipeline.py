"""The intake loop: read a message, store it, parse, decide, commit, queue mail, deliver, then move it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from . import decision, repository
from .apply import Applier
from .mailbox import InboundRef, Mailbox
from .model import ParsedMessage
from .outbox import Dispatcher
from .parsing import parse_message
from .store import BlobStore, session
from .tables import InboundRow

log = logging.getLogger("intake_bot.pipeline")
FINAL = {"processed": "processed", "duplicate": "processed", "ignored": "processed", "quarantined": "quarantined"}


@dataclass
class Counts:
    processed: int = 0
    quarantined: int = 0
    ignored: int = 0
    duplicates: int = 0
    failed: int = 0


def message_identity(raw: bytes, message_id: str | None) -> str:
    """Message-ID + digest of the content below the header block: the same mail re-delivered (with new
    Received / Delivered-To headers) or copied keeps its identity; a message without Message-ID uses its bytes."""
    head_end = raw.find(b"\r\n\r\n")
    head_end = raw.find(b"\n\n") if head_end < 0 else head_end
    body = raw[head_end:] if head_end >= 0 and message_id else raw
    return hashlib.sha256((message_id or "").encode() + b"\0" + body).hexdigest()


class Pipeline:
    """One pass over the inbox; each message is its own unit of work and one failure never stops the batch."""

    def __init__(self, engine: Engine, mailbox: Mailbox, blobs: BlobStore, applier: Applier, dispatcher: Dispatcher,
                 clock: Callable[[], datetime], *, max_message_bytes: int, max_retries: int = 3,
                 tz: str = "Europe/Paris") -> None:
        self.engine, self.mailbox, self.blobs, self.applier = engine, mailbox, blobs, applier
        self.dispatcher, self.clock = dispatcher, clock
        self.max_message_bytes, self.max_retries, self.tz = max_message_bytes, max_retries, ZoneInfo(tz)
        self.limits = applier.limits

    def received_on(self, ref: InboundRef) -> date:
        """R of the deadline rule: the Paris date of the server's receipt time, never the Date header."""
        return ref.received_at.astimezone(self.tz).date()

    def run_once(self) -> Counts:
        counts = Counts()
        self.dispatcher.recover()
        self.dispatcher.deliver_pending()  # what a previous run committed but did not send
        for ref in self.mailbox.pending():
            outcome = self.handle(ref)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    def handle(self, ref: InboundRef) -> str:
        """Process one message; return the Counts field it adds to. Only the loop edge catches everything."""
        try:
            status = self._process(ref)
        except Exception as exc:  # noqa: BLE001 - the loop edge: record, cap retries, carry on
            log.exception("message %s failed", ref.key)
            status = self._record_failure(ref, exc)
        if status in FINAL:
            self.dispatcher.deliver_pending()
            move = self.mailbox.quarantine if FINAL[status] == "quarantined" else self.mailbox.mark_processed
            move(ref)
        return {"processed": "processed", "duplicate": "duplicates", "ignored": "ignored",
                "quarantined": "quarantined"}.get(status, "failed")

    def _attempt(self, ref: InboundRef) -> InboundRow:
        """Find or create the row for this location and count one more attempt (committed before the work,
        so a message that crashes the process is capped too)."""
        k = ref.key
        with session(self.engine) as s:
            row = repository.inbound_at(s, k.mailbox, k.uidvalidity, k.uid)
            if row is None:
                row = InboundRow(mailbox=k.mailbox, uidvalidity=k.uidvalidity, uid=k.uid, size=ref.size,
                                 received_at=ref.received_at, status="new")
            if row.status not in FINAL:
                row.attempts += 1
            s.add(row)
        return row

    def _process(self, ref: InboundRef) -> str:
        row = self._attempt(ref)
        if row.status in FINAL:
            return row.status  # committed by an earlier run that stopped before moving the message
        if ref.size > self.max_message_bytes:
            reason = f"message de {ref.size} octets, au-delà de la limite de {self.max_message_bytes} octets"
            return self.applier.quarantine_unread(row.id, ref, "message-too-large", reason)
        if row.attempts > self.max_retries:
            return self.applier.quarantine_unread(row.id, ref, "too-many-attempts",
                                                  f"échec du traitement après {self.max_retries} tentatives : {row.last_error}")
        raw = self.mailbox.fetch(ref)
        digest = self.blobs.put(raw)  # stored before anything is decided (DESIGN §7.1)
        parsed = parse_message(raw, self.limits)
        identity = message_identity(raw, parsed.message_id)
        with session(self.engine) as s:
            twin = repository.same_message(s, identity, digest)
            if twin is not None:
                return self.applier.duplicate(s, row.id, twin, parsed, digest, identity)
            ctx = self.applier.context(s, parsed)
            verdict = decision.decide(parsed, ctx)
            log.info("message %s from %s: %s (%s)", parsed.message_id, parsed.from_addr, verdict.route.value, verdict.rule)
            return self.applier.apply(s, row.id, verdict, parsed, digest=digest, identity=identity,
                                      received_at=ref.received_at, received_on=self.received_on(ref))

    def _record_failure(self, ref: InboundRef, exc: Exception) -> str:
        k = ref.key
        with Session(self.engine) as s:
            row = repository.inbound_at(s, k.mailbox, k.uidvalidity, k.uid)
            if row is None:
                return "failed"
            row.status, row.last_error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
            s.add(row)
            s.commit()
            attempts, row_id = row.attempts, row.id
        if attempts >= self.max_retries:
            return self.applier.quarantine_unread(row_id, ref, "processing-error",
                                                  f"erreur de traitement répétée : {type(exc).__name__}")
        return "failed"


def inspect_message(raw: bytes, applier: Applier) -> dict[str, object]:
    """Analysis only, no DB and no mail: what the bot would decide and why (DESIGN §8)."""
    parsed: ParsedMessage = parse_message(raw, applier.limits)
    return applier.analysis(parsed)
