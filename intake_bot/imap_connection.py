"""One IMAP session kept alive: TLS, login, timeouts, reconnection with backoff, health for ``status``."""

from __future__ import annotations

import logging
import random
import socket
import ssl as ssl_lib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from intake_bot import cleartext
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

    One thread at a time, except ``close``: called from another thread while one is in a wait
    (``waiting``), it ends that wait at once, see ``close``.
    """

    def __init__(self, host: str, port: int, *, ssl: bool, starttls: bool, username: str,
                 password: str | None, oauth2_token: str | None, ssl_context: ssl_lib.SSLContext | None,
                 on_connect: Callable[[IMAPClient], Any], name: str, timeout: float = 30.0,
                 retry_for: float = 60.0, max_backoff: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] = random.random,
                 client_factory: Callable[..., IMAPClient] = IMAPClient, allow_cleartext: bool = False) -> None:
        cleartext.refuse_cleartext(f"IMAP {name}", host, tls=ssl or starttls, explicit=allow_cleartext)
        self.host, self.port, self.ssl, self.starttls = host, port, ssl, starttls
        self.username, self.password, self.oauth2_token = username, password, oauth2_token
        self.ssl_context = ssl_context or (tls_context() if ssl or starttls else None)
        self.name, self.timeout, self.retry_for = name, timeout, retry_for
        # set by close() to end the wait under way in another thread; the default sleep ends early with it
        self.cancelled = threading.Event()
        self.clock, self.sleep = clock, sleep or self.cancelled.wait
        self.client: IMAPClient | None = None
        self.idling = False  # a thread is blocked in idle_check (health: "idle")
        self.in_idle = False  # IDLE sent on self.client and not yet ended by DONE: the server answers nothing else
        self.waiter: int | None = None  # the thread inside waiting(), if any
        self._lock = threading.RLock()  # RLock: close() may run in a signal handler of the waiting thread
        self._waiter_left = threading.Event()
        self._orphan: IMAPClient | None = None  # the session close() cut under the waiter, for it to close
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
            if self.cancelled.is_set():
                return False
            try:
                self.open()
            except NETWORK_ERRORS as exc:
                self.failed("reconnect", exc)
                continue
            if self.cancelled.is_set():  # close() came while connecting: it may not have seen this session
                self.drop()
                return False
            self.succeeded()
            return True
        return False

    @contextmanager
    def waiting(self) -> Iterator[threading.Event]:
        """Around a wait for mail: a ``close()`` from another thread meanwhile sets the event it yields and cuts
        the connection, so every blocked read, IDLE or sleep of the wait ends at once."""
        with self._lock:
            self.waiter = threading.get_ident()
            self.cancelled.clear()
            self._waiter_left.clear()
        try:
            yield self.cancelled
        finally:
            with self._lock:
                orphan, self._orphan = self._orphan, None
                self.waiter = None
                self.cancelled.clear()
            if orphan is not None:
                _shutdown(orphan)
            self._waiter_left.set()

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
        with self._lock:
            self.client, self.in_idle = client, False
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
        with self._lock:
            client, self.client = self.client, None
            self.idling = self.in_idle = False
        if client is not None:
            _shutdown(client)

    def close(self, grace: float = 5.0) -> None:
        """End the session; the next call opens a new one.

        A quiet session gets a LOGOUT. During a wait in another thread (IDLE, a poll, a backoff), or with an
        IDLE left unfinished (a signal cut it), LOGOUT would go unanswered until the IDLE ends (Dovecot reads
        nothing but DONE): the socket is shut down instead and the waiting thread returns False at once,
        without error; this returns once it has (at most ``grace`` seconds)."""
        with self._lock:
            client, self.client = self.client, None
            in_idle, self.in_idle, self.idling = self.in_idle, False, False
            waiter = self.waiter
            if waiter is not None:
                self.cancelled.set()
                if client is not None:
                    self._orphan = client  # closed by the waiting thread, whose reads must not meet a closed file
        if client is not None:
            if waiter is not None:
                _cut(client)
            elif in_idle:
                _shutdown(client)
            else:
                try:
                    client.logout()
                except NETWORK_ERRORS:
                    _shutdown(client)
        if waiter is not None and waiter != threading.get_ident() and not self._waiter_left.wait(grace):
            log.warning("close of %s: the waiting thread did not return within %.0f s", self.name, grace)

    def health(self) -> dict[str, Any]:
        return {"connected": self.client is not None, "last_ok": self._last_ok, "idle": self.idling,
                "last_error": self._last_error, "last_error_at": self._last_error_at}


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except NETWORK_ERRORS:
        pass  # the socket is already gone


def _cut(client: IMAPClient) -> None:
    """Shut the connection down without closing the socket another thread may be blocked on: its poll or read
    returns at once (EOF), its next write fails, and it never meets a closed file object."""
    try:
        socket.socket.shutdown(client.socket(), socket.SHUT_RDWR)  # the plain method: an SSLSocket's own would
    except OSError:                                                # drop its SSL object under the reader
        pass
