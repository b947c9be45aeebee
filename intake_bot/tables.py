"""SQLModel tables: cases, suspensions, inbound messages, documents, events (audit trail), outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class CaseSequence(SQLModel, table=True):
    """Last reference number used per year (GP-YYYY-NNNN), bumped inside the case transaction."""

    __tablename__ = "case_sequence"
    year: int = Field(primary_key=True)
    last: int = 0


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, index=True)
    state: str = Field(index=True)
    kind: str = "avis_conforme"
    project_name: str = ""
    ministry: str = ""
    sender: str = Field(default="", index=True)
    signatory: str = ""
    estimated_cost_eur: int | None = None
    received_at: datetime  # server receipt time, UTC
    received_on: date  # Europe/Paris date of received_at: R of the deadline rule
    due_date: date | None = None
    deemed_on: date | None = None
    avis: str | None = None
    kit_report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    missing: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    forwarded_on: date | None = None  # sent to ANSSI and budget (25-day observations)
    anssi_observed_on: date | None = None  # their observations arrived
    budget_observed_on: date | None = None
    avis_on: date | None = None  # avis rendered, or deemed given (the day after the due date)
    closed_on: date | None = None  # archived by staff once the procedure is over
    created_at: datetime
    updated_at: datetime


class SuspensionRow(SQLModel, table=True):
    __tablename__ = "suspensions"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    start: date
    end: date | None = None
    reason: str = ""


class InboundRow(SQLModel, table=True):
    """One inbound message, keyed on where it sat and on what it is."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_location"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    uidvalidity: int
    uid: str
    message_id: str | None = Field(default=None, index=True)
    sha256: str = Field(default="", index=True)  # of the raw bytes (content address of the blob)
    identity: str = Field(default="", index=True)  # Message-ID + digest of the content, survives re-delivery
    size: int = 0
    received_at: datetime
    from_addr: str = ""
    subject: str = ""
    status: str = Field(index=True)  # processed | duplicate | ignored | quarantined | failed
    decision: str = ""
    reason: str = ""
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    attempts: int = 0
    last_error: str = ""
    processed_at: datetime | None = None


class DocumentRow(SQLModel, table=True):
    __tablename__ = "documents"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    inbound_id: int = Field(foreign_key="inbound_messages.id")
    filename: str
    path: str = ""
    content_type: str = ""
    size: int = 0
    sha256: str
    kit_item: str | None = None
    text_chars: int = 0
    problems: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class EventRow(SQLModel, table=True):
    """The audit trail: who did what, when, why, from which message."""

    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    at: datetime
    actor: str
    kind: str
    from_state: str | None = None
    to_state: str | None = None
    reason: str = ""
    inbound_id: int | None = Field(default=None, foreign_key="inbound_messages.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxRow(SQLModel, table=True):
    """Outgoing mail, written in the same transaction as the state change that caused it."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)  # e.g. "receipt:inbound:42": the same cause never queues twice
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    template: str
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    message_id: str = Field(unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: str = Field(default="pending", index=True)  # pending | sending | sent | uncertain | failed
    attempts: int = 0
    last_error: str = ""
    created_at: datetime
    claimed_at: datetime | None = None  # when a sender took it: 'sending' rows older than the lease are 'uncertain'
    sent_at: datetime | None = None


class OutboxRecipientRow(SQLModel, table=True):
    """One queued mail to one address: what the per-recipient daily cap counts, through an index (the outbox's
    JSON list of recipients can only be scanned, and each outbox row carries a whole mail)."""

    __tablename__ = "outbox_recipients"
    __table_args__ = (Index("ix_outbox_recipients_address_created_at", "address", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    address: str  # lower-cased
    created_at: datetime
