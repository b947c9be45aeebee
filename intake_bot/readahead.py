"""Reading ahead: the next messages are fetched, stored and parsed in a thread while the current one is decided."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from .errors import MailboxError
from .mailbox import InboundRef
from .model import ParsedMessage


@dataclass
class Prepared:
    """One message as the reader thread left it: settled without parsing (``status``), parsed, or failed;
    between the two steps, claimed (``raw`` fetched, attempt counted) but not yet stored and parsed."""

    ref: InboundRef
    status: str | None = None  # already final, too large, too many attempts
    row_id: int | None = None
    raw: bytes | None = None
    digest: str = ""
    identity: str = ""
    parsed: ParsedMessage | None = None
    error: Exception | None = None
    suspect: bool = False  # tried before and interrupted: read and settled with nothing else in flight


class ReadAhead:
    """Prepares ``refs`` in a thread, at most ``depth`` prepared messages ahead of the consumer.

    Preparing is two steps: ``claim`` (look the message up, fetch it, count the attempt, store it: short
    database writes and system calls) and ``finish`` (parse it: long, mostly waiting on the extraction
    worker). The next message is claimed *before* the current one is handed over, while the consumer is idle
    waiting for it: claiming then neither queues behind the consumer's decision transaction (SQLite has one
    writer, and its busy handler sleeps 1, 2, 5, 10 ms… between tries) nor waits for the GIL after each of its
    system calls while the consumer runs Python (up to the 5 ms switch interval each time). Measured on a
    500-message backlog: the attempt commit went from 10.7 to ~1 ms per message.

    A suspect message (one a previous run was interrupted on) is claimed only once everything before it is
    settled, and nothing after it until it is settled itself: if it crashes the process again, no innocent
    neighbour has its attempts counted with it."""

    def __init__(self, claim: Callable[[InboundRef, Callable[[], None]], Prepared],
                 finish: Callable[[Prepared], Prepared], refs: list[InboundRef], depth: int = 2) -> None:
        self._claim, self._finish, self._refs, self._depth = claim, finish, refs, max(1, depth)
        self._ready: deque[Prepared] = deque()
        self._held: Prepared | None = None  # finished, handed over once the next message is claimed
        self._produced = self._settled = self._claimed = 0
        self._done = self._cancelled = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="intake-read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()
        self._thread.join()

    def __iter__(self) -> Iterator[Prepared]:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._ready) or self._done)
                if not self._ready:
                    return
                item = self._ready.popleft()
                self._cond.notify_all()
            yield item
            with self._cond:
                self._settled += 1
                self._cond.notify_all()

    def unread(self) -> list[InboundRef]:
        """The messages not handed out (the pass was stopped early): stops the reader first."""
        self.__exit__(None, None, None)
        held = [self._held.ref] if self._held is not None else []
        return [p.ref for p in self._ready] + held + self._refs[self._claimed:]

    def _run(self) -> None:
        try:
            for ref in self._refs:
                if not self._wait(lambda: len(self._ready) < self._depth):
                    return
                item = self._claim(ref, self._isolate)
                self._claimed += 1
                self._hand_over()
                if isinstance(item.error, MailboxError):
                    self._held = item
                    break  # the mailbox failed: the consumer raises, the daemon lists again later
                self._held = self._finish(item)
                if item.suspect:
                    self._isolate()
            self._hand_over()
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _hand_over(self) -> None:
        with self._cond:
            if self._held is not None:
                self._ready.append(self._held)
                self._held = None
                self._produced += 1
                self._cond.notify_all()

    def _isolate(self) -> None:
        """Hand over what is finished, then wait until the consumer has settled all of it."""
        self._hand_over()
        self._wait(lambda: self._settled >= self._produced)

    def _wait(self, ready: Callable[[], bool]) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: ready() or self._cancelled)
            return not self._cancelled
