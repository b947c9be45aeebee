"""The pipeline once through on the embedded default, with the real example saisines (DESIGN §4, §7)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select
from sqlmodel import Session

from intake_bot import deadlines
from intake_bot.mailbox import MaildirBox
from intake_bot.tables import CaseRow, EventRow, InboundRow, OutboxRow
from tests.conftest import EXAMPLES

EXPECTED = {  # example -> (decision, state of its case)
    "01-portalis-justice.eml": ("new_case", "under_review"),
    "02-france-visas-interieur-zip.eml": ("new_case", "under_review"),
    "03-opale-education-odf.eml": ("new_case", "under_review"),
    "04-expadon2-agriculture-sans-planning.eml": ("new_case", "under_review"),  # completed by 05
    "05-expadon2-agriculture-complement.eml": ("follow_up", "under_review"),
    "06-franceconnect-spm-sous-seuil.eml": ("new_case", "out_of_scope"),
    "07-reponse-automatique-justice.eml": ("ignore", None),
    "08-france-sesame-finances-information.eml": ("new_case", "out_of_scope"),
}


def deliver_examples(app) -> MaildirBox:
    box = MaildirBox(app.settings.base_dir / "maildir")
    for eml in sorted(EXAMPLES.glob("*.eml")):
        box.deliver(eml.read_bytes())
    return box


def outgoing(app) -> list:
    out = app.settings.base_dir / "outbox"
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(out.glob("*.eml"))]


def test_examples_cover_the_expected_outcomes():
    assert sorted(p.name for p in EXAMPLES.glob("*.eml")) == sorted(EXPECTED)


def test_each_example_gets_its_decision_and_case(embedded):
    box = deliver_examples(embedded)
    counts = embedded.pipeline(box).run_once()
    assert (counts.processed, counts.ignored, counts.quarantined, counts.failed) == (7, 1, 0, 0)
    with Session(embedded.engine) as s:
        rows = {r.subject: r for r in s.execute(select(InboundRow)).scalars()}
        cases = {c.id: c for c in s.execute(select(CaseRow)).scalars()}
    assert len(cases) == 6
    assert sorted(c.ref for c in cases.values()) == [f"GP-2026-000{i}" for i in range(1, 7)]
    for name, (decision, state) in EXPECTED.items():
        subject = message_from_bytes((EXAMPLES / name).read_bytes(), policy=policy.default)["Subject"]
        row = rows[str(subject)]
        assert row.decision == decision, name
        assert (cases[row.case_id].state if row.case_id else None) == state, name
    assert not list(box.pending()), "every message left the inbox"
    assert len(list((embedded.settings.base_dir / "maildir" / ".Processed" / "cur").iterdir())) == 8


def test_receipts_are_tagged_auto_submitted_and_list_every_piece(embedded):
    embedded.pipeline(deliver_examples(embedded)).run_once()
    mails = outgoing(embedded)
    assert len(mails) == 7  # 6 cases + the complement's acknowledgement; nothing to the auto-reply
    with Session(embedded.engine) as s:
        assert s.execute(select(OutboxRow).where(OutboxRow.state != "sent")).first() is None
    for mail in mails:
        assert mail["Auto-Submitted"] == "auto-replied"
        assert re.match(r"\[GP-2026-\d{4}\] ", mail["Subject"])
        assert mail["To"] and "numerique.gouv.fr" not in mail["To"]
        assert mail["In-Reply-To"], "threaded under the ministry's message"
    receipt = next(m for m in mails if "PORTALIS" in m["Subject"] and "Accusé" in m["Subject"])
    text = receipt.get_body(("plain",)).get_content()
    source = message_from_bytes((EXAMPLES / "01-portalis-justice.eml").read_bytes(), policy=policy.default)
    for part in source.iter_attachments():
        digest = hashlib.sha256(part.get_content() if isinstance(part.get_content(), bytes)
                                else part.get_payload(decode=True)).hexdigest()
        assert digest in text, f"{part.get_filename()} not listed with its SHA-256"
    assert "réputé favorable" in text


def test_incomplete_then_complement_suspends_then_resumes_the_clock(embedded, clock):
    box = MaildirBox(embedded.settings.base_dir / "maildir")
    box.deliver((EXAMPLES / "04-expadon2-agriculture-sans-planning.eml").read_bytes())
    embedded.pipeline(box).run_once()
    with Session(embedded.engine) as s:
        case = s.execute(select(CaseRow)).scalars().one()
        assert (case.state, case.missing, case.due_date) == ("awaiting_complement", ["planning"], None)
    first = outgoing(embedded)
    assert "délai d'un mois" in first[0].get_body(("plain",)).get_content()
    clock.advance(days=5)
    box.deliver((EXAMPLES / "05-expadon2-agriculture-complement.eml").read_bytes())
    embedded.pipeline(box).run_once()
    with Session(embedded.engine) as s:
        case = s.execute(select(CaseRow)).scalars().one()
        events = [e.kind for e in s.execute(select(EventRow).where(EventRow.case_id == case.id)).scalars()]
    assert case.state == "under_review" and case.missing == []
    assert events == ["received", "state", "complement", "state"]
    # suspended from receipt R to the complement A (both delivered today): due = E0 + (A - R + 1) days
    assert case.due_date == deadlines.add_one_month(case.received_on) + timedelta(days=1)


def test_running_twice_creates_nothing_twice(embedded):
    embedded.pipeline(deliver_examples(embedded)).run_once()
    before = len(outgoing(embedded))
    counts = embedded.pipeline(deliver_examples(embedded)).run_once()
    assert (counts.processed, counts.duplicates) == (0, 8)
    assert len(outgoing(embedded)) == before
    with Session(embedded.engine) as s:
        assert len(s.execute(select(CaseRow)).all()) == 6


def test_crash_after_commit_before_move_is_recovered_without_duplicate(embedded, monkeypatch):
    box = MaildirBox(embedded.settings.base_dir / "maildir")
    box.deliver((EXAMPLES / "01-portalis-justice.eml").read_bytes())
    pipeline = embedded.pipeline(box)

    class Crash(BaseException):
        pass

    def crash(ref):
        raise Crash()

    monkeypatch.setattr(box, "mark_processed", crash)
    with pytest.raises(Crash):
        pipeline.run_once()
    monkeypatch.undo()
    assert len(list(box.pending())) == 1, "still in the inbox after the crash"
    counts = embedded.pipeline(box).run_once()
    assert counts.processed == 1 and not list(box.pending())
    with Session(embedded.engine) as s:
        assert len(s.execute(select(CaseRow)).all()) == 1
        assert len(s.execute(select(OutboxRow)).all()) == 1


def test_message_without_message_id_is_processed(embedded):
    raw = (EXAMPLES / "06-franceconnect-spm-sous-seuil.eml").read_bytes()
    raw = re.sub(rb"(?im)^Message-ID:[^\n]*\n", b"", raw, count=1)
    box = MaildirBox(embedded.settings.base_dir / "maildir")
    box.deliver(raw)
    assert embedded.pipeline(box).run_once().processed == 1
    box.deliver(raw)  # the same bytes again: a copy, not a new case
    assert embedded.pipeline(box).run_once().duplicates == 1


def test_unknown_sender_is_quarantined_and_staff_told(embedded):
    raw = (EXAMPLES / "01-portalis-justice.eml").read_bytes()
    raw = re.sub(rb"(?im)^From:[^\n]*\n", b"From: Someone <someone@example.com>\n", raw, count=1)
    box = MaildirBox(embedded.settings.base_dir / "maildir")
    box.deliver(raw)
    assert embedded.pipeline(box).run_once().quarantined == 1
    mails = outgoing(embedded)
    assert [m["To"] for m in mails] == ["equipe@numerique.gouv.fr"]
    assert "hors des domaines autorisés" in mails[0].get_body(("plain",)).get_content()
    assert mails[0]["Auto-Submitted"] == "auto-generated"
    assert len(list((embedded.settings.base_dir / "maildir" / ".Quarantine" / "cur").iterdir())) == 1
