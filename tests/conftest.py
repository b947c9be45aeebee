"""Shared fixtures: real servers come from tests.servers; here the app on the embedded default, and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from intake_bot.demo import embedded_settings

# The real-server fixtures (Dovecot, SMTP sink, PostgreSQL) live in tests/servers.py.
pytest_plugins = ("tests.servers",) if (Path(__file__).parent / "servers.py").exists() else ()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "saisines"


@dataclass
class FakeClock:
    """The one clock of the tests: moves only when told."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedded(tmp_path: Path, clock: FakeClock):  # -> intake_bot.wiring.App
    """The app on the embedded default (Maildir, .eml outbox, SQLite) in a temp dir, with the fake clock."""
    from intake_bot.wiring import build

    return build(embedded_settings(tmp_path), clock=clock)
