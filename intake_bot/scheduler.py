"""Timed jobs (APScheduler): tacit-avis sweep, reminders and relances, the weekday digest; each job one call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlmodel import Session

from . import cases, reminders, repository
from . import digest as digestmod
from .model import CaseState
from .store import session
from .tables import CaseRow, InboundRow

if TYPE_CHECKING:
    from .wiring import App

log = logging.getLogger("intake_bot.scheduler")
OPEN_STATES = [CaseState.UNDER_REVIEW.value, CaseState.AWAITING_COMPLEMENT.value]


def today_in_paris(app: App) -> date:
    return app.clock().astimezone(ZoneInfo(app.settings.intake.timezone)).date()


def _per_case(app: App, states: Sequence[str], decide: Callable[[list[cases.CaseView]], Sequence[Any]],
              write: Callable[[Session, CaseRow, Any], bool]) -> int:
    """Decide on all cases in `states`, then write each result in its own transaction: one bad case is
    logged and skipped, the others go on (and it is retried at the next run). Returns what was written."""
    with Session(app.engine) as s:
        rows = repository.cases_in(s, list(states))
        results = decide([repository.view(s, r) for r in rows])
        ids = {r.ref: r.id for r in rows}
    done = 0
    for result in results:
        ref = result.case.ref if isinstance(result, cases.Transition) else result.ref
        try:
            with session(app.engine) as s:
                row = s.get(CaseRow, ids[ref])
                assert row is not None
                done += write(s, row, result)
        except Exception:
            log.exception("scheduled work on %s failed", ref)
    app.dispatcher.deliver_pending()
    return done


def _thread(s: Session, row: CaseRow) -> str | None:
    return repository.first_message_id(s, row.id)  # type: ignore[arg-type]


def sweep(app: App) -> int:
    """Cases whose délai ran out become ``deemed`` ("réputé favorable"); the ministry is told."""
    today, policy, mailbox = today_in_paris(app), app.applier.policy.deadline, app.applier.sender.address
    return _per_case(app, [CaseState.UNDER_REVIEW.value], lambda views: reminders.expired(views, policy, today, mailbox),
                     lambda s, row, tr: _commit(app, s, row, tr))


def _commit(app: App, s: Session, row: CaseRow, tr: cases.Transition) -> bool:
    app.applier.commit(s, row, tr, inbound_id=None, in_reply_to=_thread(s, row))
    return True


def remind(app: App) -> int:
    """Staff reminders before due dates, and relances of ministries silent after a request."""
    today, a = today_in_paris(app), app.applier
    labels = {item.id: item.label for item in a.kit.items}

    def decide(views: list[cases.CaseView]) -> list[reminders.Reminder]:
        return (reminders.rappels(views, a.policy.deadline, app.settings.deadline.reminder_days, a.policy.notify, today)
                + reminders.relances(views, a.policy.deadline, labels, today, a.sender.address))

    def write(s: Session, row: CaseRow, r: reminders.Reminder) -> bool:
        return a.queue_mail(s, r.mail, row.id, _thread(s, row) if r.kind == "relance" else None)
    return _per_case(app, OPEN_STATES, decide, write)


def build_digest(app: App) -> digestmod.Digest:
    """Today's digest from the database."""
    today, a = today_in_paris(app), app.applier
    since = digestmod.previous_weekday(today)
    with Session(app.engine) as s:
        views = [repository.view(s, r) for r in s.execute(select(CaseRow).order_by(CaseRow.ref)).scalars()]
        start = datetime.combine(since, datetime.min.time(), ZoneInfo(app.settings.intake.timezone))
        held = s.execute(select(InboundRow).where(InboundRow.status == "quarantined", InboundRow.received_at >= start)
                         .order_by(InboundRow.id)).scalars()
        quarantined = [digestmod.Quarantined(q.id, q.received_at, q.from_addr, q.subject, q.reason) for q in held]  # type: ignore[arg-type]
    partner_names = [name for name, addrs in a.policy.partners if addrs]
    return digestmod.build(views, quarantined, policy=a.policy.deadline, labels={i.id: i.label for i in a.kit.items},
                           partner_names=partner_names, today=today, since=since,
                           horizon=max(app.settings.deadline.reminder_days, default=7))


def digest_mail(app: App, d: digestmod.Digest) -> cases.MailSpec:
    return cases.MailSpec("staff.digest", app.applier.policy.notify, {"digest": d}, f"digest:{d.day.isoformat()}",
                          reply=False, auto_submitted="auto-generated")


def send_digest(app: App) -> bool:
    """The weekday digest, once a day (the outbox key is the day); nothing is sent on an empty day."""
    d = build_digest(app)
    if d.empty or not app.applier.policy.notify:
        log.info("digest of %s: nothing to send", d.day)
        return False
    with session(app.engine) as s:
        queued = app.applier.queue_mail(s, digest_mail(app, d), None)
    app.dispatcher.deliver_pending()
    return queued


def tick(app: App) -> dict[str, int]:
    """Every job once, now (cron or tests); the digest only on a weekday from ``[digest] hour`` on."""
    now = app.clock().astimezone(ZoneInfo(app.settings.intake.timezone))
    done = {"deemed": sweep(app), "reminders": remind(app), "digest": 0}
    if now.weekday() < 5 and now.hour >= app.settings.digest.hour:
        done["digest"] = int(send_digest(app))
    return done


def start(app: App) -> BackgroundScheduler:
    """Start the jobs in a background thread (Paris time); the sweep also runs at once, to catch up."""
    tz = ZoneInfo(app.settings.intake.timezone)
    hour = app.settings.digest.hour
    scheduler = BackgroundScheduler(timezone=tz, job_defaults={"coalesce": True, "misfire_grace_time": 6 * 3600})
    scheduler.add_job(sweep, CronTrigger(hour=0, minute=5, timezone=tz), args=[app], id="sweep",
                      next_run_time=datetime.now(tz))
    scheduler.add_job(remind, CronTrigger(hour=hour, minute=0, timezone=tz), args=[app], id="remind")
    scheduler.add_job(send_digest, CronTrigger(day_of_week="mon-fri", hour=hour, minute=5, timezone=tz), args=[app],
                      id="digest")
    scheduler.start()
    log.info("scheduler started: sweep 00:05, reminders %02d:00, digest %02d:05 (weekdays), %s", hour, hour, tz)
    return scheduler
