"""The outbox: mail is queued in the state change's transaction, then delivered at least once, never twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from .cases import MailSpec
from .errors import TransportError, UsageError
from .render import Renderer
from .tables import OutboxRecipientRow, OutboxRow
from .transport import DeliveryUncertain, SendAborted, Transport

log = logging.getLogger("intake_bot.outbox")


@dataclass(frozen=True)
class Sender:
    """Who the bot writes as, and the per-recipient daily cap on automatic mail (DESIGN §7.6)."""

    address: str
    name: str
    daily_cap: int = 20

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1]

    def header(self) -> Address:
        user, _, domain = self.address.partition("@")
        return Address(self.name, user, domain)


def _sent_today(s: Session, recipient: str, now: datetime) -> int:
    """Mail queued to ``recipient`` in the last 24 hours (an index range: cheap however full the outbox)."""
    return s.execute(select(func.count()).select_from(OutboxRecipientRow).where(
        OutboxRecipientRow.address == recipient.lower(),
        OutboxRecipientRow.created_at >= now - timedelta(days=1))).scalar_one()


def queue(s: Session, renderer: Renderer, sender: Sender, spec: MailSpec, *, case_id: int | None, now: datetime,
          in_reply_to: str | None = None, references: list[str] | None = None) -> OutboxRow | None:
    """Render and queue one mail in the caller's transaction; None if already queued or capped."""
    if s.execute(select(OutboxRow.id).where(OutboxRow.dedupe_key == spec.key)).first():
        return None
    to = [r for r in spec.to if _sent_today(s, r, now) < sender.daily_cap]
    if not to:
        log.warning("daily cap reached for %s, %s not queued", spec.to, spec.key)
        return None
    msg: EmailMessage = renderer.message(spec.template, spec.context, sender=sender.header(), to=to,
                                         domain=sender.domain, now=now, auto_submitted=spec.auto_submitted,
                                         in_reply_to=in_reply_to if spec.reply else None, references=references)
    row = OutboxRow(dedupe_key=spec.key, case_id=case_id, template=spec.template, recipients=to,
                    subject=str(msg["Subject"]), message_id=str(msg["Message-ID"]), raw=msg.as_bytes(policy=SMTP),
                    created_at=now)
    s.add(row)
    s.flush()  # its id, for the recipients' rows
    s.add_all(OutboxRecipientRow(outbox_id=row.id, address=r.lower(), created_at=now) for r in to)
    return row


@dataclass(frozen=True)
class _Mail:
    row_id: int
    raw: bytes
    recipients: list[str]
    message_id: str
    attempts: int


