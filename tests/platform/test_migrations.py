"""One migration history for SQLite and PostgreSQL: empty → head → base → head, and it matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from raccordo.platform.store.migrate import downgrade, upgrade
from raccordo.platform.store.models import Base, include_schema_name
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        name, url = create_postgres_database()
        yield url
        drop_postgres_database(name)


def test_upgrade_downgrade_upgrade(empty_url):
    upgrade(empty_url)
    engine = create_engine(empty_url)
    tables = set(inspect(engine).get_table_names())
    assert {
        "tenants",
        "contacts",
        "contact_identities",
        "conversations",
        "messages",
        "raw_inbound",
        "timeline_events",
        "audit_log",
        "outbox",
    } <= tables
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_schema_name}),
            Base.metadata,
        )
    assert diff == [], f"models and migrations differ: {diff}"
    engine.dispose()
    downgrade(empty_url, "base")
    engine = create_engine(empty_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(empty_url)
