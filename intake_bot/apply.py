"""Applies a decision: builds the core's inputs from a parsed message, runs the transition, writes its results."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes
from email import policy as email_policy
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from . import cases, classify, deadlines, partners, repository, rules
from . import facts as factsmod
from . import kit as kitmod
from .decision import Context, Decision, OpenCase, Route, decide
from .errors import TransitionRefused
from .limits import Limits
from .mailbox import InboundRef
from .model import ParsedMessage
from .outbox import Sender, queue
from .parsing import part_with_digest
from .render import Renderer
from .store import BlobStore, case_by_ref, next_reference, session
from .tables import CaseRow, InboundRow

log = logging.getLogger("intake_bot.apply")


@dataclass(frozen=True)
class Policy:
    """The settings the decisions depend on."""

    our_addresses: frozenset[str]
    staff_addresses: frozenset[str]
    allowed_domains: tuple[str, ...]
    authserv_id: str
    notify: tuple[str, ...]  # staff told about quarantined mail
    deadline: deadlines.DeadlinePolicy
    partners: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ("anssi", addresses), ("budget", addresses)
    timezone: str = "Europe/Paris"  # dates of the procedure are Paris dates


class Applier:
    """Turns one decided message into rows: inbound status, case, documents, events and queued mail."""

    def __init__(self, engine: Any, kit: kitmod.Kit, renderer: Renderer, sender: Sender, policy: Policy,
                 limits: Limits, clock: Callable[[], datetime]) -> None:
        self.engine, self.kit, self.renderer, self.sender = engine, kit, renderer, sender
        self.policy, self.limits, self.clock = policy, limits, clock
        self.staff_handler: Callable[..., str] | None = None  # set by wiring when staff commands are enabled
        self.blobs: BlobStore | None = None  # set by wiring: where files attached to outgoing mail are read

    # -- context -----------------------------------------------------------------------------------------
    def context(self, s: Session | None, msg: ParsedMessage) -> Context:
        p = self.policy
        prefixes = self.kit.auto_reply_prefixes
        if s is None:
            return Context(p.our_addresses, p.staff_addresses, p.allowed_domains, p.authserv_id,
                           auto_reply_prefixes=prefixes)
        tag = rules.case_tag(msg.subject)
        thread = repository.thread_refs(s, [*msg.in_reply_to, *msg.references])
        open_cases = tuple(OpenCase(c.ref, c.sender, c.project_name) for c in repository.sender_cases(s, msg.from_addr))
        refs = [*([tag] if tag else []), *thread.values()]
        return Context(p.our_addresses, p.staff_addresses, p.allowed_domains, p.authserv_id,
                       existing_refs=repository.existing_refs(s, [tag] if tag else []),
                       thread_refs=thread, sender_cases=open_cases, auto_reply_prefixes=prefixes,
                       case_senders=repository.case_senders(s, refs),
                       partner_addresses=frozenset(a.lower() for _, addrs in p.partners for a in addrs))

    def intake(self, msg: ParsedMessage, received_on: date, key: str) -> cases.Intake:
        pieces = msg.pieces
        found = [classify.classify_piece(self.kit, piece) for piece in pieces]  # once per piece
        report = kitmod.assess(self.kit, pieces, msg.body_text, found)
        matches = {piece.sha256: match.item_id for piece, match in zip(pieces, found) if match is not None}
        shown = tuple(a for a in msg.attachments if not a.inline)
        return cases.Intake(msg.from_addr, received_on, shown, report, matches, msg.problems, key)

    # -- decisions ---------------------------------------------------------------------------------------
    def apply(self, s: Session, row_id: int, verdict: Decision, msg: ParsedMessage, *, digest: str, identity: str,
              received_at: datetime, received_on: date) -> str:
        row = s.get(InboundRow, row_id)
        assert row is not None
        row.message_id, row.sha256, row.identity = msg.message_id, digest, identity
        row.from_addr, row.subject = msg.from_addr[:320], msg.subject[:500]
        row.decision, row.reason, row.processed_at = verdict.route.value, verdict.reason_fr, self.clock()
        if verdict.route is Route.IGNORE:
            row.status = "ignored"
        elif verdict.route is Route.QUARANTINE:
            row.status = "quarantined"
            self._notify_staff(s, row, verdict.reason_fr)
        elif verdict.route is Route.STAFF and self.staff_handler is not None:
            row.status = self.staff_handler(s, row, verdict, msg)
        elif verdict.route is Route.STAFF:
            row.status, row.reason = "quarantined", "commande d'agent reçue, mais les commandes ne sont pas activées"
        elif verdict.route is Route.NEW_CASE:
            row.case_id = self._open(s, row, msg, received_at, received_on)
            row.status = "processed"
        else:
            row.status = self._follow_up(s, row, verdict, msg, received_on)
        s.add(row)
        return row.status

    def _open(self, s: Session, row: InboundRow, msg: ParsedMessage, received_at: datetime, received_on: date) -> int:
        facts = factsmod.read_facts(msg, self.kit)
        intake = self.intake(msg, received_on, f"inbound:{row.id}")
        now = self.clock()
        ref = next_reference(s, received_on.year)
        tr = cases.open_case(ref, facts, intake, self.kit, self.policy.deadline, self.sender.address, now.date())
        case_row = repository.save_case(s, tr.case, None, received_at=received_at, now=now,
                                        due=self._due(tr.case), signatory=facts.signatory)
        self._write(s, case_row, row, tr, msg, intake)
        row.case_id = case_row.id
        self._forward(s, case_row)
        return case_row.id  # type: ignore[return-value]

    def _follow_up(self, s: Session, row: InboundRow, verdict: Decision, msg: ParsedMessage, received_on: date) -> str:
        """A complement (clock resumes), a partner's observations, or mail on a closed case (to staff)."""
        case_row = case_by_ref(s, verdict.case_ref) if verdict.case_ref else None
        assert case_row is not None, verdict
        row.case_id = case_row.id
        intake = self.intake(msg, received_on, f"inbound:{row.id}")
        now, view = self.clock(), repository.view(s, case_row)
        partner = partners.partner_of(msg.from_addr, dict(self.policy.partners))
        try:
            tr = (partners.receive_observations(view, partner, received_on, msg.from_addr) if partner else
                  cases.receive_complement(view, intake, self.kit, self.policy.deadline, self.sender.address, now.date()))
        except TransitionRefused as exc:
            row.reason = str(exc)
            tr = cases.Transition(view, (cases.EventSpec("refused", f"message reçu : {exc}", msg.from_addr),))
            self._write(s, case_row, row, tr, msg, intake)
            self._notify_staff(s, row, str(exc))
            return "quarantined"
        repository.save_case(s, tr.case, case_row, received_at=case_row.received_at, now=now, due=self._due(tr.case))
        self._write(s, case_row, row, tr, msg, intake)
        self._forward(s, case_row)
        return "processed"

    def _forward(self, s: Session, case_row: CaseRow) -> None:
        """A case that is (now) complete goes to ANSSI and budget, with its original messages."""
        view = repository.view(s, case_row)
        if view.forwarded_on is not None or view.state is not cases.CaseState.UNDER_REVIEW or not self.policy.partners:
            return
        labels = {item.id: item.label for item in self.kit.items}
        messages = [m for m in repository.case_messages(s, case_row.id) if m.decision in ("new_case", "follow_up")]  # type: ignore[arg-type]
        dossier = [cases.FileRef(f"inbound:{m.id}", "", f"{case_row.ref}-message-{n}.eml", "application/octet-stream",
                                 m.size) for n, m in enumerate(messages, 1)]
        pieces = [{"filename": d.filename, "path": d.path, "size": d.size, "sha256": d.sha256,
                   "kit_label": labels.get(d.kit_item or "", ""), "problems": [p.get("fr", "") for p in d.problems]}
                  for d in repository.documents(s, case_row.id)]  # type: ignore[arg-type]
        today = self.clock().astimezone(ZoneInfo(self.policy.timezone)).date()
        tr = partners.forward(view, dict(self.policy.partners), dossier, pieces, self.policy.deadline, today)
        self.commit(s, case_row, tr, inbound_id=None)

    def commit(self, s: Session, case_row: CaseRow, tr: cases.Transition, *, inbound_id: int | None,
               in_reply_to: str | None = None, references: Sequence[str] = ()) -> None:
        """Write a transition made outside an inbound message's own flow: case, events, mails (with files)."""
        now = self.clock()
        repository.save_case(s, tr.case, case_row, received_at=case_row.received_at, now=now, due=self._due(tr.case))
        repository.add_events(s, case_row.id, tr.events, now=now, inbound_id=inbound_id)
        for spec in tr.mails:
            self.queue_mail(s, spec, case_row.id, in_reply_to, list(references))

    def queue_mail(self, s: Session, spec: cases.MailSpec, case_id: int | None, in_reply_to: str | None = None,
                   references: list[str] | None = None) -> bool:
        """Queue one mail, its files attached; False when it was already queued (same key) or capped."""
        row = queue(s, self.renderer, self.sender, spec, case_id=case_id, now=self.clock(), in_reply_to=in_reply_to,
                    references=references)
        if row is not None and spec.attachments:
            row.raw = self._attach(s, row.raw, spec.attachments)
        return row is not None

    def _attach(self, s: Session, raw: bytes, files: Sequence[cases.FileRef]) -> bytes:
        msg = message_from_bytes(raw, policy=email_policy.default)
        for ref in files:
            data = self._file(s, ref)
            if data is None:
                log.warning("file %s (%s) not found, not attached", ref.filename, ref.source)
                continue
            maintype, _, subtype = ref.content_type.partition("/")
            msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",  # type: ignore[attr-defined]
                               filename=ref.filename)
        return msg.as_bytes(policy=email_policy.SMTP)  # CRLF, as the outbox stores every mail

    def _file(self, s: Session, ref: cases.FileRef) -> bytes | None:
        """The bytes of a stored message (whole, or one of its parts by digest), or of a stored file."""
        if self.blobs is None:
            return None
        if ref.source == "blob":
            return self.blobs.get(ref.sha256) if self.blobs.path(ref.sha256).exists() else None
        inbound = s.get(InboundRow, int(ref.source.partition(":")[2]))
        if inbound is None or not self.blobs.path(inbound.sha256).exists():
            return None
        raw = self.blobs.get(inbound.sha256)
        return part_with_digest(raw, ref.sha256, self.limits) if ref.sha256 else raw

    def _due(self, case: cases.CaseView) -> tuple[date | None, date | None]:
        if case.state is not cases.CaseState.UNDER_REVIEW and case.state is not cases.CaseState.AWAITING_COMPLEMENT:
            return (None, None)
        dl = cases.deadline_of(case, self.policy.deadline)
        return (dl.due_date, dl.deemed_on)

    def _write(self, s: Session, case_row: CaseRow, row: InboundRow, tr: cases.Transition, msg: ParsedMessage,
               intake: cases.Intake) -> None:
        repository.add_documents(s, case_row.id, row.id, msg.attachments, intake.matches)  # type: ignore[arg-type]
        repository.add_events(s, case_row.id, tr.events, now=self.clock(), inbound_id=row.id)
        for spec in tr.mails:
            self.queue_mail(s, spec, case_row.id, msg.message_id, list(msg.references))

    def duplicate(self, s: Session, row_id: int, twin: InboundRow, msg: ParsedMessage, digest: str, identity: str) -> str:
        row = s.get(InboundRow, row_id)
        assert row is not None
        row.status, row.case_id, row.decision = "duplicate", twin.case_id, "duplicate"
        row.message_id, row.sha256, row.identity = msg.message_id, digest, identity
        row.from_addr, row.subject, row.processed_at = msg.from_addr[:320], msg.subject[:500], self.clock()
        row.reason = f"copie du message déjà traité n° {twin.id}"
        s.add(row)
        return "duplicate"

    def quarantine_unread(self, row_id: int, ref: InboundRef, code: str, reason: str) -> str:
        """Quarantine without reading the message (too large, too many failed attempts); staff are told."""
        with session(self.engine) as s:
            row = s.get(InboundRow, row_id)
            assert row is not None
            row.status, row.decision, row.reason, row.processed_at = "quarantined", code, reason, self.clock()
            s.add(row)
            self._notify_staff(s, row, reason)
        log.warning("message %s quarantined: %s", ref.key, reason)
        return "quarantined"

    def _notify_staff(self, s: Session, row: InboundRow, reason: str) -> None:
        if not self.policy.notify:
            return
        ctx = {"reason": reason, "from_addr": row.from_addr or "inconnu", "subject": row.subject or "(sans objet)",
               "size": row.size, "received_at": row.received_at, "inbound_id": row.id, "mailbox": row.mailbox}
        spec = cases.MailSpec("staff.quarantaine", self.policy.notify, ctx, f"quarantine:{row.id}",
                              reply=False, auto_submitted="auto-generated")
        self.queue_mail(s, spec, None)

    # -- analysis (inspect) ------------------------------------------------------------------------------
    def analysis(self, msg: ParsedMessage) -> dict[str, Any]:
        from .inspection import analysis
        return analysis(self, msg, decide(msg, self.context(None, msg)))
