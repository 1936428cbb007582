"""Alembic environment: one history for SQLite (batch mode) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, event, pool

from raccordo.bootstrap.tables import import_all
from raccordo.platform.store.models import Base, include_schema_name

import_all()  # every package's tables on Base.metadata, for autogenerate and schema comparisons

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        url = config.get_main_option("sqlalchemy.url")
        if url is None:  # raccordo's migrate always sets it; a bare `alembic` run without it cannot work
            raise RuntimeError("sqlalchemy.url is not set in the Alembic configuration")
        engine = create_engine(url, poolclass=pool.NullPool)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_journal)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _sqlite_journal(dbapi_connection: Any, _record: Any) -> None:
    # The journal the app's engine sets (store/db.py): pysqlite commits each DDL statement on its
    # own, and in the default rollback journal every commit waits for an fsync; a fresh database's
    # 250 statements took 5 s on a loaded machine (`raccordo serve`'s first start, every test
    # that starts one on a new data folder), 1 s with the write-ahead log.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_schema_name,  # the FTS5 table and GIN index of migration 0012
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
