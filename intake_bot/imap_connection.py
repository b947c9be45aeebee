"""One IMAP session kept alive: TLS, login, timeouts, reconnection with backoff, health for ``status``."""

from __future__ import annotations

import logging
import random
import ssl as ssl_lib
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from intake_bot.backoff import Backoff
from intake_bot.errors import MailboxError

log = logging.getLogger("intake_bot.imap")

T = TypeVar("T")

#: Everything a network or server failure can raise; each one means "drop the session, reconnect".
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, IMAPClientError, EOFError)


def is_permanent(exc: BaseException) -> bool:
    """Errors that retrying within the same call cannot fix: an untrusted certificate, refused credentials."""
    if isinstance(exc, (ssl_lib.SSLCertVerificationError, CapabilityError)):
        return True
    return isinstance(exc, LoginError) and "UNAVAILABLE" not in str(exc)


def describe(exc: BaseException, host: str) -> str:
    """A one-line reason an operator can act on."""
    if isinstance(exc, ssl_lib.SSLCertVerificationError):
        return (f"TLS certificate of {host} not trusted ({exc.verify_message}); "
                "use a certificate from a public CA, or ?cafile= for a private one")
    if isinstance(exc, LoginError):
        return f"login refused by {host}: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def tls_context(verify: bool = True, cafile: str | None = None) -> ssl_lib.SSLContext:
    """Certificate and host name checked by default; ``verify=False`` is an explicit, logged opt-out."""
    context = ssl_lib.create_default_context(cafile=cafile)
    if not verify:
        log.warning("IMAP TLS certificate verification is disabled (verify=false)")
        context.check_hostname = False
        context.verify_mode = ssl_lib.CERT_NONE
    return context


class ImapConnection:
    """Opens the session on demand and runs operations on it, reconnecting after any failure.

    ``call`` retries an operation for at most ``retry_for`` seconds, waiting between attempts as
    ``Backoff`` says (the wait carries over to the next call), then raises ``MailboxError``; a refused
    login or an untrusted certificate raises at once. ``on_connect`` runs on every new session
    (the inbox selects its folder there).
    """

    def __init__(self, host: str, port: int, *, ssl: bool, starttls: bool, username: str,
                 password: str | None, oauth2_token: str | None, ssl_context: ssl_lib.SSLContext | None,
                 on_connect: Callable[[IMAPClient], Any], name: str, timeout: float = 30.0,
                 retry_for: float = 60.0, max_backoff: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random,
                 client_factory: Callable[..., IMAPClient] = IMAPClient) -> None:
        self.host, self.port, self.ssl, self.starttls = host, port, ssl, starttls
        self.username, self.password, self.oauth2_token = username, password, oauth2_token
        self.ssl_context = ssl_context or (tls_context() if ssl or starttls else None)
        self.name, self.timeout, self.retry_for = name, timeout, retry_for
        self.clock, self.sleep = clock, sleep
        self.client: IMAPClient | None = None
        self.idling = False
        self._on_connect, self._factory = on_connect, client_factory
        self._backoff = Backoff(cap=max_backoff, rand=rand)
        self._retry_at = 0.0
        self._last_ok: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None

    def call(self, what: str, op: Callable[[IMAPClient], T]) -> T:
        """Run ``op`` on a live session; reconnect and run it again after a network or server error."""
        deadline = self.clock() + self.retry_for
        while True:
            delay = self._retry_at - self.clock()
            if delay > 0:
                if self._retry_at > deadline:
                    raise MailboxError(f"{what} on {self.name}: server unreachable ({self._last_error})")
                self.sleep(delay)
            try:
                result = op(self.client or self.open())
            except NETWORK_ERRORS as exc:
                self.failed(what, exc)
                if is_permanent(exc):
                    raise MailboxError(f"{what} on {self.name}: {self._last_error}") from exc
                continue
            self.succeeded()
            return result

    def reconnect_until(self, deadline: float) -> bool:
        """Try to open a session before ``deadline`` (monotonic), sleeping as the backoff says."""
        while (now := self.clock()) < deadline:
            if self._retry_at >= deadline:
                self.sleep(deadline - now)
                return False
            self.sleep(max(0.0, self._retry_at - now))
            try:
                self.open()
            except NETWORK_ERRORS as exc:
                self.failed("reconnect", exc)
                continue
            self.succeeded()
            return True
        return False

    def open(self) -> IMAPClient:
        client = self._factory(self.host, self.port, ssl=self.ssl, ssl_context=self.ssl_context,
                               timeout=SocketTimeout(connect=self.timeout, read=self.timeout))
        try:
            if self.starttls:
                client.starttls(self.ssl_context)
            if self.oauth2_token is not None:
                client.oauth2_login(self.username, self.oauth2_token)
            else:
                client.login(self.username, self.password)
            client.normalise_times = False  # INTERNALDATE as aware datetimes, not naive local time
            self._on_connect(client)
        except BaseException:
            _shutdown(client)
            raise
        log.info("connected to %s", self.name)
        self.client = client
        return client

    def succeeded(self) -> None:
        self._backoff.reset()
        self._last_ok = datetime.now(timezone.utc)

    def failed(self, what: str, exc: BaseException) -> None:
        """Record the error, drop the session, schedule the next attempt."""
        self._last_error = describe(exc, self.host)
        self._last_error_at = datetime.now(timezone.utc)
        delay = self._backoff.failed()
        self._retry_at = self.clock() + delay
        self.drop()
        log.warning("%s on %s failed: %s; next attempt in %.1f s", what, self.name, self._last_error, delay)

    def drop(self) -> None:
        client, self.client = self.client, None
        self.idling = False
        if client is not None:
            _shutdown(client)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.logout()
            except NETWORK_ERRORS:
                _shutdown(client)

    def health(self) -> dict[str, Any]:
        return {"connected": self.client is not None, "last_ok": self._last_ok, "idle": self.idling,
                "last_error": self._last_error, "last_error_at": self._last_error_at}


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except NETWORK_ERRORS:
        pass  # the socket is already gone
