"""The long-running service: the intake loop, signals, and systemd notification."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType

from . import config
from .errors import MailboxError
from .wiring import build, build_mailbox

log = logging.getLogger("intake_bot.daemon")


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


def run(settings: config.Settings, once: bool = False) -> int:
    app = build(settings)
    mailbox = build_mailbox(settings)
    pipeline = app.pipeline(mailbox)
    if once:
        counts = pipeline.run_once()
        print(f"processed {counts.processed}, ignored {counts.ignored}, duplicates {counts.duplicates}, "
              f"quarantined {counts.quarantined}, failed {counts.failed}")
        mailbox.close()
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current message", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    sd_notify("READY=1")
    backoff = 1.0
    try:
        while not stop.is_set():
            try:
                pipeline.run_once()
                backoff = 1.0
                sd_notify("WATCHDOG=1")
                mailbox.wait(min(settings.mailbox.poll_interval, 60.0))
            except MailboxError as exc:
                log.warning("mailbox unavailable (%s); retrying in %.0f s", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 300.0)
    finally:
        sd_notify("STOPPING=1")
        mailbox.close()
    return 0
