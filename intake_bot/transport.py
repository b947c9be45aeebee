"""Outgoing mail transports: SMTP (smtp://, smtps://) or a directory of .eml files (dir://, embedded default)."""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ConfigError, TransportError

log = logging.getLogger("intake_bot.transport")


class Transport(Protocol):
    name: str

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str) -> None:
        """Hand one message over; raise TransportError when it was certainly not accepted."""
        ...


class DirTransport:
    """Writes each message as ``<digest of Message-ID>.eml``: re-sending the same message rewrites one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"dir:{path}"
        path.mkdir(parents=True, exist_ok=True)

    def file_for(self, message_id: str) -> Path:
        return self.path / (hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".eml")

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str) -> None:
        dest = self.file_for(message_id)
        envelope = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(recipients)}\r\n".encode()
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(envelope + raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise TransportError(f"cannot write {dest}: {exc}") from exc


class SmtpTransport:
    """SMTP submission with implicit TLS (smtps), STARTTLS (required, or opportunistic) and optional login."""

    def __init__(self, host: str, port: int, *, implicit_tls: bool = False, starttls: str = "auto",
                 username: str | None = None, password: str | None = None, timeout: float = 30.0,
                 context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.implicit_tls, self.starttls = host, port, implicit_tls, starttls
        self.username, self.password, self.timeout = username, password, timeout
        self.context = context or ssl.create_default_context()
        self.name = f"smtp:{host}:{port}"

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        conn.ehlo()
        if self.starttls == "require" or (self.starttls == "auto" and conn.has_extn("starttls")):
            conn.starttls(context=self.context)
            conn.ehlo()
        return conn

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], message_id: str) -> None:
        try:
            with self._connect() as conn:
                if self.username:
                    conn.login(self.username, self.password or "")
                refused = conn.sendmail(sender, list(recipients), raw)
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"{self.name}: {exc}") from exc
        if refused:
            log.warning("some recipients refused for %s: %s", message_id, refused)


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
    context = ssl.create_default_context(cafile=query.get("cafile"))
    return SmtpTransport(parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25),
                         implicit_tls=parts.scheme == "smtps", starttls=starttls,
                         username=unquote(parts.username) if parts.username else None, password=password,
                         timeout=timeout, context=context)


def resolve_path(url: str, base_dir: Path) -> Path:
    """``scheme:///abs/path`` is absolute; ``scheme://rel/path`` is relative to the config file's directory."""
    rest = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[1]
    path = Path(unquote(rest.split("?", 1)[0]))
    return path if path.is_absolute() else base_dir / path
