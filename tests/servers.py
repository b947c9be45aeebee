"""Pytest fixtures starting real servers on loopback: Dovecot (IMAP, IMAPS, LMTP), an SMTP sink, PostgreSQL."""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import itertools
import mailbox
import os
import pathlib
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import pytest
from imapclient import IMAPClient

if TYPE_CHECKING:
    from intake_bot.imap import ImapBox

HOST = "127.0.0.1"
DOMAIN = "example.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_greeting(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Ready = the greeting line is readable (imap-login withholds it until auth is up), not just TCP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5) as s:
            s.settimeout(5)
            if s.makefile("rb").readline():
                return
        time.sleep(0.02)
    raise TimeoutError(f"no greeting on {HOST}:{port}")


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL the whole process group: Dovecot's children outlive the master briefly."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # needs start_new_session=True


def make_mail(subject: str = "Saisine", *, to: str = f"testuser@{DOMAIN}", body: str = "Bonjour.\n",
              sender: str = f"prefecture@{DOMAIN}", message_id: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if message_id:
        msg["Message-ID"] = email.utils.make_msgid(domain=DOMAIN)
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


DOVECOT_CONF = """\
instance_name = dovecot-test-{imap_port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
hostname = localhost
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
# xoauth2 with a non-oauth2 passdb: Dovecot checks the bearer token as the password
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
auth_username_format = %Ln
mail_uid = nobody
mail_gid = nogroup
mail_fsync = never
mail_location = maildir:{d}/mail/%n
passdb {{
  driver = static
  args = password=pw-%n
}}
userdb {{
  driver = static
  args = home={d}/mail/%n
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""


class MailAccount:
    """One IMAP user of the test Dovecot, with helpers acting as another mail client or an MTA would."""

    host: str
    port: int

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server, self.user, self.password = server, user, password
        self.host, self.port = server.host, server.port

    @property
    def address(self) -> str:
        return f"{self.user}@{DOMAIN}"

    def url(self, folder: str = "INBOX", tls: bool = False) -> str:
        port = self.server.imaps_port if tls else self.port
        return f"{'imaps' if tls else 'imap'}://{self.user}@{self.host}:{port}/{folder}"

    def box(self, **options: Any) -> ImapBox:
        """An ``ImapBox`` on this account's INBOX over plain IMAP (options go to its constructor)."""
        from intake_bot.imap import ImapBox
        options.setdefault("timeout", 10.0)
        return ImapBox(self.host, self.port, ssl=False, starttls=False, username=self.user,
                       password=self.password, **options)

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A second, independent IMAP client logged in as this user."""
        with IMAPClient(self.host, self.port, ssl=False, timeout=10) as c:
            c.login(self.user, self.password)
            yield c

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX", flags: Sequence[bytes] = (),
                    internal_date: datetime | None = None) -> list[int]:
        """APPEND messages over one connection (creating the folder); returns their UIDs."""
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            uids = []
            for raw in raws:
                resp = c.append(folder, raw, flags=flags, msg_time=internal_date)
                uids.append(int(resp.split(b"]")[0].split()[-1]))  # b"[APPENDUID <validity> <uid>] ..."
            return uids

    def append(self, raw: bytes, folder: str = "INBOX", flags: Sequence[bytes] = (),
               internal_date: datetime | None = None) -> int:
        return self.append_many([raw], folder, flags, internal_date)[0]

    def deliver_lmtp(self, raw: bytes, sender: str = f"prefecture@{DOMAIN}") -> None:
        """Deliver as the MTA would (Dovecot LMTP): triggers IDLE notifications like real mail."""
        with smtplib.LMTP(self.host, self.server.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(sender, [self.address], raw)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            return sorted(c.search("ALL"))

    def messages(self, folder: str = "INBOX") -> dict[int, dict[bytes, Any]]:
        """UID -> {b"BODY[]": raw bytes, b"FLAGS": flags}, read without setting \\Seen."""
        with self.client() as c:
            if not c.folder_exists(folder):
                return {}
            c.select_folder(folder, readonly=True)
            return dict(c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS"]))

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as c:
            return int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def recreate_inbox(self) -> int:
        """Give the INBOX a new UIDVALIDITY (as a recreated mailbox has); returns it. Mail stays."""
        new = max(self.uidvalidity() + 1, int(time.time()))
        self.server.doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(new), "INBOX")
        return new

    def kick(self) -> None:
        """Disconnect this user's IMAP sessions server-side (a lighter fault than a restart)."""
        self.server.doveadm("kick", self.user)


class DovecotServer(MailAccount):
    """A private Dovecot: IMAP ``port``, IMAPS ``imaps_port`` (self-signed ``cafile``), ``lmtp_port``."""

    def __init__(self, d: pathlib.Path) -> None:
        self.dir, self.host = d, HOST
        self.port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.conf, self.cafile, self.log = d / "dovecot.conf", d / "cert.pem", d / "dovecot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._users = itertools.count(1)
        for sub in ("run", "state", "mail"):
            (d / sub).mkdir()
        shutil.chown(d / "mail", "nobody", "nogroup")  # mail processes run as nobody
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(d / "key.pem"), "-out", str(self.cafile)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (d / "key.pem").chmod(0o600)
        self.conf.write_text(DOVECOT_CONF.format(d=d, imap_port=self.port, imaps_port=self.imaps_port,
                                                 lmtp_port=self.lmtp_port))
        super().__init__(self, "testuser", "pw-testuser")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start (again) on the same ports and directories: mail and UIDs survive a restart."""
        if not self.running:
            self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], start_new_session=True)
            wait_greeting(self.port, self.proc)

    def stop(self) -> None:
        """Stop like an admin would (SIGTERM: clients get BYE), then kill stragglers. Takes 1-3 s."""
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def add_user(self) -> MailAccount:
        """A new user with an empty mailbox. Every name exists (static passdb: password ``pw-<name>``):
        a passwd-file is re-read only when its mtime changes, which misses a second user in the same second."""
        name = f"u{next(self._users)}"
        return MailAccount(self, name, f"pw-{name}")

    def doveadm(self, *args: str) -> str:
        return subprocess.run(["doveadm", "-c", str(self.conf), *args], check=True, capture_output=True,
                              text=True, timeout=30).stdout


@contextlib.contextmanager
def private_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot of its own in a fresh directory, stopped and removed at the end (fixtures and benchmarks)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="dc-", dir="/tmp"))  # short: socket paths < 108 chars
    d.chmod(0o755)  # every parent must be o+x for the dovecot/nobody processes
    server = DovecotServer(d)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    if not (shutil.which("dovecot") and shutil.which("doveadm") and shutil.which("openssl")):
        pytest.skip("dovecot not installed (apt-get install dovecot-imapd dovecot-lmtpd)")
    if os.geteuid() != 0:
        pytest.skip("the Dovecot fixture needs root (mail processes run as nobody)")
    with private_dovecot() as server:
        yield server


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> MailAccount:
    """A fresh user (empty mailbox) on the session Dovecot, restarted first if a test left it stopped."""
    dovecot.start()
    return dovecot.add_user()


class SmtpSink:
    """The SMTP server receipts go to (an aiosmtpd handler): ``host``, ``port``, ``url``, ``maildir``.

    Keeps every accepted message as received, in memory (``raw()``, ``messages()``) and in a Maildir."""

    def __init__(self, maildir: pathlib.Path) -> None:
        self.host, self.port, self.maildir = HOST, free_port(), maildir
        self.url = f"smtp://{self.host}:{self.port}"
        self._box = mailbox.Maildir(maildir, create=True)
        self._lock = threading.Lock()
        self._received: list[tuple[str, list[str], bytes]] = []
        self._failures_left, self.refused = 0, 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                self.refused += 1
                return "451 4.3.0 Temporary failure (test sink)"
            raw = envelope.original_content or envelope.content
            self._received.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
            key = self._box.add(raw)
        return f"250 2.0.0 OK queued as {key}"

    def fail_next(self, n: int = 1) -> None:
        """Answer the next ``n`` DATA commands with 451 (a temporary failure: the sender must retry)."""
        with self._lock:
            self._failures_left = n

    def raw(self) -> list[bytes]:
        with self._lock:
            return [raw for _, _, raw in self._received]

    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self._lock:
            return [(sender, rcpts) for sender, rcpts, _ in self._received]

    def messages(self) -> list[EmailMessage]:
        """Accepted messages in arrival order, parsed."""
        return [email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
                for raw in self.raw()]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages once there are at least ``n``; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.raw()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"SMTP sink got {len(self.raw())} of {n} messages in {timeout} s")
            time.sleep(0.02)
        return self.messages()


@pytest.fixture
def smtp_sink(tmp_path: pathlib.Path) -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller
    sink = SmtpSink(tmp_path / "sink")
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()  # returns once it has probed the server itself
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/intake`` on a throwaway cluster (trust auth)."""
    root = pathlib.Path("/usr/lib/postgresql")
    versions = sorted((p.name for p in root.iterdir() if p.name.isdigit()), key=int) if root.is_dir() else []
    if not versions or not shutil.which("runuser"):
        pytest.skip("postgresql not installed")
    pgbin, port = root / versions[-1] / "bin", free_port()
    d = pathlib.Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
    d.chmod(0o755)
    shutil.chown(d, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    quiet: dict[str, Any] = {"check": True, "stdout": subprocess.DEVNULL, "cwd": d}  # cwd: postgres can read it
    try:
        subprocess.run([*as_pg, f"{pgbin}/initdb", "-D", f"{d}/data", "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], **quiet)
        subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/server.log", "-w", "-t", "30",
                        "-o", f"-c listen_addresses={HOST} -p {port} -k {d} -c fsync=off "
                              "-c synchronous_commit=off -c full_page_writes=off", "start"], **quiet)
        subprocess.run([*as_pg, f"{pgbin}/createdb", "-h", HOST, "-p", str(port), "-U", "postgres", "intake"],
                       **quiet)
        yield f"postgresql+psycopg://postgres@{HOST}:{port}/intake"
    finally:
        subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", f"{d}/data", "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
        shutil.rmtree(d, ignore_errors=True)
