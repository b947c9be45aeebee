"""Store: migrations match the tables, references are sequential per year, blobs are content-addressed."""

from __future__ import annotations

import hashlib
import threading

import pytest

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel

from intake_bot import store, tables  # noqa: F401 - tables registers the metadata


def test_migrations_create_exactly_the_declared_schema(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path}/t.db")
    store.migrate(engine)
    store.migrate(engine)  # idempotent at every start
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"tables.py drifted from the Alembic migrations: {diff}"


def test_references_are_sequential_per_year(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path}/t.db")
    store.migrate(engine)
    with Session(engine) as s:
        refs = [store.next_reference(s, 2026) for _ in range(3)] + [store.next_reference(s, 2027)]
        s.commit()
    assert refs == ["GP-2026-0001", "GP-2026-0002", "GP-2026-0003", "GP-2027-0001"]
    with Session(engine) as s:  # a rolled-back transaction gives its number back
        store.next_reference(s, 2026)
        s.rollback()
    with Session(engine) as s:
        assert store.next_reference(s, 2026) == "GP-2026-0004"


def test_blob_store_is_content_addressed_and_idempotent(tmp_path):
    blobs = store.BlobStore(tmp_path / "blobs")
    data = b"From: a@b\r\n\r\nhello"
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.put(data) == digest
    assert blobs.get(digest) == data
    assert blobs.path(digest).parent.name == digest[:2]
    assert not list(blobs.path(digest).parent.glob(".tmp-*"))


@pytest.mark.servers
def test_instances_starting_together_on_postgresql_migrate_once(pg_url):
    from tests.bot import fresh_database

    url = fresh_database(pg_url, "migrate_race")
    engines = [store.make_engine(url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine):
        try:
            store.migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with engines[0].connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
