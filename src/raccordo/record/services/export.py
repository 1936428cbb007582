"""Tenant export as JSON lines (``raccordo export``; the format is in docs/import-export.md).

One JSON object per line, each with a ``type`` (tenant, user, team, inbox, contact,
identity, conversation, message, attachment, timeline, audit, merge_suggestion) and the
row's columns. Only the tenant's own rows are written; password hashes and inbox
secrets never are. Rows are streamed table by table (``yield_per``), so a large tenant
is never loaded into memory.

All tables are read from one snapshot, so the export is consistent (no message without
its conversation) even while the server keeps writing: PostgreSQL reads in a
REPEATABLE READ transaction; SQLite reads in a deferred transaction on its own
connection, which under WAL sees one snapshot and, unlike the application's
``BEGIN IMMEDIATE`` sessions, never blocks writers for the length of the export.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Engine, Table, create_engine, event, select
from sqlalchemy.pool import NullPool

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.models import Team, TeamMember, Tenant, User
from raccordo.channels.models import Inbox
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import (
    Attachment,
    AuditEntry,
    Contact,
    ContactIdentity,
    Conversation,
    MergeSuggestion,
    Message,
    TimelineEvent,
)
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.record.services.records import audit

BATCH_SIZE = 1000


@dataclass(frozen=True)
class _Source:
    type: str
    table: Table
    belongs_to: Callable[[int], ColumnElement[bool]]  # tenant id -> filter
    omit: frozenset[str] = frozenset()


def _table(model: Any) -> Table:
    return model.__table__


SOURCES = (
    _Source("tenant", _table(Tenant), lambda tenant_id: Tenant.id == tenant_id),
    _Source("user", _table(User), lambda tenant_id: User.tenant_id == tenant_id, frozenset({"password_hash"})),
    _Source("team", _table(Team), lambda tenant_id: Team.tenant_id == tenant_id),
    _Source("inbox", _table(Inbox), lambda tenant_id: Inbox.tenant_id == tenant_id, frozenset({"secrets_encrypted"})),
    _Source("contact", _table(Contact), lambda tenant_id: Contact.tenant_id == tenant_id),
    _Source("identity", _table(ContactIdentity), lambda tenant_id: ContactIdentity.tenant_id == tenant_id),
    _Source("conversation", _table(Conversation), lambda tenant_id: Conversation.tenant_id == tenant_id),
    _Source("message", _table(Message), lambda tenant_id: Message.tenant_id == tenant_id),
    _Source("attachment", _table(Attachment), lambda tenant_id: Attachment.tenant_id == tenant_id),
    _Source("timeline", _table(TimelineEvent), lambda tenant_id: TimelineEvent.tenant_id == tenant_id),
    _Source("audit", _table(AuditEntry), lambda tenant_id: AuditEntry.tenant_id == tenant_id),
    _Source("merge_suggestion", _table(MergeSuggestion), lambda tenant_id: MergeSuggestion.tenant_id == tenant_id),
)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot export a {type(value).__name__}")


def _sqlite_reader(engine: Engine) -> Engine:
    """A separate engine whose transactions are plain (deferred) BEGINs: a WAL read snapshot."""
    reader = create_engine(engine.url, poolclass=NullPool, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(reader, "connect")
    def _driver_transactions_off(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(reader, "begin")
    def _deferred_begin(conn):
        conn.exec_driver_sql("BEGIN")

    return reader


@contextmanager
def _snapshot(rt: Runtime) -> Iterator[Connection]:
    """A read-only connection that sees the whole database as of one moment."""
    if rt.engine.dialect.name == "sqlite":
        reader = _sqlite_reader(rt.engine)
        try:
            with reader.connect() as connection, connection.begin():
                yield connection
        finally:
            reader.dispose()
        return
    with rt.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin():
            yield connection


def _team_members(connection: Connection, tenant_id: int) -> dict[int, list[int]]:
    rows = connection.execute(
        select(TeamMember.team_id, TeamMember.user_id)
        .join(Team, Team.id == TeamMember.team_id)
        .where(Team.tenant_id == tenant_id)
        .order_by(TeamMember.team_id, TeamMember.user_id)
    )
    members: dict[int, list[int]] = {}
    for team_id, user_id in rows:
        members.setdefault(team_id, []).append(user_id)
    return members


def _records(connection: Connection, source: _Source, tenant_id: int) -> Iterator[dict[str, Any]]:
    columns = [column for column in source.table.columns if column.name not in source.omit]
    statement = (
        select(*columns)
        .where(source.belongs_to(tenant_id))
        .order_by(source.table.c.id)
        .execution_options(yield_per=BATCH_SIZE)
    )
    for row in connection.execute(statement):
        yield {"type": source.type, **row._mapping}


def export_tenant(rt: Runtime, tenant_slug: str, handle: TextIO) -> int:
    """Write the tenant's data to ``handle`` as JSON lines; return the number of records written."""
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, tenant_slug).id
    count = 0
    with _snapshot(rt) as connection:
        members = _team_members(connection, tenant_id)
        for source in SOURCES:
            for record in _records(connection, source, tenant_id):
                if source.type == "team":
                    record["member_ids"] = members.get(record["id"], [])
                handle.write(
                    json.dumps(record, ensure_ascii=False, default=_json_default, separators=(",", ":")) + "\n"
                )
                count += 1
    with unit_of_work(rt.sessions) as session:
        audit(session, system_actor(tenant_id), "tenant.export", "tenant", tenant_id, {"records": count})
    return count
