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
    """One message as the reader thread left it: settled without parsing (``status``), parsed, or failed."""

    ref: InboundRef
    status: str | None = None  # already final, too large, too many attempts
    row_id: int | None = None
    digest: str = ""
    identity: str = ""
    parsed: ParsedMessage | None = None
    error: Exception | None = None
    suspect: bool = False  # tried before and interrupted: read and settled with nothing else in flight


class ReadAhead:
    """Runs ``prepare`` over ``refs`` in a thread, at most ``depth`` prepared messages ahead of the consumer.

    A suspect message (one a previous run was interrupted on) is prepared only once everything before it is
    settled, and nothing after it until it is settled itself: if it crashes the process again, no innocent
    neighbour has its attempts counted with it."""

    def __init__(self, prepare: Callable[[InboundRef, Callable[[], None]], Prepared], refs: list[InboundRef],
                 depth: int = 2) -> None:
        self._prepare, self._refs, self._depth = prepare, refs, max(1, depth)
        self._ready: deque[Prepared] = deque()
        self._produced = self._settled = 0
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
        """The messages not handed out (the pass was stopped early); call after leaving the loop."""
        with self._cond:
            return [p.ref for p in self._ready] + self._refs[self._produced:]

    def _run(self) -> None:
        try:
            for ref in self._refs:
                if not self._wait(lambda: len(self._ready) < self._depth):
                    return
                item = self._prepare(ref, self._isolate)
                with self._cond:
                    self._ready.append(item)
                    self._produced += 1
                    self._cond.notify_all()
                if item.suspect:
                    self._isolate()
                if isinstance(item.error, MailboxError):
                    return  # the mailbox failed: the consumer raises, the daemon lists again later
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _isolate(self) -> None:
        """Wait until the consumer has settled everything prepared so far."""
        self._wait(lambda: self._settled >= self._produced)

    def _wait(self, ready: Callable[[], bool]) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: ready() or self._cancelled)
            return not self._cancelled
