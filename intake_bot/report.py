"""Read-side views for the CLI: case lists and details, intake status, as JSON-ready dicts and text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import Session

from . import cases, repository
from .errors import UsageError
from .store import case_by_ref
from .tables import CaseRow, DocumentRow, EventRow, InboundRow

if TYPE_CHECKING:
    from .wiring import App


def _summary(app: App, s: Session, row: CaseRow) -> dict[str, Any]:
    view = repository.view(s, row)
    today = app.clock().date()
    running = view.state in (cases.CaseState.UNDER_REVIEW, cases.CaseState.AWAITING_COMPLEMENT)
    dl = cases.deadline_of(view, app.applier.policy.deadline, today) if running else None
    labels = {item.id: item.label for item in app.applier.kit.items}
    return {"ref": row.ref, "state": row.state, "kind": row.kind, "project_name": row.project_name,
            "ministry": row.ministry, "sender": row.sender, "received_on": row.received_on.isoformat(),
            "estimated_cost_eur": row.estimated_cost_eur,
            "due_date": dl.due_date.isoformat() if dl and dl.due_date else None,
            "deemed_on": dl.deemed_on.isoformat() if dl and dl.deemed_on else None,
            "suspended": bool(dl and dl.suspended), "days_left": dl.days_left if dl else None,
            "deadline": dl.label_fr if dl else None,
            "kit": {"present": [{"item": e.item_id, "label": labels.get(e.item_id, e.item_id), "evidence": e.text}
                                for e in view.present],
                    "missing": [{"item": m, "label": labels.get(m, m)} for m in view.missing]}}


def case_list(app: App) -> list[dict[str, Any]]:
    with Session(app.engine) as s:
        rows = s.execute(select(CaseRow).order_by(CaseRow.ref)).scalars().all()
        return [_summary(app, s, r) for r in rows]


def case_detail(app: App, ref: str) -> dict[str, Any]:
    with Session(app.engine) as s:
        row = case_by_ref(s, ref)
        if row is None:
            raise UsageError(f"no case {ref}")
        data = _summary(app, s, row)
        docs = s.execute(select(DocumentRow).where(DocumentRow.case_id == row.id).order_by(DocumentRow.id)).scalars()
        events = s.execute(select(EventRow).where(EventRow.case_id == row.id).order_by(EventRow.id)).scalars()
        data["documents"] = [{"filename": d.filename, "path": d.path, "size": d.size, "sha256": d.sha256,
                              "kit_item": d.kit_item, "problems": d.problems} for d in docs]
        data["suspensions"] = [{"start": x.start.isoformat(), "end": x.end.isoformat() if x.end else None,
                                "reason": x.reason} for x in repository.view(s, row).suspensions]
        data["history"] = [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "from": e.from_state,
                            "to": e.to_state, "reason": e.reason, "inbound_id": e.inbound_id} for e in events]
        return data


def format_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no cases"
    lines = []
    for r in rows:
        missing = ", ".join(m["item"] for m in r["kit"]["missing"]) or "—"
        lines.append(f"{r['ref']}  {r['state']:<20} {r['project_name'][:40]:<40} "
                     f"{r['deadline'] or '—'}  manquant: {missing}")
    return "\n".join(lines)


def format_detail(d: dict[str, Any]) -> str:
    lines = [f"{d['ref']} — {d['project_name']} ({d['ministry']})", f"  état : {d['state']}, {d['kind']}",
             f"  reçu le {d['received_on']} de {d['sender']}, coût annoncé {d['estimated_cost_eur']}",
             f"  délai : {d['deadline'] or '—'}"]
    lines += [f"  ✓ {p['label']} : {p['evidence']}" for p in d["kit"]["present"]]
    lines += [f"  ✗ {m['label']}" for m in d["kit"]["missing"]]
    lines += [f"  {h['at'][:16]} {h['actor']}: {h['kind']} {h['reason']}" for h in d.get("history", [])]
    return "\n".join(lines)


def status(app: App) -> dict[str, Any]:
    now = app.clock()
    day_start = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with Session(app.engine) as s:
        counts = dict(s.execute(select(InboundRow.status, func.count()).where(InboundRow.processed_at >= day_start)
                                .group_by(InboundRow.status)).all())
        last = s.execute(select(func.max(InboundRow.processed_at))).scalar()
        oldest = s.execute(select(func.min(InboundRow.received_at))
                           .where(InboundRow.status.in_(("new", "failed")))).scalar()  # type: ignore[attr-defined]
    age = (now - _aware(oldest)).total_seconds() if oldest else None
    return {"mailbox": app.settings.mailbox.url, "last_processed_at": last, "oldest_unprocessed_age_s": age,
            "today": {"processed": counts.get("processed", 0) + counts.get("duplicate", 0),
                      "ignored": counts.get("ignored", 0), "quarantined": counts.get("quarantined", 0)},
            "outbox": app.dispatcher.counts()}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def format_status(d: dict[str, Any]) -> str:
    age = d["oldest_unprocessed_age_s"]
    return "\n".join([f"mailbox: {d['mailbox']}", f"last processed: {d['last_processed_at'] or 'never'}",
                      f"oldest unprocessed: {timedelta(seconds=int(age)) if age is not None else 'none'}",
                      "today: " + ", ".join(f"{k} {v}" for k, v in d["today"].items()),
                      "outbox: " + (", ".join(f"{k} {v}" for k, v in d["outbox"].items()) or "empty")])
