"""IMAP-only figures on a private Dovecot: APPEND-to-fetched latency through IDLE, and backlog throughput.

Not the issue's end-to-end benchmark (that needs the pipeline and the SMTP sink); this is the share of
the latency and throughput budget spent in ``ImapBox``. Usage: python bench/imap_latency.py [-n 50] [-b 500]
"""

from __future__ import annotations

import argparse
import email.policy
import os
import pathlib
import shutil
import statistics
import sys
import threading
import time
from email.message import EmailMessage

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.servers import private_dovecot  # noqa: E402
from tests.servers import DOMAIN, MailAccount  # noqa: E402


def dossier(i: int, attachments: int = 5, size: int = 150_000) -> bytes:
    """A saisine with ``attachments`` PDF-typed files of ``size`` random bytes each."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"prefecture@{DOMAIN}", f"saisines@{DOMAIN}", f"Saisine {i}"
    msg.set_content("Madame, Monsieur,\n\nVeuillez trouver ci-joint le dossier.\n")
    for k in range(attachments):
        msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf", filename=f"piece-{k}.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF, as IMAP returns it


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def latency(account: MailAccount, n: int) -> list[float]:
    """APPEND by another client -> IDLE wakes the box -> pending -> fetch -> move; seconds per message."""
    box, raws, times = account.box(), [dossier(i) for i in range(n)], []
    try:
        list(box.pending())
        for raw in raws:
            start = time.perf_counter()
            threading.Thread(target=account.append, args=(raw,)).start()
            while not box.wait(10):
                pass
            for ref in box.pending():
                assert box.fetch(ref) == raw
                box.mark_processed(ref)
            times.append(time.perf_counter() - start)
    finally:
        box.close()
    return times


def backlog(account: MailAccount, n: int) -> dict[str, float]:
    """``n`` one-attachment messages waiting: seconds to list, to download all, to move all."""
    account.append_many(dossier(i, attachments=1, size=40_000) for i in range(n))
    box, phases = account.box(), {}
    try:
        start = time.perf_counter()
        refs = list(box.pending())
        phases["list"] = time.perf_counter() - start
        start = time.perf_counter()
        for ref in refs:
            box.fetch(ref)
        phases["fetch"] = time.perf_counter() - start
        start = time.perf_counter()
        for ref in refs:
            box.mark_processed(ref)
        phases["move"] = time.perf_counter() - start
    finally:
        box.close()
    assert len(refs) == n and account.uids() == []
    return phases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=50, help="latency samples (5-attachment dossiers)")
    ap.add_argument("-b", "--backlog", type=int, default=500, help="messages in the backlog run")
    args = ap.parse_args()
    if not shutil.which("dovecot") or os.geteuid() != 0:
        print("skipped: needs root and Dovecot (dovecot-imapd dovecot-lmtpd)")
        return 0
    with private_dovecot() as server:
        times = latency(server.add_user(), args.messages)
        size = len(dossier(0)) / 1e6
        print(f"APPEND -> IDLE wake -> fetch -> MOVE, {args.messages} dossiers of {size:.1f} MB: "
              f"p50 {percentile(times, 50) * 1000:.0f} ms, p95 {percentile(times, 95) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms")
        phases = backlog(server.add_user(), args.backlog)
        total = sum(phases.values())
        print(f"backlog of {args.backlog}: list {phases['list'] * 1000:.0f} ms, "
              f"fetch {args.backlog / phases['fetch']:.0f} msg/s, move {args.backlog / phases['move']:.0f} msg/s, "
              f"total {total:.2f} s = {args.backlog / total:.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
