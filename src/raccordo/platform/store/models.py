"""The store's base: the declarative ``Base`` every package's tables register on, column types and
helpers, and the platform's own tables (the event log, jobs). Each capability keeps its tables in
its own ``models.py``; every tenant-owned row carries ``tenant_id`` and every query filters on it.
``raccordo.bootstrap.tables.import_all`` imports them all (migrations, the app, the worker)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite needs INTEGER PRIMARY KEY for rowid autoincrement; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def id_column() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True, autoincrement=True)


def tenant_column() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Event(Base):
    """A domain event for realtime clients, stored so a reconnecting client can resume.

    Ids are assigned at commit, in commit order per tenant (see ``services/events``), so
    "everything after id N" is exact for a resuming client.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_id", "tenant_id", "id"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    contact_id: Mapped[int | None] = mapped_column(BigId)
    user_id: Mapped[int | None] = mapped_column(BigId)  # the agent it concerns (assignee, presence)
    team_id: Mapped[int | None] = mapped_column(BigId)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TenantConfigVersion(Base):
    """The version of a tenant's cached configuration (``platform.config_cache``): a new random value
    at every change, so a cache can never take an old configuration for the current one."""

    __tablename__ = "tenant_config_versions"
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(BigInteger)


class Job(Base):
    """A durable timer or background task: runs at ``due_at``, claimed by one worker with a lease."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "due_at"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # At most one pending job per key (e.g. one snooze-end per conversation); reused when rescheduled.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, running, done, failed, cancelled
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


# --- routing (ACD) -------------------------------------------------------------------------------


def fold_name(value: str | None) -> str | None:
    """The key a name is unique by: NFKC-normalized and casefolded (``Ãrabo`` and ``ãRABO`` are
    one name on every database; SQLite's ``lower()`` folds ASCII only)."""
    return None if value is None else unicodedata.normalize("NFKC", value).casefold()


def folded_key(source: str) -> Any:
    """A ``*_key`` column filled from ``source`` on insert (ORM or Core); ORM updates go through
    ``@validates`` on the model."""

    def default(context: Any) -> str | None:
        return fold_name(context.get_current_parameters().get(source))

    return mapped_column(Text, default=default)


# Created by migration 0012 outside the models (FTS5 virtual table and its shadow tables, the GIN
# expression index): schema comparisons leave them out (``include_schema_name``).
SEARCH_INDEX_OBJECTS = frozenset(
    {
        "search_fts",
        "search_fts_data",
        "search_fts_idx",
        "search_fts_docsize",
        "search_fts_config",
        "ix_search_entries_fts",
        "ix_search_entries_contact_fts",
    }
)


def include_schema_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: everything but the backend-specific search index objects."""
    if type_ == "column":
        return not (name == "tsv" and parent_names.get("table_name") == "search_entries")
    return name not in SEARCH_INDEX_OBJECTS
