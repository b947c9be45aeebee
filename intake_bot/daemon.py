"""The long-running service: the intake loop, signals, systemd notification, and the health file ``status`` reads."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from . import config, durable
from .errors import MailboxError
from .mailbox import Mailbox
from .pipeline import Pipeline
from .report import health_path
from .wiring import build, build_mailbox

log = logging.getLogger("intake_bot.daemon")
HEARTBEAT_S = 5.0  # the file is rewritten at least this often: status tells a dead daemon by it
CHECK_S = 0.25  # and within this delay of a change (connection lost, IDLE entered, pass done)


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) how we are; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(addr)
            s.sendall(state.encode())
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class Health:
    """The intake's health as a small JSON file, rewritten atomically by a thread as soon as it changes
    (checked every ``CHECK_S``) and at least every ``interval`` seconds as a heartbeat: ``intake-bot status``
    runs in another process and reads it (``report.status``)."""

    def __init__(self, path: Path, mailbox: Mailbox, pipeline: Pipeline, interval: float = HEARTBEAT_S) -> None:
        self.path, self.mailbox, self.pipeline, self.interval = path, mailbox, pipeline, interval
        self.started_at = datetime.now(timezone.utc)
        self._written: dict[str, Any] = {}
        self._written_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="intake-health", daemon=True)

    def snapshot(self, state: str) -> dict[str, Any]:
        probe = getattr(self.mailbox, "health", None)  # ImapBox; a Maildir is always "connected"
        box: dict[str, Any] = probe() if probe else {"connected": True, "idle": False}
        last = self.pipeline.last_pass
        left = last.left if last else []
        return {"state": state, "pid": os.getpid(), "host": socket.gethostname(), "heartbeat_s": self.interval,
                "started_at": _iso(self.started_at), "updated_at": _iso(datetime.now(timezone.utc)),
                "mailbox": self.mailbox.name, "connected": bool(box.get("connected")), "idle": bool(box.get("idle")),
                "last_ok": _iso(box.get("last_ok")), "last_error": box.get("last_error"),
                "last_error_at": _iso(box.get("last_error_at")),
                "last_fetch_at": _iso(last.listed_at) if last else None, "waiting": len(left),
                "oldest_waiting_at": _iso(min(r.received_at for r in left)) if left else None}

    def write(self, state: str = "running", snapshot: dict[str, Any] | None = None) -> None:
        snapshot = snapshot or self.snapshot(state)
        self._written, self._written_at = snapshot, time.monotonic()
        data = json.dumps(snapshot, indent=1).encode()
        try:
            durable.ensure_dir(self.path.parent)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".status-")  # 0600
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half of one
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)

    def start(self) -> None:
        self.write()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.write("stopped")

    def _beat(self) -> None:
        while not self._stop.wait(CHECK_S):
            now = self.snapshot("running")
            if _changed(now, self._written) or time.monotonic() - self._written_at >= self.interval:
                self.write(snapshot=now)


def _changed(new: dict[str, Any], old: dict[str, Any]) -> bool:
    return any(new.get(k) != old.get(k) for k in new if k != "updated_at")


class _Interrupted(Exception):
    """SIGTERM or SIGINT while waiting for mail: leave the IDLE at once rather than at its timeout."""


def run(settings: config.Settings, once: bool = False) -> int:
    app = build(settings)
    app.dispatcher.recover(every_claim=True)  # a mail left 'sending' by a dead process: uncertain, never resent
    mailbox = build_mailbox(settings)
    pipeline = app.pipeline(mailbox)
    health = Health(health_path(settings), mailbox, pipeline)
    if once:
        try:
            counts = pipeline.run_once()
        finally:
            health.write("stopped")
            mailbox.close()
        print(f"processed {counts.processed}, ignored {counts.ignored}, duplicates {counts.duplicates}, "
              f"quarantined {counts.quarantined}, failed {counts.failed}")
        return 0
    stop, waiting = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current message", signum)
        stop.set()
        if waiting.is_set():
            raise _Interrupted()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    sd_notify("READY=1")
    jobs = app.start_scheduler()
    health.start()
    try:
        serve(pipeline, mailbox, min(settings.mailbox.poll_interval, 60.0), stop, waiting)
    except _Interrupted:
        pass  # cut mid-IDLE: close() below drops that connection (no LOGOUT the server would not answer)
    finally:
        jobs.shutdown(wait=False)
        sd_notify("STOPPING=1")
        health.stop()
        mailbox.close()
    return 0


def serve(pipeline: Pipeline, mailbox: Mailbox, wait_s: float, stop: threading.Event,
          waiting: threading.Event) -> None:
    """Process what waits, then wait for mail (IDLE), until ``stop``; a failing mailbox is retried with backoff."""
    backoff = 1.0
    while not stop.is_set():
        try:
            pipeline.run_once(stop)
            backoff = 1.0
            sd_notify("WATCHDOG=1")
            waiting.set()
            try:
                if not stop.is_set():
                    mailbox.wait(wait_s)
            finally:
                waiting.clear()
        except MailboxError as exc:
            log.warning("mailbox unavailable (%s); retrying in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 300.0)
