"""Cases in the database: load the core's CaseView from rows, save a Transition's case, events and documents."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlmodel import Session

from .cases import CaseView, EventSpec
from .kit import Evidence
from .model import Attachment, CaseKind, CaseState, Suspension
from .tables import CaseRow, DocumentRow, EventRow, InboundRow, OutboxRow, SuspensionRow


def view(s: Session, row: CaseRow) -> CaseView:
    suspensions = s.execute(select(SuspensionRow).where(SuspensionRow.case_id == row.id)
                            .order_by(SuspensionRow.start, SuspensionRow.id)).scalars()
    present = tuple(Evidence(**e) for e in row.kit_report.get("present", []))
    return CaseView(ref=row.ref, state=CaseState(row.state), sender=row.sender, received_on=row.received_on,
                    kind=CaseKind(row.kind), project_name=row.project_name, ministry=row.ministry,
                    estimated_cost_eur=row.estimated_cost_eur,
                    suspensions=tuple(Suspension(x.start, x.end, x.reason) for x in suspensions),
                    present=present, missing=tuple(row.missing), forwarded_on=row.forwarded_on, avis=row.avis,
                    avis_on=row.avis_on, closed_on=row.closed_on,
                    observed=tuple((p, d) for p, d in (("anssi", row.anssi_observed_on),
                                                       ("budget", row.budget_observed_on)) if d))


def save_case(s: Session, case: CaseView, row: CaseRow | None, *, received_at: datetime, now: datetime,
              due: tuple[Any, Any] = (None, None), signatory: str = "") -> CaseRow:
    """Insert or update the case row and its suspensions from the core's view."""
    if row is None:
        row = CaseRow(ref=case.ref, state=case.state.value, received_at=received_at, received_on=case.received_on,
                      created_at=now, updated_at=now, signatory=signatory)
    row.state, row.kind = case.state.value, case.kind.value
    row.project_name, row.ministry, row.sender = case.project_name, case.ministry, case.sender
    row.estimated_cost_eur, row.avis, row.forwarded_on = case.estimated_cost_eur, case.avis, case.forwarded_on
    row.avis_on, row.closed_on = case.avis_on, case.closed_on
    row.anssi_observed_on, row.budget_observed_on = dict(case.observed).get("anssi"), dict(case.observed).get("budget")
    row.kit_report = {"present": [asdict(e) for e in case.present]}
    row.missing = list(case.missing)
    row.due_date, row.deemed_on = due
    row.updated_at = now
    s.add(row)
    s.flush()
    s.execute(delete(SuspensionRow).where(SuspensionRow.case_id == row.id))
    for sus in case.suspensions:
        s.add(SuspensionRow(case_id=row.id, start=sus.start, end=sus.end, reason=sus.reason))
    return row


def add_events(s: Session, case_id: int | None, events: tuple[EventSpec, ...], *, now: datetime,
               inbound_id: int | None) -> None:
    for ev in events:
        s.add(EventRow(case_id=case_id, at=now, actor=ev.actor, kind=ev.kind, reason=ev.reason,
                       from_state=ev.from_state.value if ev.from_state else None,
                       to_state=ev.to_state.value if ev.to_state else None, inbound_id=inbound_id, data=ev.data))


def add_documents(s: Session, case_id: int, inbound_id: int, attachments: tuple[Attachment, ...],
                  matches: dict[str, str]) -> None:
    for a in attachments:
        if a.inline:
            continue
        s.add(DocumentRow(case_id=case_id, inbound_id=inbound_id, filename=a.filename, path=a.path,
                          content_type=a.content_type, size=a.size, sha256=a.sha256, kit_item=matches.get(a.sha256),
                          text_chars=len(a.text), problems=[asdict(p) for p in a.problems]))


def thread_refs(s: Session, message_ids: list[str]) -> dict[str, str]:
    """Message-IDs we received or sent that belong to a case -> the case reference."""
    if not message_ids:
        return {}
    found: dict[str, str] = {}
    inbound = s.execute(select(InboundRow.message_id, CaseRow.ref).join(CaseRow, InboundRow.case_id == CaseRow.id)
                        .where(InboundRow.message_id.in_(message_ids)))  # type: ignore[union-attr]
    outbound = s.execute(select(OutboxRow.message_id, CaseRow.ref).join(CaseRow, OutboxRow.case_id == CaseRow.id)
                         .where(OutboxRow.message_id.in_(message_ids)))  # type: ignore[attr-defined]
    for mid, ref in [*inbound, *outbound]:
        found[mid] = ref
    return found


def sender_cases(s: Session, sender: str) -> list[CaseRow]:
    closed = [st.value for st in CaseState if st.closed]
    return list(s.execute(select(CaseRow).where(CaseRow.sender == sender, CaseRow.state.not_in(closed))).scalars())  # type: ignore[attr-defined]


def case_senders(s: Session, refs: list[str]) -> dict[str, str]:
    """The address that opened each of these cases."""
    if not refs:
        return {}
    return dict(s.execute(select(CaseRow.ref, CaseRow.sender).where(CaseRow.ref.in_(refs))).all())  # type: ignore[attr-defined, arg-type]


def existing_refs(s: Session, refs: list[str]) -> frozenset[str]:
    if not refs:
        return frozenset()
    return frozenset(s.execute(select(CaseRow.ref).where(CaseRow.ref.in_(refs))).scalars())  # type: ignore[attr-defined]


def inbound_at(s: Session, mailbox: str, uidvalidity: int, uid: str) -> InboundRow | None:
    return s.execute(select(InboundRow).where(InboundRow.mailbox == mailbox, InboundRow.uidvalidity == uidvalidity,
                                              InboundRow.uid == uid)).scalars().first()


def same_message(s: Session, identity: str, sha256: str) -> InboundRow | None:
    """A message already handled that is the same mail (same Message-ID and content, or same bytes)."""
    final = ("processed", "ignored", "quarantined")
    cond = or_(InboundRow.identity == identity, InboundRow.sha256 == sha256)
    return s.execute(select(InboundRow).where(cond, InboundRow.status.in_(final))  # type: ignore[attr-defined]
                     .order_by(InboundRow.id)).scalars().first()


def case_messages(s: Session, case_id: int) -> list[InboundRow]:
    """The inbound messages attached to a case (saisine, complements, staff commands), oldest first."""
    return list(s.execute(select(InboundRow).where(InboundRow.case_id == case_id).order_by(InboundRow.id)).scalars())


def first_message_id(s: Session, case_id: int) -> str | None:
    """Message-ID of the saisine that opened the case: later mail to the ministry is threaded under it."""
    return s.execute(select(InboundRow.message_id).where(InboundRow.case_id == case_id, InboundRow.decision == "new_case")
                     .order_by(InboundRow.id)).scalars().first()


def documents(s: Session, case_id: int) -> list[DocumentRow]:
    return list(s.execute(select(DocumentRow).where(DocumentRow.case_id == case_id).order_by(DocumentRow.id)).scalars())


def cases_in(s: Session, states: list[str]) -> list[CaseRow]:
    return list(s.execute(select(CaseRow).where(CaseRow.state.in_(states)).order_by(CaseRow.ref)).scalars())  # type: ignore[attr-defined]
