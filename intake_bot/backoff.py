"""Capped exponential backoff with jitter, for reconnecting to servers that went away."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays between attempts: 0 after the first failure, then ``base * 2**(n-2)``, capped, with jitter.

    The first retry is immediate because the usual first failure is a session the server dropped
    (restart, idle timeout): a new connection then succeeds at once. Jitter is "equal jitter":
    half the delay is fixed, half random, so many bots restarting together do not retry in step.
    """

    base: float = 0.5
    cap: float = 300.0
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def failed(self) -> float:
        """Record one more consecutive failure and return the delay before the next attempt."""
        self.failures += 1
        if self.failures == 1:
            return 0.0
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures - 2, 32))
        return ceiling / 2 + self.rand() * ceiling / 2

    def reset(self) -> None:
        """A call succeeded: the next failure starts the sequence again."""
        self.failures = 0
