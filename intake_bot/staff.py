"""Staff actions on a case, by email command or by the CLI: one transaction each, audited with who and why."""

from __future__ import annotations

import logging
import mimetypes
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session

from . import cases, repository
from .commands import StaffCommand, parse_staff_command
from .decision import Decision
from .errors import TransitionRefused, UsageError
from .model import ParsedMessage
from .store import case_by_ref, session
from .tables import CaseRow, InboundRow

if TYPE_CHECKING:
    from .apply import Applier

log = logging.getLogger("intake_bot.staff")
CLI_VERBS = {"complement": "complement", "avis": "avis", "note": "note", "close": "clore", "withdraw": "retrait",
             "hors-perimetre": "hors-perimetre"}
NO_COMMAND = ("aucune commande sur la première ligne du message : #complement <pièces ou texte>, "
              "#avis favorable|reserves|defavorable, #hors-perimetre, #clore ou #note <texte>")


def transition(case: cases.CaseView, cmd: StaffCommand, act: cases.Action, applier: Applier) -> cases.Transition:
    """The core transition a command asks for; TransitionRefused (French reason) when it cannot apply."""
    if cmd.error:
        raise TransitionRefused(cmd.error)
    kit, policy, mailbox = applier.kit, applier.policy.deadline, applier.sender.address
    if cmd.verb == "complement":
        return cases.request_complement(case, act, cmd.items, kit, policy, mailbox)
    if cmd.verb == "avis":
        return cases.record_avis(case, act, cmd.argument, policy, mailbox)
    if cmd.verb == "hors-perimetre":
        return cases.declare_out_of_scope(case, act, policy, mailbox)
    if cmd.verb == "clore":
        return cases.close(case, act)
    if cmd.verb == "note":
        return cases.note(case, act)
    if cmd.verb == "retrait":
        return cases.withdraw(case, act)
    raise TransitionRefused(f"commande inconnue « #{cmd.verb} »")


def cli_command(verb: str, text: str, known_items: list[str]) -> StaffCommand:
    """The CLI's words as the email command they stand for, so both read arguments the same way."""
    if verb not in CLI_VERBS:
        raise UsageError(f"unknown case action {verb!r} (known: {', '.join(CLI_VERBS)})")
    name = CLI_VERBS[verb]
    if name in ("clore", "retrait"):
        return StaffCommand(name, text.strip())
    cmd = parse_staff_command(f"#{name} {text}".strip(), known_items)
    assert cmd is not None  # the line starts with a known verb
    return cmd


class Staff:
    """Applies staff commands (the Applier's staff_handler) and the CLI's ``case`` actions."""

    def __init__(self, applier: Applier, tz: str = "Europe/Paris") -> None:
        self.applier, self.tz = applier, ZoneInfo(tz)

    def _known(self) -> list[str]:
        return [item.id for item in self.applier.kit.items]

    def _paris(self, at: datetime) -> date:
        return at.astimezone(self.tz).date() if at.tzinfo else at.date()

    def apply(self, s: Session, case_row: CaseRow, cmd: StaffCommand, act: cases.Action,
              inbound_id: int | None) -> cases.Transition:
        """Run the transition and write it (case, events with actor and message, mails) in the caller's transaction."""
        tr = transition(repository.view(s, case_row), cmd, act, self.applier)
        thread = repository.first_message_id(s, case_row.id)  # type: ignore[arg-type]
        self.applier.commit(s, case_row, tr, inbound_id=inbound_id, in_reply_to=thread)
        log.info("%s on %s by %s: %s", cmd.verb, case_row.ref, act.actor, tr.case.state.value)
        return tr

    # -- email -------------------------------------------------------------------------------------------
    def handle(self, s: Session, row: InboundRow, verdict: Decision, msg: ParsedMessage) -> str:
        """An authenticated staff email: apply its command, answer the staff member either way."""
        cmd = parse_staff_command(msg.body_text, self._known())
        case_row = case_by_ref(s, verdict.case_ref) if verdict.case_ref else None
        files = tuple(cases.FileRef(f"inbound:{row.id}", p.sha256, p.filename, p.content_type, p.size)
                      for p in msg.pieces)
        try:
            if cmd is None:
                raise TransitionRefused(NO_COMMAND)
            if case_row is None:
                raise TransitionRefused(f"le dossier {verdict.case_ref} n'existe pas" if verdict.case_ref else
                                        "aucune référence de dossier [GP-AAAA-NNNN] dans l'objet du message")
            act = cases.Action(msg.from_addr, self._paris(row.received_at), f"inbound:{row.id}",
                               "" if cmd.verb == "avis" else cmd.argument, files if cmd.verb == "avis" else ())
            tr = self.apply(s, case_row, cmd, act, row.id)
        except TransitionRefused as exc:
            return self._refused(s, row, case_row, msg, cmd, str(exc))
        row.case_id = case_row.id
        self._answer(s, row, case_row, msg, cmd.verb, "", tr.case)
        return "processed"

    def _refused(self, s: Session, row: InboundRow, case_row: CaseRow | None, msg: ParsedMessage,
                 cmd: StaffCommand | None, reason: str) -> str:
        verb = cmd.verb if cmd else ""
        row.reason = f"commande refusée : {reason}"[:500]
        log.info("staff command #%s from %s refused: %s", verb, msg.from_addr, reason)
        view = None
        if case_row is not None:
            row.case_id = case_row.id
            view = repository.view(s, case_row)
            event = cases.EventSpec("refused", f"commande #{verb} refusée : {reason}", msg.from_addr)
            repository.add_events(s, case_row.id, (event,), now=self.applier.clock(), inbound_id=row.id)
        self._answer(s, row, case_row, msg, verb, reason, view)
        return "processed"

    def _answer(self, s: Session, row: InboundRow, case_row: CaseRow | None, msg: ParsedMessage, verb: str,
                refusal: str, view: cases.CaseView | None) -> None:
        policy, today = self.applier.policy.deadline, self._paris(self.applier.clock())
        ctx = {"ref": case_row.ref if case_row else "", "verb": verb, "refusal": refusal, "subject": msg.subject,
               "case": cases.case_ctx(view, policy, today) if view else None,
               "open": view is not None and view.state in cases.OPEN}
        spec = cases.MailSpec("staff.commande", (msg.from_addr,), ctx, f"command:{row.id}")
        self.applier.queue_mail(s, spec, case_row.id if case_row else None, msg.message_id, list(msg.references))

    # -- command line ------------------------------------------------------------------------------------
    def run(self, verb: str, ref: str, text: str, actor: str, file: Path | None = None) -> cases.Transition:
        """``intake-bot case VERB REF …``: TransitionRefused / UsageError carry the reason for stderr."""
        cmd = cli_command(verb, text, self._known())
        files = (self._store(file),) if file is not None else ()
        if files and cmd.verb != "avis":
            raise UsageError("--file only goes with `case avis` (the signed avis sent to the ministry)")
        now = self.applier.clock()
        with session(self.applier.engine) as s:
            case_row = case_by_ref(s, ref.strip().upper())
            if case_row is None:
                raise UsageError(f"no case {ref}")
            act = cases.Action(actor, self._paris(now), f"cli:{case_row.ref}:{now.isoformat()}",
                               "" if cmd.verb == "avis" else cmd.argument, files)
            return self.apply(s, case_row, cmd, act, None)

    def _store(self, file: Path) -> cases.FileRef:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"{file}: {exc.strerror}") from None
        assert self.applier.blobs is not None
        digest = self.applier.blobs.put(data)
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return cases.FileRef("blob", digest, file.name, ctype, len(data))
