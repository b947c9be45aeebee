"""End-to-end latency: APPEND of a 5-attachment dossier -> receipt accepted by the SMTP sink, ``intake-bot run``.

The bot runs as a subprocess on a private Dovecot and an in-process aiosmtpd sink; each dossier is appended
by another IMAP client once the bot is back in IDLE (its health file says so), and timed until the sink's
DATA handler has the receipt. The bot's log splits each sample into "until decided" (IDLE push, listing,
download, parsing, decision) and "then sent" (kit pieces classified, rows, commit, outbox, SMTP).
Usage: python bench/intake_latency.py [-n 50] [--pieces 5]. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from intake_bot.report import read_health  # noqa: E402
from tests.bot import Daemon, dossier, wait_until, write_config  # noqa: E402
from tests.servers import private_dovecot  # noqa: E402
from tests.servers import MailAccount, SmtpSink  # noqa: E402

DECIDED = re.compile(r"^(\S+ \S+) INFO intake_bot\.pipeline: message <[^>]*\.n(\d+)@")


class TimedSink(SmtpSink):
    """The test sink, noting when each message was accepted."""

    def __init__(self, maildir: pathlib.Path) -> None:
        super().__init__(maildir)
        self.accepted: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.accepted.append(time.time())
        return answer


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(account: MailAccount, sink: TimedSink, workdir: pathlib.Path, n: int,
            pieces: int) -> list[tuple[float, float]]:
    """(APPEND -> sink, APPEND -> decided) in seconds, per dossier."""
    daemon = Daemon(write_config(workdir, account, sink.port), account, workdir / "bot.log").start()
    health = workdir / "status.json"
    samples = []
    try:
        for i in range(n):
            wait_until(lambda: (read_health(health) or {}).get("idle"), 30, "the bot to idle", daemon)
            raw = dossier(i, pieces)
            start = time.time()
            account.append(raw)
            wait_until(lambda i=i: len(sink.accepted) > i, 30, f"receipt {i}", daemon)
            samples.append(start)
            wait_until(lambda: not account.uids(), 30, "the move", daemon)
    finally:
        daemon.stop()
    decided = {int(m.group(2)): datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
               for line in daemon.output().splitlines() if (m := DECIDED.match(line))}
    return [(sink.accepted[i] - start, decided.get(i, start) - start) for i, start in enumerate(samples)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=50)
    ap.add_argument("--pieces", type=int, default=5, help="attachments per dossier")
    args = ap.parse_args()
    if not shutil.which("dovecot") or os.geteuid() != 0:
        print("skipped: needs root and Dovecot (dovecot-imapd dovecot-lmtpd)")
        return 0
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-latency-"))
    sink = TimedSink(workdir / "sink")
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        with private_dovecot() as server:
            samples = measure(server.add_user(), sink, workdir, args.messages, args.pieces)
    finally:
        controller.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    total = [t for t, _ in samples]
    decided = [d for _, d in samples]
    size = len(dossier(0, args.pieces)) / 1e3
    print(f"APPEND -> receipt accepted by the SMTP sink, {len(total)} dossiers of {args.pieces} attachments "
          f"({size:.0f} kB), intake-bot run: p50 {percentile(total, 50):.2f} s, p95 {percentile(total, 95):.2f} s, "
          f"max {max(total):.2f} s (goal p50 <= 1 s, p95 <= 2 s)")
    print(f"  of which APPEND -> decided (IDLE push, list, fetch, parse, decision): p50 "
          f"{percentile(decided, 50):.2f} s; decided -> accepted (kit pieces, rows, commit, SMTP): p50 "
          f"{percentile([t - d for t, d in samples], 50):.2f} s")
    print(f"  load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
