"""Inbound mailboxes: the protocol the pipeline uses, and the local Maildir (embedded default).

The IMAP implementation lives in ``imap``; both are built in ``wiring`` from the mailbox URL.
"""

from __future__ import annotations

import logging
import mailbox as stdlib_mailbox
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from . import durable
from .errors import MailboxError

log = logging.getLogger("intake_bot.mailbox")


@dataclass(frozen=True)
class MailKey:
    """Where a message sits: (mailbox, UIDVALIDITY, UID). Maildir uses validity 0 and its file key."""

    mailbox: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class InboundRef:
    """A message waiting in the inbox, known before its body is downloaded."""

    key: MailKey
    size: int
    received_at: datetime  # server receipt time (IMAP INTERNALDATE, Maildir delivery), aware UTC


class Mailbox(Protocol):
    """What the pipeline needs from an inbox. Implementations: ``MaildirBox``, ``imap.ImapBox``."""

    name: str

    def pending(self) -> Iterator[InboundRef]:
        """Messages still in the inbox, oldest first. Cheap: no body download."""
        ...

    def fetch(self, ref: InboundRef) -> bytes:
        """The raw bytes of one message, without marking it read."""
        ...

    def mark_processed(self, ref: InboundRef) -> None:
        """Move the message to the processed folder. Idempotent: a message already gone is fine."""
        ...

    def quarantine(self, ref: InboundRef) -> None:
        """Move the message to the quarantine folder. Idempotent."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until new mail may have arrived (IDLE) or timeout; True if something happened."""
        ...

    def close(self) -> None: ...


_MAILDIR_NAME = re.compile(r"^(\d+)\.(?:[^.]*?M(\d{1,6}))?")


def _delivery_time(path: Path, key: str) -> datetime:
    """Maildir names start with the delivery time in seconds, often with ``M<microseconds>`` (Maildir spec,
    Dovecot, Python); same-second deliveries keep their order thanks to it. Fall back to the file's mtime."""
    match = _MAILDIR_NAME.match(key)
    if not match:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    micros = int(match.group(2)) if match.group(2) else 0
    try:
        return datetime.fromtimestamp(int(match.group(1)) + micros / 1e6, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


class MaildirBox:
    """A local Maildir (Dovecot/Postfix layout) with Maildir++ sub-folders for processed and quarantine."""

    def __init__(self, path: str | os.PathLike[str], processed: str = "Processed", quarantine: str = "Quarantine",
                 poll_interval: float = 2.0) -> None:
        self.path = Path(path).resolve()
        self.name = f"maildir:{self.path}"
        self._box = stdlib_mailbox.Maildir(self.path, factory=None, create=True)  # creates new/ cur/ tmp/
        self._folders = {name: self._folder(name) for name in (processed, quarantine)}
        self._processed, self._quarantine = processed, quarantine
        self.poll_interval = poll_interval

    def _folder(self, name: str) -> Path:
        """A Maildir++ sub-folder (``.Name``), created as Dovecot would."""
        try:
            self._box.get_folder(name)
        except stdlib_mailbox.NoSuchMailboxError:
            self._box.add_folder(name)
        return self.path / f".{name}"

    def _files(self) -> dict[str, Path]:
        """Messages of the inbox by key (the file name without its ``:2,`` flags), from new/ and cur/."""
        files = {}
        for sub in ("new", "cur"):
            if not (self.path / sub).is_dir():  # a Maildir an MDA has only begun: nothing waits there yet
                continue
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if entry.is_file() and not entry.name.startswith("."):
                        files[entry.name.split(":", 1)[0]] = Path(entry.path)
        return files

    def _locate(self, key: str) -> Path | None:
        if (self.path / "new" / key).is_file():
            return self.path / "new" / key
        return self._files().get(key)

    def pending(self) -> Iterator[InboundRef]:
        refs = []
        for key, path in self._files().items():
            try:
                refs.append(InboundRef(MailKey(self.name, 0, key), path.stat().st_size, _delivery_time(path, key)))
            except FileNotFoundError:
                continue  # taken by another process meanwhile
        refs.sort(key=lambda r: (r.received_at, r.key.uid))
        yield from refs

    def fetch(self, ref: InboundRef) -> bytes:
        path = self._locate(ref.key.uid)
        if path is None:
            raise MailboxError(f"{self.name}: message {ref.key.uid} is gone")
        return path.read_bytes()

    def _move(self, ref: InboundRef, folder: str) -> None:
        src = self._locate(ref.key.uid)
        if src is None:
            return  # already moved (e.g. by a previous run that crashed after the move)
        name = src.name if ":2," in src.name else src.name + ":2,S"
        # both directories fsynced after the rename: a power cut must not bring the message back to the inbox
        durable.replace(src, self._folders[folder] / "cur" / name)

    def mark_processed(self, ref: InboundRef) -> None:
        self._move(ref, self._processed)

    def quarantine(self, ref: InboundRef) -> None:
        self._move(ref, self._quarantine)

    def wait(self, timeout: float) -> bool:
        """Poll the new/ directory; Maildir has no push without inotify, and polling is cheap."""
        deadline = time.monotonic() + timeout
        new = self.path / "new"
        before = set(os.listdir(new))
        while time.monotonic() < deadline:
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
            if set(os.listdir(new)) - before:
                return True
        return False

    def close(self) -> None:
        return None

    def deliver(self, raw: bytes) -> str:
        """Add a message to the inbox as an MDA would (used by the demo and tests)."""
        return self._box.add(raw)
