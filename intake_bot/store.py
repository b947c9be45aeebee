"""Persistence: the database (SQLModel, Alembic migrations; SQLite or PostgreSQL) and the blob store."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from . import durable
from .tables import CaseRow, CaseSequence

log = logging.getLogger("intake_bot.store")
MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, base_dir: Path = Path(".")) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url[len("sqlite:///"):])  # absolute with four slashes, else relative to the config file
        path = path if path.is_absolute() else base_dir / path
        # SQLite gives its -wal and -shm files the mode of the database file: 0600 covers all three
        durable.create_private(path)
        url = f"sqlite:///{path}"
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    # FULL: each commit is on disk before we act on it (a message leaves the inbox, a receipt goes out) —
    # NORMAL in WAL mode may roll the last commits back after a power cut. Costs one fsync per commit.
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


MIGRATION_LOCK = 0x696E74616B65  # "intake": the advisory lock that serialises instances starting together


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent; safe to run at every start). On PostgreSQL,
    instances starting at the same time take turns on a transaction-scoped advisory lock."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def next_reference(s: Session, year: int) -> str:
    """Allocate GP-YYYY-NNNN inside the caller's transaction (row lock on PostgreSQL)."""
    seq = s.exec(select(CaseSequence).where(CaseSequence.year == year).with_for_update()).scalars().first()  # type: ignore[call-overload]
    if seq is None:
        seq = CaseSequence(year=year, last=0)
        s.add(seq)
    seq.last += 1
    s.add(seq)
    s.flush()
    return f"GP-{year}-{seq.last:04d}"


def case_by_ref(s: Session, ref: str) -> CaseRow | None:
    return s.exec(select(CaseRow).where(CaseRow.ref == ref)).scalars().first()  # type: ignore[call-overload]


class BlobStore:
    """Raw messages on disk, content-addressed by SHA-256 (``ab/cdef…``), written atomically and durably:
    once ``put`` returns, the blob survives a power cut (file fsynced before its rename, directories after)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        durable.ensure_dir(root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        dest = self.path(digest)
        if dest.exists():
            return digest
        durable.ensure_dir(dest.parent)
        tmp = durable.write_temp(dest.parent, data)
        try:
            durable.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
