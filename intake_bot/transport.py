"""Outgoing mail transports: SMTP (smtp://, smtps://) or a directory of .eml files (dir://, embedded default).

Both send in two phases so that the outbox knows which side of the point of no return a crash fell on: the
whole message but its end (SMTP: everything before the final ``<CRLF>.<CRLF>`` of DATA, which a server drops
with the connection, RFC 5321 §3.3 and §4.1.1.4; directory: a temporary file), then ``commit()`` (the outbox
commits the row 'committing'), then the end (the final dot; the rename).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from . import cleartext, durable
from .errors import ConfigError, IntakeError, TransportError

log = logging.getLogger("intake_bot.transport")
Commit = Callable[[], bool]


class DeliveryUncertain(IntakeError):
    """The end of the message went out but no verdict came back (timeout, connection lost after the final dot):
    it may have been accepted, so it must never be resent blindly. Deliberately not a TransportError, whose
    contract is "certainly not accepted, retrying is safe"."""


class SendAborted(TransportError):
    """``commit()`` refused (another sender holds the row): the message was cut before its end, so it was not
    accepted; the row is not this sender's to update."""


def _go() -> bool:
    return True


class Transport(Protocol):
    name: str

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str,
             commit: Commit = _go) -> None:
        """Hand one message over: all but its end, then ``commit()`` (False: SendAborted), then its end.
        Raise TransportError when it was certainly not accepted, DeliveryUncertain when its end went out
        and the outcome is unknown."""
        ...


