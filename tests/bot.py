"""intake-bot against the test servers: realistic saisines, a config file, the daemon as a subprocess, the rows.

Shared by the integration tests (test_intake_imap, test_exactly_once, test_status) and the benchmarks.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from intake_bot.tables import InboundRow, OutboxRow
from tests.servers import MailAccount, free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "saisines"
KIT = ROOT / "config" / "kit.toml"
BOT = Path(sys.executable).with_name("intake-bot")
# the examples that open a case and get a receipt (05 follows 04 up, 07 is an auto-reply)
OPENING = ("01-portalis-justice", "02-france-visas-interieur-zip", "03-opale-education-odf",
           "04-expadon2-agriculture-sans-planning", "06-franceconnect-spm-sous-seuil",
           "08-france-sesame-finances-information")
CASE_TAG = re.compile(r"\[(GP-\d{4}-\d{4})\]")
STAFF = "equipe@numerique.gouv.fr"


def vary(raw: bytes, n: int) -> bytes:
    """Another saisine from the same ministry: its own Message-ID and sender mailbox (the daily cap on
    automatic mail counts per recipient, and a ministry's secretariat has several senders)."""
    raw = re.sub(rb"(?m)^Message-ID: <([^@>]+)@", lambda m: b"Message-ID: <%s.n%d@" % (m.group(1), n), raw, count=1)
    return re.sub(rb"(?m)^(From: [^\r\n]*<)([^@>]+)@", lambda m: m.group(1) + b"%s-%d@" % (m.group(2), n), raw,
                  count=1)


def saisines(count: int, start: int = 0) -> list[bytes]:
    """``count`` distinct realistic saisines (3 to 10 real documents each), each opening its own case."""
    examples = [crlf((EXAMPLES / f"{stem}.eml").read_bytes()) for stem in OPENING]
    return [vary(examples[n % len(examples)], n) for n in range(start, start + count)]


def crlf(raw: bytes) -> bytes:
    """Lines ending in CRLF, as mail travels (and as IMAP serves it back byte for byte)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def dossier(n: int, pieces: int = 5) -> bytes:
    """The PORTALIS saisine cut to its letter + ``pieces - 1`` documents: a ``pieces``-attachment dossier."""
    raw = vary(crlf((EXAMPLES / "01-portalis-justice.eml").read_bytes()), n)
    msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
    msg.set_payload(list(msg.iter_parts())[:1 + pieces])  # the text/HTML body, then the attachments
    return msg.as_bytes(policy=email.policy.SMTP)


def write_config(workdir: Path, account: MailAccount, smtp_port: int, database: str = "sqlite:///intake.db",
                 **sections: dict[str, Any]) -> Path:
    """A TOML config for the account's INBOX and the sink; the password goes in the environment (``env``)."""
    data: dict[str, dict[str, Any]] = {
        "mailbox": {"url": account.url(), "poll_interval": 30.0, "timeout": 10.0},
        "smtp": {"url": f"smtp://127.0.0.1:{smtp_port}?starttls=off", "timeout": 10.0},
        "database": {"url": database}, "storage": {"blob_dir": "blobs"},
        "intake": {"kit_path": str(KIT), "staff_addresses": ["agent@numerique.gouv.fr"]},
        "digest": {"recipients": [STAFF]}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    lines = []
    for name, values in data.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path = workdir / "intake-bot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def env(account: MailAccount) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return {**clean, "INTAKE_IMAP_PASSWORD": account.password}


class Daemon:
    """``intake-bot run`` as a subprocess (its own session: SIGKILL reaches the extraction worker too)."""

    def __init__(self, config: Path, account: MailAccount, log: Path) -> None:
        self.config, self.account, self.log = config, account, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Daemon:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(BOT), "-v", "-c", str(self.config), "run"], env=env(self.account),
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.config.parent,
                                         start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the bot and its worker: no clean-up of any kind, as a power cut would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reap()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as systemd does; returns the exit code."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout)
        finally:
            self._reap()
        return code

    def _reap(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group (the extraction worker)
            except ProcessLookupError:
                pass

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
               alive: Daemon | None = None) -> Any:
    """Poll ``predicate`` until it is truthy; fail with ``what`` (and the daemon's log) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None and alive.proc is not None and alive.proc.poll() is not None:
            raise AssertionError(f"intake-bot exited ({alive.proc.returncode}) waiting for {what}:\n"
                                 + alive.output()[-4000:])
        if time.monotonic() > deadline:
            tail = alive.output()[-4000:] if alive is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(0.05)


def engine(url: str, workdir: Path) -> Engine:
    """An engine on the bot's database (a relative SQLite path is relative to the config's directory)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{workdir / url[len('sqlite:///'):]}"
    return create_engine(url)


def inbound(db: Engine) -> list[InboundRow]:
    with Session(db) as s:
        try:
            return list(s.execute(select(InboundRow).order_by(InboundRow.id)).scalars())
        except Exception:  # noqa: BLE001 - the schema is not there yet (the bot is starting)
            return []


def outbox(db: Engine) -> list[OutboxRow]:
    with Session(db) as s:
        try:
            return list(s.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars())
        except Exception:  # noqa: BLE001 - idem
            return []


def done(db: Engine) -> int:
    """Inbound rows in a final state."""
    with db.connect() as c:
        try:
            return int(c.execute(text("select count(*) from inbound_messages where status in "
                                      "('processed', 'duplicate', 'ignored', 'quarantined')")).scalar() or 0)
        except Exception:  # noqa: BLE001 - idem
            return 0


def tags(subjects: Iterable[str]) -> Counter[str]:
    """How many times each case reference appears in these subjects."""
    return Counter(m.group(1) for subject in subjects if (m := CASE_TAG.search(subject)))


def fresh_database(pg_url: str, name: str) -> str:
    """A new empty database on the test PostgreSQL cluster; its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url.rsplit('/', 1)[0]}/{name}"


# --- outside pytest (the benchmarks) ---------------------------------------------------------------------

@contextlib.contextmanager
def sink_process(maildir: Path) -> Iterator[int]:
    """The ``SmtpSink`` in a process of its own (a relay is another program: it must not share our GIL);
    yields its port. Accepted mail lands in ``maildir``."""
    port = free_port()
    code = ("import sys, threading; from aiosmtpd.controller import Controller; from tests.servers import SmtpSink; "
            "from pathlib import Path; sink = SmtpSink(Path(sys.argv[1])); sink.port = int(sys.argv[2]); "
            "Controller(sink, hostname=sink.host, port=sink.port).start(); print('ready', flush=True); "
            "threading.Event().wait()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(maildir), str(port)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield port
    finally:
        proc.kill()
        proc.wait()
