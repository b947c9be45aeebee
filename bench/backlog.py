"""Backlog throughput: N realistic saisines waiting in the INBOX, processed by one pass of the pipeline.

Dovecot (IMAP) -> pipeline (SQLite, blob store, extraction worker) -> SMTP sink in its own process, then the
same bytes through ``parsing.parse_message`` alone (parse + extraction, no IMAP, no database, no decision)
for the ratio. Also prints where this thread's time went (decision + rows, outbox delivery).
Usage: python bench/backlog.py [-n 500 1000] [--eml DIR] [--repeat K]. Prints figures, asserts nothing.
``--eml DIR`` takes the messages from DIR's .eml files instead (cycled to N, each copy with its own
Message-ID and sender mailbox); ``--repeat K`` runs each size K times (the machine's noise shows).
"""

from __future__ import annotations

import argparse
import functools
import os
import pathlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from intake_bot import config, decision, facts  # noqa: E402
from intake_bot.parsing import parse_message  # noqa: E402
from intake_bot.wiring import App, build  # noqa: E402
from tests.bot import crlf, saisines, sink_process, vary, write_config  # noqa: E402
from tests.servers import private_dovecot  # noqa: E402
from tests.servers import MailAccount  # noqa: E402


def timed(spent: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
    return wrapper


def messages(n: int, eml_dir: pathlib.Path | None) -> list[bytes]:
    if eml_dir is None:
        return saisines(n)
    sources = [crlf(p.read_bytes()) for p in sorted(eml_dir.glob("*.eml"))]
    if not sources:
        raise SystemExit(f"no .eml file in {eml_dir}")
    return [vary(sources[k % len(sources)], k) for k in range(n)]


def backlog(account: MailAccount, n: int, workdir: pathlib.Path, eml_dir: pathlib.Path | None = None
            ) -> dict[str, float]:
    raws = messages(n, eml_dir)
    account.append_many(raws)
    spent: dict[str, float] = {}
    with sink_process(workdir / "sink") as port:
        app = build(config.load(write_config(workdir, account, port), env={}))
        app.applier.apply = timed(spent, "decide", app.applier.apply)  # type: ignore[method-assign]
        app.dispatcher._deliver = timed(spent, "deliver", app.dispatcher._deliver)  # type: ignore[method-assign]
        box = account.box(timeout=60.0)
        pipeline = app.pipeline(box)
        parse_message(raws[0], app.applier.limits)  # the extraction worker is up, as in a running daemon
        cpu, start = time.process_time(), time.perf_counter()
        counts = pipeline.run_once()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        box.close()
        alone, core = parse_and_core(app, raws)
        sent = len(list((workdir / "sink" / "new").iterdir()))
    settled = counts.processed + counts.ignored + counts.quarantined + counts.duplicates
    if (settled, account.uids()) != (n, []) or (eml_dir is None and (counts.processed, sent) != (n, n)):
        print(f"  warning: {counts}, receipts {sent}, left in the inbox {len(account.uids())}")
    elif eml_dir is not None:
        print(f"  {counts}, {sent} mails sent")
    return {"total": total, "alone": alone, "core": core, "cpu": cpu, **spent}


def parse_and_core(app: App, raws: list[bytes]) -> tuple[float, float]:
    """Seconds to parse + extract the messages alone, and for the pure core to classify and decide them
    (what the pipeline does besides I/O: kit pieces, facts, decision; no database, no rendering)."""
    alone = core = 0.0
    for raw in raws:
        start = time.perf_counter()
        parsed = parse_message(raw, app.applier.limits)
        middle = time.perf_counter()
        decision.decide(parsed, app.applier.context(None, parsed))
        facts.read_facts(parsed, app.applier.kit)
        app.applier.intake(parsed, date(2026, 11, 25), "bench")
        alone, core = alone + middle - start, core + time.perf_counter() - middle
    return alone, core


def report(n: int, r: dict[str, float]) -> None:
    print(f"{n} messages: {r['total']:.1f} s, {n / r['total']:.1f} msg/s; parse + extraction alone "
          f"{r['alone']:.1f} s: ratio {r['total'] / r['alone']:.2f} (goal <= 1.3); the pure core's "
          f"classification and decision alone {r['core']:.1f} s: ratio to parse + core "
          f"{r['total'] / (r['alone'] + r['core']):.2f}")
    print(f"  decider thread: decision + rows {r['decide'] / n * 1000:.0f} ms/msg, outbox delivery "
          f"{r['deliver'] / n * 1000:.1f} ms/msg ({r['deliver'] / r['total']:.1%} of the time: the window "
          f"a kill leaves a receipt 'uncertain'), CPU of this process {r['cpu'] / n * 1000:.0f} ms/msg; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, nargs="+", default=[500, 1000])
    ap.add_argument("--eml", type=pathlib.Path, help="a directory of .eml files to use instead of the saisines")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("dovecot") or os.geteuid() != 0:
        print("skipped: needs root and Dovecot (dovecot-imapd dovecot-lmtpd)")
        return 0
    results: dict[int, list[dict[str, float]]] = {}
    with private_dovecot() as server:
        for _ in range(args.repeat):
            for n in args.messages:
                workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-backlog-"))
                try:
                    r = backlog(server.add_user(), n, workdir, args.eml)
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                results.setdefault(n, []).append(r)
                report(n, r)
    if len(results) == 2:
        (a, ra), (b, rb) = sorted(results.items())
        times = sorted(y["total"] / x["total"] for x, y in zip(ra, rb))
        print(f"{b} messages take {', '.join(f'{t:.2f}' for t in times)}x the time of {a} "
              f"(goal <= {2.1 * b / a / 2:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