class Dispatcher:
    """Delivers pending rows: pending -> sending -> committing -> sent, each step committed.

    A row is claimed ('sending') before the transport is called. The transport hands over the whole message
    but its end, then calls back: the row is committed 'committing' (if this sender still holds it), then the
    end goes out (SMTP's final dot, the directory's rename) and the verdict is committed. A row found 'sending'
    after a crash was certainly not delivered and goes back to 'pending'; one found 'committing' may have been,
    so it becomes 'uncertain' (DESIGN §7.2): never resent blindly, listed by ``intake-bot status`` and
    ``intake-bot outbox list`` for a human, who resends it or marks it sent.
    """

    def __init__(self, engine: Engine, transport: Transport, sender: Sender, clock: Callable[[], datetime],
                 max_attempts: int = 8, lease: timedelta = timedelta(minutes=10)) -> None:
        self.engine, self.transport, self.sender, self.clock = engine, transport, sender, clock
        self.max_attempts, self.lease = max_attempts, lease

    def recover(self, every_claim: bool = False) -> int:
        """Settle the rows whose sender died, past the lease or all of them at a process start (``every_claim``):
        'sending' -> 'pending' (cut before its end: not delivered), 'committing' -> 'uncertain'. With several
        instances, a row another one is sending right now may be caught too: a 'sending' one then fails that
        sender's commit (it cuts the message short), a 'committing' one is set by it to its real outcome.
        Returns how many rows were flagged uncertain."""
        stale = [] if every_claim else [OutboxRow.claimed_at < self.clock() - self.lease]  # type: ignore[operator]
        with Session(self.engine) as s:
            back = s.execute(update(OutboxRow).where(OutboxRow.state == "sending", *stale)
                             .values(state="pending", last_error="interrupted before the end of the message"))
            flagged = s.execute(update(OutboxRow).where(OutboxRow.state == "committing", *stale)
                                .values(state="uncertain", last_error="interrupted after the end of the message"))
            s.commit()
        if back.rowcount:
            log.warning("%d outgoing mail(s) interrupted before their end: pending again", back.rowcount)
        if flagged.rowcount:
            log.warning("%d outgoing mail(s) flagged uncertain after an interrupted send", flagged.rowcount)
        return int(flagged.rowcount)

    def deliver_pending(self, limit: int = 100, keep_open: bool = False) -> int:
        """Send what is pending; return how many were accepted by the transport. The transport's connection
        serves every mail of the call, and outlives it with ``keep_open`` (a pass over the inbox delivers after
        each message, then calls ``close``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(OutboxRow.id, OutboxRow.raw, OutboxRow.recipients, OutboxRow.message_id,
                                       OutboxRow.attempts).where(OutboxRow.state == "pending")
                                .order_by(OutboxRow.id).limit(limit)).all()
        try:
            return sum(self._deliver(_Mail(r.id, r.raw, list(r.recipients), r.message_id, r.attempts + 1))
                       for r in rows)
        finally:
            if not keep_open and rows:
                self.close()

    def close(self) -> None:
        """Release the transport's connection, if it keeps one."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def _claim(self, mail: _Mail) -> bool:
        """pending -> sending, only if still pending with the attempts we read (another sender did not take it)."""
        with self.engine.begin() as conn:
            res = conn.execute(update(OutboxRow).where(OutboxRow.id == mail.row_id, OutboxRow.state == "pending",
                                                       OutboxRow.attempts == mail.attempts - 1)
                               .values(state="sending", claimed_at=self.clock(), attempts=mail.attempts))
            return res.rowcount == 1

    def _move(self, mail: _Mail, sources: tuple[str, ...], **values: object) -> bool:
        """Update the row if it is still this attempt's and in one of ``sources``; whether it was."""
        with self.engine.begin() as conn:
            res = conn.execute(update(OutboxRow).where(OutboxRow.id == mail.row_id, OutboxRow.state.in_(sources),
                                                       OutboxRow.attempts == mail.attempts).values(**values))
            return res.rowcount == 1

    def _deliver(self, mail: _Mail) -> bool:
        if not self._claim(mail):
            return False  # another sender took it
        if mail.attempts > self.max_attempts:  # interrupted again and again (recovered 'sending' rows)
            self._move(mail, ("sending",), state="failed", last_error="too many interrupted attempts")
            return False
        try:
            self.transport.send(mail.raw, self.sender.address, mail.recipients, mail.message_id,
                                commit=lambda: self._move(mail, ("sending",), state="committing"))
        except SendAborted as exc:
            log.warning("%s", exc)
            return False
        except DeliveryUncertain as exc:
            log.error("delivery of %s uncertain, never resent blindly: %s", mail.message_id, exc)
            self._move(mail, ("committing",), state="uncertain", last_error=str(exc)[:500])
            return False
        except TransportError as exc:  # the transport's contract: certainly not accepted, so retrying is safe
            state = "failed" if mail.attempts >= self.max_attempts else "pending"
            log.warning("delivery of %s failed (attempt %d): %s", mail.message_id, mail.attempts, exc)
            self._move(mail, ("sending", "committing", "uncertain"), state=state, last_error=str(exc)[:500])
            return False
        self._move(mail, ("committing", "uncertain"), state="sent", sent_at=self.clock(), last_error="")
        log.info("sent %s to %s", mail.message_id, ", ".join(mail.recipients))
        return True

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            rows = s.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all()
        return {state: n for state, n in rows}

    def uncertain(self, limit: int = 50) -> list[dict[str, object]]:
        """Mail that may or may not have left: what a human must check (and resend or not)."""
        return [{k: r[k] for k in ("id", "subject", "to", "message_id", "claimed_at")}
                for r in self.rows("uncertain", limit)]

    def rows(self, state: str | None = None, limit: int = 100) -> list[dict[str, object]]:
        """The outbox, newest first (oldest first for one state), for ``intake-bot outbox list``."""
        query = select(OutboxRow.id, OutboxRow.state, OutboxRow.subject, OutboxRow.recipients,
                       OutboxRow.message_id, OutboxRow.attempts, OutboxRow.last_error, OutboxRow.created_at,
                       OutboxRow.claimed_at, OutboxRow.sent_at)
        query = query.where(OutboxRow.state == state).order_by(OutboxRow.id) if state else \
            query.order_by(OutboxRow.id.desc())  # type: ignore[union-attr]
        with Session(self.engine) as s:
            found = s.execute(query.limit(limit)).all()
        return [{"id": r.id, "state": r.state, "subject": r.subject, "to": list(r.recipients),
                 "message_id": r.message_id, "attempts": r.attempts, "last_error": r.last_error,
                 "created_at": r.created_at, "claimed_at": r.claimed_at, "sent_at": r.sent_at} for r in found]

    def resend(self, row_id: int, by: str) -> None:
        """A human checked that an uncertain or failed mail did not arrive: send it again (audited)."""
        self._decide(row_id, by, "pending", attempts=0)

    def mark_sent(self, row_id: int, by: str) -> None:
        """A human checked that an uncertain mail did arrive (or delivered it by hand): settle it as sent."""
        self._decide(row_id, by, "sent", sent_at=self.clock())

    def _decide(self, row_id: int, by: str, state: str, **values: object) -> None:
        note = f"{state} by {by} at {self.clock().isoformat(timespec='seconds')}"
        with Session(self.engine) as s:
            old = s.execute(select(OutboxRow.state, OutboxRow.message_id).where(OutboxRow.id == row_id)).first()
            res = s.execute(update(OutboxRow).where(OutboxRow.id == row_id,
                                                    OutboxRow.state.in_(("uncertain", "failed")))  # type: ignore[attr-defined]
                            .values(state=state, last_error=note, **values))
            s.commit()
        if res.rowcount != 1:
            raise UsageError(f"outbox #{row_id}: " + (f"is {old.state}, only an uncertain or failed mail can be "
                                                      "resent or marked sent" if old else "no such mail"))
        log.warning("outbox #%d (%s): %s -> %s by %s", row_id, old.message_id if old else "?",
                    old.state if old else "?", state, by)
