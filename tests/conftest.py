"""Shared fixtures: real servers come from tests.servers; here the app on the embedded default, and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from intake_bot import config

# The real-server fixtures (Dovecot, SMTP sink, PostgreSQL) live in tests/servers.py.
pytest_plugins = ("tests.servers",) if (Path(__file__).parent / "servers.py").exists() else ()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "saisines"
KIT = ROOT / "config" / "kit.toml"


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


def embedded_settings(workdir: Path, **sections: dict) -> config.Settings:
    data: dict = {
        "mailbox": {"url": "maildir://maildir"},
        "smtp": {"url": "dir://outbox"},
        "database": {"url": "sqlite:///intake.db"},
        "storage": {"blob_dir": "blobs"},
        "intake": {"kit_path": str(KIT), "staff_addresses": ["agent@numerique.gouv.fr"]},
        "digest": {"recipients": ["equipe@numerique.gouv.fr"]},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.from_dict(data, workdir, env={})


@pytest.fixture
def embedded(tmp_path: Path, clock: FakeClock):  # -> intake_bot.wiring.App
    """The app on the embedded default (Maildir, .eml outbox, SQLite) in a temp dir, with the fake clock."""
    from intake_bot.wiring import build

    return build(embedded_settings(tmp_path), clock=clock)
