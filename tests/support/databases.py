"""The databases the suite runs on: SQLite always, PostgreSQL from RACCORDO_TEST_POSTGRES_URL (default: the
local server on 127.0.0.1), each test session in a database of its own that is dropped afterwards."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "RACCORDO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b.strip() for b in os.environ.get("RACCORDO_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()]
START_POSTGRES = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    " (or set RACCORDO_TEST_POSTGRES_URL)"
)


def create_postgres_database() -> tuple[str, str]:
    name = f"raccordo_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            # A commit does not wait for its WAL flush (every session on this database, the
            # worker processes' included): a test database is never recovered after a crash, and
            # the suite commits thousands of times, each an fsync of a busy disk otherwise. What a
            # commit makes visible to other sessions, and when, is unchanged.
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable server"
        pytest.fail(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is not usable ({type(exc).__name__}: {exc}); {START_POSTGRES}",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
