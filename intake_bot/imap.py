"""The IMAP inbox: ``ImapBox`` lists, downloads and files mail with imapclient, and waits with IDLE."""

from __future__ import annotations

import logging
import random
import ssl as ssl_lib
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from datetime import timezone
from typing import Any

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError

from intake_bot import cleartext
from intake_bot.errors import ConfigError, MailboxError
from intake_bot.imap_connection import NETWORK_ERRORS, ImapConnection, describe, tls_context
from intake_bot.mailbox import InboundRef, MailKey

log = logging.getLogger("intake_bot.imap")

_FETCH_CHUNK = 2000  # UIDs per FETCH: keeps the command line far below Dovecot's 64 KiB limit
_URL_OPTIONS = frozenset({"starttls", "verify", "cafile", cleartext.ALLOW})
# what a wait may meet when close() cuts its connection (ValueError: imaplib on a file closed meanwhile)
_WAIT_ERRORS: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, ValueError)


def _flag(query: dict[str, str], key: str, default: bool) -> bool:
    value = query.get(key, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on", "require"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"mailbox URL: {key}={value!r} is not a yes/no value")


def _copies(client: IMAPClient, command: Callable[[], Any]) -> bool:
    """Run a UID COPY or MOVE of one message: did it copy it? A server with UIDPLUS answers ``[COPYUID …]``
    when it did (RFC 4315 §3), nothing when the UID matched no message; without UIDPLUS, assume it did."""
    untagged = client._imap.untagged_responses  # imaplib files response codes there (imapclient drops them)
    untagged.pop("COPYUID", None)
    command()
    return bool(untagged.pop("COPYUID", None)) or not client.has_capability("UIDPLUS")


def _announces_mail(responses: Sequence[Any]) -> bool:
    """An untagged ``* n EXISTS`` is the server telling us the folder grew."""
    return any(isinstance(r, tuple) and len(r) > 1 and r[1] == b"EXISTS" for r in responses)


class ImapBox:
    """An IMAP folder as the pipeline's inbox (the ``Mailbox`` protocol). One thread at a time.

    Error contract: every call reconnects by itself after a network or server error, with capped
    exponential backoff. ``pending``, ``fetch``, ``mark_processed`` and ``quarantine`` keep trying for
    at most ``retry_for`` seconds, then raise ``MailboxError``; so does a refused login or an untrusted
    certificate, at once. ``wait`` never raises: it spends its timeout reconnecting if need be and
    returns True once connected again. The pipeline therefore loops on ``pending()`` then ``wait()``,
    logging a ``MailboxError`` and carrying on; ``health()`` tells ``intake-bot status`` how it goes.
    A message already gone when it is to be moved (another session moved or expunged it) is not an error.

    ``close()`` may come from another thread while one waits: that wait returns False at once.
    """

    def __init__(self, host: str, port: int, *, ssl: bool, starttls: bool, username: str,
                 password: str | None = None, oauth2_token: str | None = None, folder: str = "INBOX",
                 processed: str = "Processed", quarantine: str = "Quarantine",
                 ssl_context: ssl_lib.SSLContext | None = None, timeout: float = 30.0,
                 idle_renew: float = 25 * 60, poll_interval: float = 30.0, max_backoff: float = 300.0,
                 retry_for: float = 60.0, use_idle: bool = True, use_move: bool = True,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] = random.random,
                 client_factory: Callable[..., IMAPClient] = IMAPClient, allow_cleartext: bool = False) -> None:
        if ssl and starttls:
            raise ConfigError("IMAP: choose TLS on connect (imaps://) or STARTTLS, not both")
        if password is None and oauth2_token is None:
            raise ConfigError(f"IMAP: no password nor OAuth2 token for {username}@{host}")
        if not 0 < idle_renew <= 29 * 60:  # RFC 2177: servers may end an IDLE after 30 minutes
            raise ConfigError(f"IMAP: idle_renew must be within (0, 1740] seconds, not {idle_renew}")
        self.name = f"{'imaps' if ssl else 'imap'}://{username}@{host}:{port}/{folder}"
        self.folder, self.processed, self.quarantine_folder = folder, processed, quarantine
        self.idle_renew, self.poll_interval = idle_renew, poll_interval
        self.use_idle, self.use_move = use_idle, use_move
        self.conn = ImapConnection(
            host, port, ssl=ssl, starttls=starttls, username=username, password=password,
            oauth2_token=oauth2_token, ssl_context=ssl_context, on_connect=self._on_connect,
            name=self.name, timeout=timeout, retry_for=retry_for, max_backoff=max_backoff,
            clock=clock, sleep=sleep, rand=rand, client_factory=client_factory, allow_cleartext=allow_cleartext)
        self._uidvalidity: int | None = None
        self._max_uid: int | None = None  # highest UID listed by pending(); None = list again
        self._folders: set[str] = set()  # folders known to exist, for the current session

    @classmethod
    def from_url(cls, url: str, password: str | None, **options: Any) -> ImapBox:
        """``imap[s]://user@host[:port]/FOLDER[?starttls=require&verify=false&cafile=PATH]``."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(f"mailbox URL {url!r}: expected imap[s]://user@host[:port]/FOLDER")
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if unknown := sorted(set(query) - _URL_OPTIONS):
            raise ConfigError(f"mailbox URL: unknown option(s) {', '.join(unknown)}")
        tls_on_connect = parts.scheme == "imaps"
        # imap:// to another machine means STARTTLS unless the URL says otherwise: a login is a password
        starttls = _flag(query, "starttls", not tls_on_connect and not cleartext.is_loopback(parts.hostname))
        options["allow_cleartext"] = cleartext.allowed(query, "mailbox")  # ImapConnection refuses the rest
        if tls_on_connect and starttls:
            raise ConfigError("mailbox URL: imaps:// already uses TLS, drop ?starttls")
        if not (tls_on_connect or starttls) and ("verify" in query or "cafile" in query):
            raise ConfigError("mailbox URL: verify/cafile need imaps:// or ?starttls=require")
        if "ssl_context" not in options and (tls_on_connect or starttls):
            options["ssl_context"] = tls_context(_flag(query, "verify", True), query.get("cafile") or None)
        url_password = urllib.parse.unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or (993 if tls_on_connect else 143), ssl=tls_on_connect,
                   starttls=starttls, username=urllib.parse.unquote(parts.username),
                   password=password if password is not None else url_password,
                   folder=urllib.parse.unquote(parts.path.lstrip("/")) or "INBOX", **options)

    # --- the Mailbox protocol -------------------------------------------------------------------

    def pending(self) -> Iterator[InboundRef]:
        """Every message in the folder (``UID SEARCH ALL``, read or not), oldest first, without bodies."""
        return iter(self.conn.call("list", self._list))

    def fetch(self, ref: InboundRef) -> bytes:
        """The raw message via ``BODY.PEEK[]``: the server does not set ``\\Seen``."""
        return self.conn.call("fetch", lambda client: self._download(client, ref))

    def mark_processed(self, ref: InboundRef) -> None:
        self.conn.call("move", lambda client: self._move(client, ref, self.processed))

    def quarantine(self, ref: InboundRef) -> None:
        self.conn.call("quarantine", lambda client: self._move(client, ref, self.quarantine_folder))

    def wait(self, timeout: float) -> bool:
        """IDLE (or poll) until new mail or timeout; after a lost connection, True once reconnected.
        False at once, without error, when ``close()`` is called meanwhile from another thread."""
        deadline = self.conn.clock() + timeout
        with self.conn.waiting() as closed:
            while self.conn.clock() < deadline and not closed.is_set():
                client = self.conn.client
                if client is None:
                    return self.conn.reconnect_until(deadline)
                try:
                    return self._watch(client, deadline) and not closed.is_set()
                except _WAIT_ERRORS as exc:
                    if closed.is_set():  # close() cut the connection under us: what it wanted, not a failure
                        log.debug("wait on %s ended by close (%s)", self.name, describe(exc, self.conn.host))
                        return False
                    if not isinstance(exc, NETWORK_ERRORS):
                        raise
                    self.conn.failed("wait", exc)
        return False

    def close(self) -> None:
        """LOGOUT; from another thread during ``wait``, or after an IDLE cut short, the connection is shut
        down instead (the server answers nothing before DONE) and that wait returns False at once."""
        self.conn.close()

    def health(self) -> dict[str, Any]:
        """For ``intake-bot status``: connected, last_ok, last_error (+ last_error_at), idle."""
        return self.conn.health()

    # --- operations (run by conn.call on a live session) ----------------------------------------

    def _on_connect(self, client: IMAPClient) -> None:
        self._folders.clear()
        self._select(client)

    def _select(self, client: IMAPClient) -> dict[bytes, Any]:
        info: dict[bytes, Any] = client.select_folder(self.folder)
        validity = int(info[b"UIDVALIDITY"])
        if self._uidvalidity is not None and validity != self._uidvalidity:
            log.warning("UIDVALIDITY of %s changed from %s to %s: its messages get new keys",
                        self.name, self._uidvalidity, validity)
            self._max_uid = None
        self._uidvalidity = validity
        return info

    def _list(self, client: IMAPClient) -> list[InboundRef]:
        info = self._select(client)  # a fresh SELECT each time: notices a UIDVALIDITY change
        uids = sorted(client.search("ALL"))
        refs = []
        for start in range(0, len(uids), _FETCH_CHUNK):
            chunk = uids[start:start + _FETCH_CHUNK]
            for uid, data in client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"]).items():
                if b"INTERNALDATE" not in data or b"RFC822.SIZE" not in data:
                    continue  # expunged meanwhile (only an unsolicited FLAGS came back)
                key = MailKey(self.name, self._uidvalidity or 0, str(uid))
                received = data[b"INTERNALDATE"].astimezone(timezone.utc)
                refs.append(InboundRef(key, int(data[b"RFC822.SIZE"]), received))
        self._max_uid = max([*uids, int(info.get(b"UIDNEXT", 1)) - 1])
        refs.sort(key=lambda r: (r.received_at, int(r.key.uid)))
        return refs

    def _download(self, client: IMAPClient, ref: InboundRef) -> bytes:
        if ref.key.uidvalidity != self._uidvalidity:
            raise MailboxError(f"{ref.key}: UIDVALIDITY of {self.name} is now {self._uidvalidity}")
        uid = int(ref.key.uid)
        body = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        if body is None:  # no FETCH response, or BODY[] NIL for a message expunged by another session
            raise MailboxError(f"{ref.key} is no longer in {self.name}")
        return bytes(body)

    def _move(self, client: IMAPClient, ref: InboundRef, folder: str) -> None:
        if ref.key.uidvalidity != self._uidvalidity:
            log.warning("not moving %s: UIDVALIDITY is now %s, it will be listed again under a new key",
                        ref.key, self._uidvalidity)
            return
        self._ensure_folder(client, folder)
        uid = int(ref.key.uid)
        try:
            moved = self._transfer(client, uid, folder)
        except IMAPClientError as exc:  # a NO or BAD; a lost connection (abort, OSError) is for conn.call
            if isinstance(exc, (IMAPClientAbortError, CapabilityError)) or not self._gone(client, uid, exc):
                raise
            moved = False
        if moved:
            log.info("moved %s to %s", ref.key, folder)
        else:  # what the move was for: another instance, or a person, moved or deleted it first
            log.info("%s is no longer in %s (another session moved or expunged it): nothing to move to %s",
                     ref.key, self.folder, folder)

    def _transfer(self, client: IMAPClient, uid: int, folder: str) -> bool:
        """MOVE, or COPY + ``\\Deleted`` + EXPUNGE. False when the server says it moved nothing: a UID no longer
        in the folder is no error in a UID command (RFC 3501 §6.4.8), the answer is OK without COPYUID."""
        uids = [uid]
        if self.use_move and client.has_capability("MOVE"):
            return _copies(client, lambda: client.move(uids, folder))
        if not _copies(client, lambda: client.copy(uids, folder)):
            return False
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()  # no UIDPLUS: also expunges others' \Deleted mail in this folder
        return True

    def _gone(self, client: IMAPClient, uid: int, exc: IMAPClientError) -> bool:
        """After a NO to the move: is the message no longer in the folder? ``[EXPUNGEISSUED]`` (RFC 5530) says
        so for Dovecot when another session expunged it; otherwise a UID SEARCH tells (a network error here
        goes to conn.call like any other)."""
        if "EXPUNGEISSUED" in str(exc).upper():
            return True
        return not client.search(["UID", str(uid)])

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._folders:
            return
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
                client.subscribe_folder(folder)
                log.info("created folder %s on %s", folder, self.name)
            except IMAPClientError:
                if not client.folder_exists(folder):  # not a race with another client: a real failure
                    raise
        self._folders.add(folder)

    # --- waiting ----------------------------------------------------------------------------------

    def _watch(self, client: IMAPClient, deadline: float) -> bool:
        if self._has_newer(client):
            return True
        if not (self.use_idle and client.has_capability("IDLE")):
            return self._poll(client, deadline)
        while (left := deadline - self.conn.clock()) > 0:
            if self._idle_once(client, min(left, self.idle_renew)):
                return True
        return False

    def _idle_once(self, client: IMAPClient, seconds: float) -> bool:
        """One IDLE of at most ``seconds`` (kept under the server's 29-minute limit), always ended by DONE."""
        client.idle()
        self.conn.in_idle = self.conn.idling = True
        try:
            responses = client.idle_check(timeout=seconds)
        finally:
            self.conn.idling = False
        _, more = client.idle_done()  # on a dropped connection this raises: wait() reconnects
        self.conn.in_idle = False
        self.conn.succeeded()
        return _announces_mail([*responses, *more])

    def _poll(self, client: IMAPClient, deadline: float) -> bool:
        while (left := deadline - self.conn.clock()) > 0:
            self.conn.sleep(min(self.poll_interval, left))
            if self._has_newer(client):
                return True
        return False

    def _has_newer(self, client: IMAPClient) -> bool:
        """Mail above the last listed UID? A fresh SELECT answers it: an ``EXISTS`` sent at the end of
        an earlier command (mail arriving during ``pending``) is swallowed by imaplib, and IDLE only
        reports what arrives after the session's last sync."""
        info = self._select(client)
        if self._max_uid is None:
            return True
        if b"UIDNEXT" in info:
            return int(info[b"UIDNEXT"]) - 1 > self._max_uid
        return any(uid > self._max_uid for uid in client.search(["UID", f"{self._max_uid + 1}:*"]))
