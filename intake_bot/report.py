"""Read-side views for the CLI: case lists and details, intake status, as JSON-ready dicts and text."""

from __future__ import annotations

import json
import os
import socket
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from . import cases, config, deadlines, repository
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
                    "missing": [{"item": m, "label": labels.get(m, m)} for m in view.missing]},
            "avis": view.avis, "avis_on": _iso(view.avis_on), "closed_on": _iso(view.closed_on),
            "observations": _observations(app, view, today)}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _observations(app: App, view: cases.CaseView, today: date) -> dict[str, Any] | None:
    """ANSSI and budget: when the dossier went to them, their 25-day due date, who has answered."""
    if view.forwarded_on is None:
        return None
    due = deadlines.observation_due(view.forwarded_on)
    seen = dict(view.observed)
    names = [name for name, addrs in app.applier.policy.partners if addrs] or [name for name, _ in view.observed]
    return {"forwarded_on": view.forwarded_on.isoformat(), "due": due.isoformat(),
            "partners": {n: {"received_on": _iso(seen.get(n)), "late": seen.get(n, today) > due} for n in names}}


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
    if d.get("avis"):
        lines.append(f"  avis : {d['avis']} le {d['avis_on']}" + (f", dossier clos le {d['closed_on']}" if d["closed_on"] else ""))
    if d.get("observations"):
        o = d["observations"]
        got = ", ".join(f"{n} {'reçues le ' + p['received_on'] if p['received_on'] else 'attendues'}"
                        for n, p in o["partners"].items())
        lines.append(f"  transmis le {o['forwarded_on']} (observations au plus tard le {o['due']}) : {got}")
    lines += [f"  {h['at'][:16]} {h['actor']}: {h['kind']} {h['reason']}" for h in d.get("history", [])]
    return "\n".join(lines)


def health_path(settings: config.Settings) -> Path:
    """Where the daemon keeps its intake health for ``status`` (another process): next to the blob store."""
    return settings.path(settings.storage.blob_dir).parent / "status.json"


def read_health(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _daemon(health: dict[str, Any] | None, now: datetime) -> str:
    """running | stopped | dead (no heartbeat: killed, or hung) | never started."""
    if health is None:
        return "never started"
    if health.get("state") != "running":
        return "stopped"
    updated = _parse_time(health.get("updated_at"))
    fresh = updated is not None and (now - updated).total_seconds() < 3 * float(health.get("heartbeat_s", 60))
    alive = _pid_alive(int(health.get("pid", 0))) if health.get("host") == socket.gethostname() else True
    return "running" if fresh and alive else "dead"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def _parse_time(value: Any) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(value)) if value else None
    except (TypeError, ValueError):
        return None


def _today(app: App, now: datetime) -> tuple[dict[str, int], int, datetime | None, datetime | None]:
    """Counts of the Paris day (the deadline's day), messages failing now, last processing, oldest still to do."""
    tz = ZoneInfo(app.settings.intake.timezone)
    day_start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    with Session(app.engine) as s:
        counts = dict(s.execute(select(InboundRow.status, func.count()).where(InboundRow.processed_at >= day_start)
                                .group_by(InboundRow.status)).all())
        failing = s.execute(select(func.count()).where(InboundRow.status == "failed")).scalar() or 0
        last = s.execute(select(func.max(InboundRow.processed_at))).scalar()
        oldest = s.execute(select(func.min(InboundRow.received_at))
                           .where(InboundRow.status.in_(("new", "failed")))).scalar()  # type: ignore[attr-defined]
    today = {"processed": counts.get("processed", 0) + counts.get("duplicate", 0), "ignored": counts.get("ignored", 0),
             "quarantined": counts.get("quarantined", 0)}
    return today, int(failing), last, oldest


def status(app: App) -> dict[str, Any]:
    """Intake health: the daemon's own report (connection, last fetch, what waits) and the database's counts."""
    now = app.clock()
    health = read_health(health_path(app.settings))
    daemon = _daemon(health, now)
    h = health or {}
    today, failing, last, oldest_row = _today(app, now)
    # the daemon's last listing knows mail not yet in the database; without a daemon, the rows are all we have
    oldest = _parse_time(h.get("oldest_waiting_at")) if health else (_aware(oldest_row) if oldest_row else None)
    return {"mailbox": config.redact(app.settings.mailbox.url), "daemon": daemon, "pid": h.get("pid"),
            "connected": bool(h.get("connected")) and daemon == "running", "idle": bool(h.get("idle")),
            "last_fetch_at": h.get("last_fetch_at"), "last_error": h.get("last_error"),
            "last_error_at": h.get("last_error_at"), "updated_at": h.get("updated_at"), "waiting": h.get("waiting"),
            "last_processed_at": last, "oldest_unprocessed_at": oldest,
            "oldest_unprocessed_age_s": (now - oldest).total_seconds() if oldest else None,
            "today": today, "failing": failing, "outbox": app.dispatcher.counts(),
            "uncertain": app.dispatcher.uncertain()}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def format_status(d: dict[str, Any]) -> str:
    age = d["oldest_unprocessed_age_s"]
    link = "connected" + (", idle" if d["idle"] else "") if d["connected"] else "NOT connected"
    lines = [f"mailbox: {d['mailbox']} ({link}; daemon {d['daemon']}" + (f", pid {d['pid']})" if d["pid"] else ")"),
             f"last fetch: {d['last_fetch_at'] or 'never'}; last processed: {d['last_processed_at'] or 'never'}",
             f"oldest unprocessed: {timedelta(seconds=int(age)) if age is not None else 'none'}"
             + (f" ({d['waiting']} waiting)" if d["waiting"] else ""),
             "today: " + ", ".join(f"{k} {v}" for k, v in d["today"].items())
             + (f"; {d['failing']} failing (retried, then quarantined)" if d["failing"] else ""),
             "outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(d["outbox"].items())) or "empty")]
    if d["last_error"]:
        lines.append(f"last error: {d['last_error']} ({d['last_error_at']})")
    lines += [f"  UNCERTAIN #{u['id']} to {', '.join(u['to'])}: {u['subject']} — check whether it arrived, "
              "then resend or not" for u in d["uncertain"]]
    return "\n".join(lines)
