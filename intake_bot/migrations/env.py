"""Alembic environment: runs migrations on the connection handed over by ``store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from intake_bot import tables  # noqa: F401 - registers the tables on SQLModel.metadata
from sqlmodel import SQLModel

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line: build an engine from the URL
        engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
