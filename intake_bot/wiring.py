"""The composition root: the one place where settings become real adapters (DB, mailbox, transport, renderer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

from . import config, deadlines, kit as kitmod, store, transport
from .apply import Applier, Policy
from .errors import ConfigError
from .mailbox import Mailbox, MaildirBox
from .outbox import Dispatcher, Sender
from .pipeline import Pipeline
from .render import Renderer
from .staff import Staff

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def load_kit(settings: config.Settings) -> kitmod.Kit:
    path = settings.path(settings.intake.kit_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"[intake] kit_path: cannot read {path}: {exc.strerror}") from None
    return kitmod.Kit.from_toml(text)


def build_mailbox(settings: config.Settings) -> Mailbox:
    m = settings.mailbox
    scheme = urlsplit(m.url).scheme
    if scheme == "maildir":
        return MaildirBox(transport.resolve_path(m.url, settings.base_dir), m.processed_folder, m.quarantine_folder,
                          poll_interval=min(m.poll_interval, 2.0))
    from .imap import ImapBox  # imported here: the embedded default needs no IMAP library at start-up

    return ImapBox.from_url(m.url, password=config.secret("imap-password"), oauth2_token=config.secret("imap-oauth2-token"),
                            processed=m.processed_folder, quarantine=m.quarantine_folder, timeout=m.timeout,
                            idle_renew=m.idle_renew, poll_interval=m.poll_interval)


def build_policy(settings: config.Settings) -> Policy:
    i = settings.intake
    lower = lambda xs: frozenset(x.lower() for x in xs)  # noqa: E731
    notify = settings.digest.recipients or i.staff_addresses
    return Policy(our_addresses=lower((*i.our_addresses, settings.smtp.from_address)),
                  staff_addresses=lower(i.staff_addresses), allowed_domains=tuple(d.lower() for d in i.allowed_domains),
                  authserv_id=i.authserv_id, notify=tuple(notify),
                  deadline=deadlines.DeadlinePolicy(settings.deadline.delay, settings.deadline.extend_to_working_day),
                  partners=(("anssi", settings.partners.anssi), ("budget", settings.partners.budget)),
                  timezone=i.timezone)


@dataclass
class App:
    """Everything a command needs, built once."""

    settings: config.Settings
    engine: Engine
    applier: Applier
    dispatcher: Dispatcher
    blobs: store.BlobStore
    clock: Clock
    staff: Staff | None = None  # staff commands and the CLI's `case` actions

    def pipeline(self, mailbox: Mailbox | None = None) -> Pipeline:
        m = self.settings.mailbox
        return Pipeline(self.engine, mailbox or build_mailbox(self.settings), self.blobs, self.applier,
                        self.dispatcher, self.clock, max_message_bytes=self.settings.limits.max_message_bytes,
                        max_retries=m.max_retries, tz=self.settings.intake.timezone)

    def start_scheduler(self) -> BackgroundScheduler:
        """The timed jobs in a background thread (the daemon only: the CLI runs them with `tick`)."""
        from .scheduler import start

        return start(self)


def build_applier(settings: config.Settings, engine: Engine | None, clock: Clock) -> Applier:
    s = settings.smtp
    sender = Sender(s.from_address, s.from_name, s.max_per_recipient_per_day)
    return Applier(engine, load_kit(settings), Renderer(), sender, build_policy(settings), settings.limits, clock)


def build(settings: config.Settings, clock: Clock = system_clock, migrate: bool = True) -> App:
    engine = store.make_engine(settings.database.url, settings.base_dir)
    if migrate:
        store.migrate(engine)
    applier = build_applier(settings, engine, clock)
    out = transport.from_url(settings.smtp.url, settings.base_dir, password=config.secret("smtp-password"),
                             timeout=settings.smtp.timeout)
    dispatcher = Dispatcher(engine, out, applier.sender, clock)
    blobs = store.BlobStore(settings.path(settings.storage.blob_dir))
    applier.blobs = blobs
    staff = Staff(applier, settings.intake.timezone)
    applier.staff_handler = staff.handle
    return App(settings, engine, applier, dispatcher, blobs, clock, staff)


def outbox_dir(settings: config.Settings) -> Path | None:
    """Where the embedded transport writes receipts (None for SMTP)."""
    url = settings.smtp.url
    return transport.resolve_path(url, settings.base_dir) if url.startswith("dir:") else None