def smtp_body(raw: bytes) -> bytes:
    """The DATA content, without its terminating ``.`` line: CRLF line endings (a bare CR or LF never reaches the
    server, so no server can read an early end of data in it), a line starting with ``.`` gets another."""
    data = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r\n|\r|\n", b"\r\n", raw))
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class DirTransport:
    """Writes each message as ``<digest of Message-ID>.eml``: re-sending the same message rewrites one file.
    The end of the message is the atomic rename of a complete, fsynced temporary file, made durable by an
    fsync of the directory: once ``send`` returns, the mail is there even after a power cut."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"dir:{path}"
        durable.ensure_dir(path)

    def file_for(self, message_id: str) -> Path:
        return self.path / (hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".eml")

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str,
             commit: Commit = _go) -> None:
        dest = self.file_for(message_id)
        envelope = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(recipients)}\r\n".encode()
        try:
            tmp = durable.write_temp(self.path, envelope + raw)
        except OSError as exc:
            raise TransportError(f"cannot write {dest}: {exc}") from exc
        try:
            if not commit():
                raise SendAborted(f"{self.name}: {message_id} taken by another sender, not written")
            try:
                os.replace(tmp, dest)  # atomic: when it fails, nothing was delivered
            except OSError as exc:
                raise TransportError(f"cannot write {dest}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        try:
            durable.fsync_dir(self.path)
        except OSError as exc:  # the file is in place (a reader may have it) but might not survive a crash
            raise DeliveryUncertain(f"{dest} written but its directory could not be flushed: {exc}") from exc


class SmtpTransport:
    """SMTP submission with implicit TLS (smtps), STARTTLS (required, or opportunistic) and optional login."""

    def __init__(self, host: str, port: int, *, implicit_tls: bool = False, starttls: str = "auto",
                 username: str | None = None, password: str | None = None, timeout: float = 30.0,
                 context: ssl.SSLContext | None = None, allow_cleartext: bool = False) -> None:
        self.host, self.port, self.implicit_tls, self.starttls = host, port, implicit_tls, starttls
        self.allow_cleartext = allow_cleartext
        self.username, self.password, self.timeout = username, password, timeout
        self.context = context or ssl.create_default_context()
        self.name = f"smtp:{host}:{port}"
        self._conn: smtplib.SMTP | None = None  # kept between messages: one connection for a pass, not one a mail
        self._lock = threading.Lock()  # one message at a time on it

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            # the final dot is a write of its own after a DB commit: no Nagle delay waiting for the body's ACK
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
            conn.ehlo()
            if not self.implicit_tls and (self.starttls == "require"
                                          or (self.starttls == "auto" and conn.has_extn("starttls"))):
                conn.starttls(context=self.context)
                conn.ehlo()
            if self.username:
                self._refuse_cleartext_login(conn)
                conn.login(self.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_cleartext_login(self, conn: smtplib.SMTP) -> None:
        """AUTH only inside TLS (or to loopback, or where the URL allows it): a TransportError of ours before
        the password is sent (an SMTP server that stops offering STARTTLS may be a man in the middle)."""
        if isinstance(conn.sock, ssl.SSLSocket):
            return
        try:
            cleartext.refuse_cleartext(f"SMTP {self.host}", self.host, tls=False, explicit=self.allow_cleartext)
        except ConfigError as exc:
            raise TransportError(str(exc)) from None

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str,
             commit: Commit = _go) -> None:
        """One message on the connection kept from the previous one (RSET first; a new connection when there is
        none or it no longer answers). Any failure drops the connection: before the dot, closing it is what
        drops the transaction; after it, the next message starts on a fresh one."""
        body = smtp_body(raw)
        with self._lock:
            conn = self._ready()
            done = False
            try:
                try:
                    refused = self._open_data(conn, sender, recipients, len(body))
                    conn.send(body)
                except (smtplib.SMTPException, OSError) as exc:
                    raise TransportError(f"{self.name}: {exc}") from exc
                if not commit():  # in DATA nothing but the dot or a close ends it: RSET would be message text
                    raise SendAborted(f"{self.name}: {message_id} taken by another sender, cut before its end")
                self._end_data(conn, message_id)
                done = True
            finally:
                if not done:  # whatever happens before the dot, closing the connection (a kill does too) drops it
                    self._drop()
        if refused:
            log.warning("some recipients refused for %s: %s", message_id, refused)

    def _ready(self) -> smtplib.SMTP:
        """The kept connection once RSET says it is idle and alive, else a new one (TransportError if none)."""
        if self._conn is not None:
            try:
                code, _ = self._conn.rset()
                if code == 250:
                    return self._conn
            except (smtplib.SMTPException, OSError) as exc:
                log.debug("%s: kept connection gone (%s), reconnecting", self.name, exc)
            self._drop()
        try:
            self._conn = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"{self.name}: {exc}") from exc
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """End the kept connection politely (QUIT): the end of a pass, or of a burst of mail."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError) as exc:  # every mail on it is settled: nothing depends on it
                log.debug("%s: QUIT: %s", self.name, exc)
                conn.close()

    def _open_data(self, conn: smtplib.SMTP, sender: str, recipients: Sequence[str],
                   size: int) -> dict[str, tuple[int, bytes]]:
        """MAIL, RCPT, DATA up to the 354; the recipients refused (all refused: TransportError)."""
        code, reply = conn.mail(sender, [f"SIZE={size}"] if conn.has_extn("size") else [])
        if code != 250:
            raise TransportError(f"{self.name}: MAIL FROM refused: {code} {reply!r}")
        refused = {}
        for rcpt in recipients:
            code, reply = conn.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(recipients):
            raise TransportError(f"{self.name}: all recipients refused: {refused}")
        code, reply = conn.docmd("DATA")
        if code != 354:
            raise TransportError(f"{self.name}: DATA refused: {code} {reply!r}")
        return refused

    def _end_data(self, conn: smtplib.SMTP, message_id: str) -> None:
        """The point of no return: the dot, then the verdict; a definite 4xx/5xx is TransportError."""
        try:
            conn.send(b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryUncertain(f"{self.name}: no answer to the end of {message_id}: {exc}") from exc
        if 400 <= code < 600:
            raise TransportError(f"{self.name}: {message_id} refused at the end of data: {code} {reply!r}")
        if not 200 <= code < 300:
            raise DeliveryUncertain(f"{self.name}: unreadable answer to the end of {message_id}: {code} {reply!r}")


def from_url(url: str, base_dir: Path, password: str | None = None, timeout: float = 30.0) -> Transport:
    """Build the transport named by the [smtp] url."""
    parts = urlsplit(url)
    if parts.scheme == "dir":
        return DirTransport(resolve_path(url, base_dir))
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError(f"[smtp] url: unsupported scheme {parts.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    starttls = query.get("starttls", "auto")
    if starttls not in ("auto", "require", "off"):
        raise ConfigError(f"[smtp] url: starttls={starttls!r}, expected auto, require or off")
    host, explicit = parts.hostname or "localhost", cleartext.allowed(query, "[smtp]")
    if parts.scheme == "smtp" and parts.username and starttls != "require":
        cleartext.refuse_cleartext("[smtp] url", host, tls=starttls != "off", explicit=explicit)
        if not explicit and not cleartext.is_loopback(host):
            starttls = "require"  # "auto" would log in in clear when the server (or a man in the middle) offers no STARTTLS
    context = ssl.create_default_context(cafile=query.get("cafile"))
    return SmtpTransport(host, parts.port or (465 if parts.scheme == "smtps" else 25),
                         implicit_tls=parts.scheme == "smtps", starttls=starttls,
                         username=unquote(parts.username) if parts.username else None, password=password,
                         timeout=timeout, context=context, allow_cleartext=explicit)


def resolve_path(url: str, base_dir: Path) -> Path:
    """``scheme:///abs/path`` is absolute; ``scheme://rel/path`` is relative to the config file's directory."""
    rest = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[1]
    path = Path(unquote(rest.split("?", 1)[0]))
    return path if path.is_absolute() else base_dir / path
