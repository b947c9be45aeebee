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
    since = now - timedelta(days=1)
    rows = s.execute(select(OutboxRow.recipients).where(OutboxRow.created_at >= since)).scalars()
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


class Dispatcher:
    """Delivers pending rows: pending -> sending (committed) -> sent; a crash in between leaves 'uncertain'."""

    def __init__(self, engine: Engine, transport: Transport, sender: Sender, clock: Callable[[], datetime],
                 max_attempts: int = 8, lease: timedelta = timedelta(minutes=10)) -> None:
        self.engine, self.transport, self.sender, self.clock = engine, transport, sender, clock
        self.max_attempts, self.lease = max_attempts, lease

    def recover(self) -> int:
        """Rows left 'sending' past the lease were maybe delivered: flag them 'uncertain', never resend blindly."""
        with Session(self.engine) as s:
            res = s.execute(update(OutboxRow).where(OutboxRow.state == "sending",
                                                    OutboxRow.claimed_at < self.clock() - self.lease)
                            .values(state="uncertain", last_error="interrupted while sending"))
            s.commit()
            if res.rowcount:
                log.warning("%d outgoing mail(s) flagged uncertain after an interrupted send", res.rowcount)
            return res.rowcount

    def _claim(self, row_id: int) -> bool:
        with Session(self.engine) as s:
            res = s.execute(update(OutboxRow).where(OutboxRow.id == row_id, OutboxRow.state == "pending")
                            .values(state="sending", claimed_at=self.clock(), attempts=OutboxRow.attempts + 1))
            s.commit()
            return res.rowcount == 1

    def _finish(self, row_id: int, **values: object) -> None:
        with Session(self.engine) as s:
            s.execute(update(OutboxRow).where(OutboxRow.id == row_id).values(**values))
            s.commit()

    def deliver_pending(self, limit: int = 100) -> int:
        """Send what is pending; return how many were accepted by the transport."""
        with Session(self.engine) as s:
            ids = list(s.execute(select(OutboxRow.id).where(OutboxRow.state == "pending")
                                 .order_by(OutboxRow.id).limit(limit)).scalars())
        return sum(self._deliver(row_id) for row_id in ids)

    def _deliver(self, row_id: int) -> bool:
        if not self._claim(row_id):
            return False  # another instance took it
        with Session(self.engine) as s:
            row = s.get(OutboxRow, row_id)
            assert row is not None
            raw, recipients, message_id, attempts = row.raw, list(row.recipients), row.message_id, row.attempts
        try:
            self.transport.send(raw, self.sender.address, recipients, message_id)
        except TransportError as exc:
            state = "failed" if attempts >= self.max_attempts else "pending"
            log.warning("delivery of %s failed (attempt %d): %s", message_id, attempts, exc)
            self._finish(row_id, state=state, last_error=str(exc)[:500])
            return False
        self._finish(row_id, state="sent", sent_at=self.clock(), last_error="")
        log.info("sent %s to %s", message_id, ", ".join(recipients))
        return True

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            rows = s.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all()
        return {state: n for state, n in rows}
