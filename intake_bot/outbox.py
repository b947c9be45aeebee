"""The outbox: mail is queued in the state change's transaction, then delivered at least once, never twice."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from .cases import MailSpec
from .errors import TransportError
from .render import Renderer
from .tables import OutboxRow
from .transport import Transport

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
    """Mail queued to ``recipient`` in the last 24 hours. The JSON list is filtered in SQL on the recipient's
    quoted JSON form (the same text on SQLite and PostgreSQL), then checked exactly: queueing stays cheap
    however many receipts the day already holds."""
    token = json.dumps(recipient).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = s.execute(select(OutboxRow.recipients).where(
        OutboxRow.created_at >= now - timedelta(days=1),
        cast(OutboxRow.recipients, String).like(f"%{token}%", escape="\\"))).scalars()
    return sum(1 for recipients in rows if recipient in recipients)


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
    return row


@dataclass(frozen=True)
class _Mail:
    row_id: int
    raw: bytes
    recipients: list[str]
    message_id: str
    attempts: int


class Dispatcher:
    """Delivers pending rows: pending -> sending (committed) -> sent.

    A row is claimed (committed 'sending') immediately before the transport is called, with everything it
    needs already read, so the window in which a crash leaves the fate of a mail unknown is the SMTP
    exchange plus one commit. A row found 'sending' after that is flagged 'uncertain' (DESIGN §7.2): it may
    have been delivered, so it is never resent blindly; ``intake-bot status`` lists it for a human.
    """

    def __init__(self, engine: Engine, transport: Transport, sender: Sender, clock: Callable[[], datetime],
                 max_attempts: int = 8, lease: timedelta = timedelta(minutes=10)) -> None:
        self.engine, self.transport, self.sender, self.clock = engine, transport, sender, clock
        self.max_attempts, self.lease = max_attempts, lease

    def recover(self, every_claim: bool = False) -> int:
        """Flag 'uncertain' the rows left 'sending' past the lease, or all of them at a process start
        (``every_claim``): their sender died. With several instances, a row another one is sending right
        now is flagged too, and set 'sent' by that instance a moment later: never resent either way."""
        cond = [OutboxRow.state == "sending"]
        if not every_claim:
            cond.append(OutboxRow.claimed_at < self.clock() - self.lease)  # type: ignore[operator]
        with Session(self.engine) as s:
            res = s.execute(update(OutboxRow).where(*cond)
                            .values(state="uncertain", last_error="interrupted while sending"))
            s.commit()
        if res.rowcount:
            log.warning("%d outgoing mail(s) flagged uncertain after an interrupted send", res.rowcount)
        return int(res.rowcount)

    def deliver_pending(self, limit: int = 100) -> int:
        """Send what is pending; return how many were accepted by the transport."""
        with Session(self.engine) as s:
            rows = s.execute(select(OutboxRow.id, OutboxRow.raw, OutboxRow.recipients, OutboxRow.message_id,
                                    OutboxRow.attempts).where(OutboxRow.state == "pending")
                             .order_by(OutboxRow.id).limit(limit)).all()
        return sum(self._deliver(_Mail(r.id, r.raw, list(r.recipients), r.message_id, r.attempts + 1))
                   for r in rows)

    def _claim(self, mail: _Mail) -> bool:
        """pending -> sending, only if still pending with the attempts we read (another sender did not take it)."""
        with Session(self.engine) as s:
            res = s.execute(update(OutboxRow).where(OutboxRow.id == mail.row_id, OutboxRow.state == "pending",
                                                    OutboxRow.attempts == mail.attempts - 1)
                            .values(state="sending", claimed_at=self.clock(), attempts=mail.attempts))
            s.commit()
            return res.rowcount == 1

    def _finish(self, row_id: int, **values: object) -> None:
        with Session(self.engine) as s:
            s.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(**values))
            s.commit()

    def _deliver(self, mail: _Mail) -> bool:
        if not self._claim(mail):
            return False  # another sender took it
        try:  # from here to the 'sent' commit, a crash leaves the row 'sending': uncertain
            self.transport.send(mail.raw, self.sender.address, mail.recipients, mail.message_id)
        except TransportError as exc:  # the transport's contract: certainly not accepted, so retrying is safe
            state = "failed" if mail.attempts >= self.max_attempts else "pending"
            log.warning("delivery of %s failed (attempt %d): %s", mail.message_id, mail.attempts, exc)
            self._finish(mail.row_id, state=state, last_error=str(exc)[:500])
            return False
        self._finish(mail.row_id, state="sent", sent_at=self.clock(), last_error="")
        log.info("sent %s to %s", mail.message_id, ", ".join(mail.recipients))
        return True

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            rows = s.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all()
        return {state: n for state, n in rows}

    def uncertain(self, limit: int = 50) -> list[dict[str, object]]:
        """Mail that may or may not have left: what a human must check (and resend or not)."""
        with Session(self.engine) as s:
            rows = s.execute(select(OutboxRow.id, OutboxRow.subject, OutboxRow.recipients, OutboxRow.message_id,
                                    OutboxRow.claimed_at).where(OutboxRow.state == "uncertain")
                             .order_by(OutboxRow.id).limit(limit)).all()
        return [{"id": r.id, "subject": r.subject, "to": list(r.recipients), "message_id": r.message_id,
                 "claimed_at": r.claimed_at} for r in rows]
