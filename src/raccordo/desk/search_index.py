"""Keeps ``search_entries`` in step with messages, conversation subjects and contacts, and matches
a query against it on each backend.

Every write path (ingest, replies, notes, the widget, imports, contact edits, identities, merges,
the demo) goes through the ORM, so one pair of session hooks does what a database trigger would,
with the folding of ``domain/search.py`` that SQL cannot do portably: ``after_flush`` notes which
messages, conversations and contacts changed, ``before_commit`` rewrites their entries in the same
transaction. Bulk ``UPDATE`` statements bypass the ORM; the one that matters (a merge moving
identities) also sets ``merged_into_id`` on the merged contact, which reindexes the survivor.

An ingested message (``Message.search_pending``) is the exception: its entry is written after
its commit, so the ingest transaction (and SQLite's write lock) does not carry it. The committing
thread hands its ids to the factory's backlog thread, which writes the entries of everything
queued in one transaction (batches form under concurrency) and clears the flags in the same
statement that claims them; the committing thread waits for its own ids (bounded), so a search
right after the answer finds the message. A crash in between leaves the flags set: the worker's
``sweep`` writes those entries (claiming is idempotent, so both may run at once).

The full-text index itself is the database's: on PostgreSQL a GIN index on the generated column
``tsv = to_tsvector('simple', body)``; on SQLite the FTS5 table ``search_fts`` over ``search_entries``
(external content, synced by SQL triggers). Both are created by migration 0012.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, Select, and_, column, delete, func, insert, inspect, literal_column, select, table
from sqlalchemy.orm import Session, sessionmaker

from raccordo.desk.domain.search import SearchQuery, index_body, phone_forms
from raccordo.desk.models import SearchEntry
from raccordo.desk.search_backlog import Backlog, settle_in_transaction
from raccordo.record.models import Contact, ContactIdentity, Conversation, Message

_PENDING = "search_pending"
_DEFERRED = "search_deferred"  # session.info: ids of new messages whose entry is written after commit
_NOT_INDEXED_KINDS = frozenset({"web_visitor"})  # random tokens, nothing a person would type
_FTS = table("search_fts", column("rowid"))


@dataclass
class Pending:
    messages: set[int] = field(default_factory=set)
    conversations: set[int] = field(default_factory=set)
    contacts: set[int] = field(default_factory=set)
    # Rows inserted in this transaction, with what their entry is made of: they have no entry to
    # delete and nothing to read back, so their entries are written in one insert.
    new_messages: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # id -> (tenant, conversation, text)
    new_subjects: dict[int, tuple[int, str | None]] = field(
        default_factory=dict
    )  # conversation id -> (tenant, subject)
    new_contacts: dict[int, tuple[int, str | None]] = field(default_factory=dict)  # id -> (tenant, name)
    new_identities: list[tuple[int, int, str, str]] = field(default_factory=list)  # (id, contact id, kind, value)

    def __bool__(self) -> bool:
        return bool(
            self.messages
            or self.conversations
            or self.contacts
            or self.new_messages
            or self.new_subjects
            or self.new_contacts
            or self.new_identities
        )

    def read_back(self) -> None:
        """Forget what was noted as new: ``reindex`` reads those rows from the database instead."""
        self.messages.update(self.new_messages)
        self.conversations.update(self.new_subjects)
        self.contacts.update(self.new_contacts)
        self.contacts.update(contact_id for _, contact_id, _, _ in self.new_identities)
        self.new_messages.clear()
        self.new_subjects.clear()
        self.new_contacts.clear()
        self.new_identities.clear()


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _after_flush(session: Session, _context: Any) -> None:
    pending: Pending = session.info.setdefault(_PENDING, Pending())
    for obj in session.new:
        if isinstance(obj, Message):
            if obj.search_pending:
                session.info.setdefault(_DEFERRED, set()).add(obj.id)
            else:
                pending.new_messages[obj.id] = (obj.tenant_id, obj.conversation_id, obj.text)
        elif isinstance(obj, Conversation):
            pending.new_subjects[obj.id] = (obj.tenant_id, obj.subject)
        elif isinstance(obj, Contact):
            pending.new_contacts[obj.id] = (obj.tenant_id, obj.name)
        elif isinstance(obj, ContactIdentity):
            pending.new_identities.append((obj.id, obj.contact_id, obj.kind, obj.value))
    for obj in session.dirty:
        if isinstance(obj, Message) and _changed(obj, "text"):
            pending.messages.add(obj.id)
        elif isinstance(obj, Conversation) and _changed(obj, "subject"):
            pending.conversations.add(obj.id)
        elif isinstance(obj, Contact) and _changed(obj, "name", "merged_into_id"):
            pending.contacts.add(obj.id)
            if obj.merged_into_id is not None:
                pending.contacts.add(obj.merged_into_id)
        elif isinstance(obj, ContactIdentity) and _changed(obj, "contact_id", "value"):
            history = inspect(obj).attrs.contact_id.history
            pending.contacts.update(v for v in (*history.deleted, obj.contact_id) if v is not None)
    for obj in session.deleted:
        if isinstance(obj, ContactIdentity):
            pending.contacts.add(obj.contact_id)


def _before_commit(session: Session) -> None:
    for _ in range(5):  # writing entries flushes; a flush may (rarely) report more changes
        session.flush()
        pending = session.info.pop(_PENDING, None)
        if not pending:
            return
        reindex(session, pending)


def _forget(session: Session, previous_transaction: Any) -> None:
    # Only when the whole transaction is rolled back: a savepoint's rollback (``begin_nested``)
    # leaves the outer transaction's changes to index. Ids whose rows were rolled back are
    # harmless: ``reindex`` reads what the database holds.
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_DEFERRED, None)
        return
    # A savepoint rolled back: rows inserted inside it may be gone, so what was noted as new is
    # read back from the database instead (``reindex`` finds nothing for a row that is gone).
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending.read_back()


def install(factory: sessionmaker[Session]) -> None:
    """Attach the hooks to every session of ``factory``."""
    from sqlalchemy import event

    backlog = Backlog(factory)

    def after_commit(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released (SQLAlchemy calls this hook then too): the real commit comes later
        deferred = session.info.pop(_DEFERRED, None)
        if deferred:
            backlog.index_and_wait(deferred)

    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_soft_rollback", _forget)


def _chunks(ids: Iterable[int], size: int = 500) -> Iterable[list[int]]:
    items = sorted(i for i in ids if i is not None)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def contact_body(name: str | None, identities: Iterable[tuple[str, str]]) -> str:
    """A contact's name and identity values; phone numbers also as their national digits."""
    parts: list[str | None] = [name]
    for kind, value in identities:
        if kind in _NOT_INDEXED_KINDS:
            continue
        parts.append(value)
        if value.startswith("+"):
            try:
                national = str(phonenumbers.parse(value, None).national_number)
            except phonenumbers.NumberParseException:
                national = None
            parts.extend(phone_forms(value, national))
    return index_body(parts)


_NO_TARGET = {"conversation_id": None, "message_id": None, "contact_id": None}


def reindex(session: Session, pending: Pending) -> None:
    """Rewrite the entries of the given messages, conversations (subject) and contacts."""
    # A row inserted and then changed in the same transaction is rewritten from the database below;
    # so is a contact that existed before and got a new identity.
    fresh_contacts: dict[int, list[tuple[int, str, str]]] = {
        cid: [] for cid in pending.new_contacts if cid not in pending.contacts
    }
    for identity_id, contact_id, kind, value in pending.new_identities:
        if contact_id in fresh_contacts:
            fresh_contacts[contact_id].append((identity_id, kind, value))
        else:
            pending.contacts.add(contact_id)
    fresh = (
        [
            {"tenant_id": tenant, "kind": "message", "conversation_id": conversation, "message_id": mid, "body": body}
            for mid, (tenant, conversation, text) in pending.new_messages.items()
            if mid not in pending.messages and (body := index_body([text]))
        ]
        + [
            {"tenant_id": tenant, "kind": "subject", "conversation_id": cid, "body": body}
            for cid, (tenant, subject) in pending.new_subjects.items()
            if cid not in pending.conversations and (body := index_body([subject]))
        ]
        + [
            {"tenant_id": pending.new_contacts[cid][0], "kind": "contact", "contact_id": cid, "body": body}
            for cid, identities in fresh_contacts.items()
            if (
                body := contact_body(
                    pending.new_contacts[cid][1], [(kind, value) for _, kind, value in sorted(identities)]
                )
            )
        ]
    )
    if fresh:
        # Every row with the same keys: one INSERT for all (rows with different key sets would be
        # sent as one statement per set).
        fresh_rows = [{**_NO_TARGET, **row} for row in fresh]
        session.execute(insert(SearchEntry), fresh_rows, execution_options={"render_nulls": True})
    for ids in _chunks(pending.messages):
        settle_in_transaction(session, ids)  # written here: the backlog must not add a second entry
        session.execute(delete(SearchEntry).where(SearchEntry.message_id.in_(ids)))
        rows = [
            {"tenant_id": tenant, "kind": "message", "conversation_id": conversation, "message_id": mid, "body": body}
            for mid, tenant, conversation, text in session.execute(
                select(Message.id, Message.tenant_id, Message.conversation_id, Message.text).where(Message.id.in_(ids))
            )
            if (body := index_body([text]))
        ]
        if rows:
            session.execute(insert(SearchEntry), rows)
    for ids in _chunks(pending.conversations):
        session.execute(delete(SearchEntry).where(SearchEntry.conversation_id.in_(ids), SearchEntry.kind == "subject"))
        rows = [
            {"tenant_id": tenant, "kind": "subject", "conversation_id": cid, "body": body}
            for cid, tenant, subject in session.execute(
                select(Conversation.id, Conversation.tenant_id, Conversation.subject).where(Conversation.id.in_(ids))
            )
            if (body := index_body([subject]))
        ]
        if rows:
            session.execute(insert(SearchEntry), rows)
    for ids in _chunks(pending.contacts):
        session.execute(delete(SearchEntry).where(SearchEntry.contact_id.in_(ids), SearchEntry.kind == "contact"))
        identities: dict[int, list[tuple[str, str]]] = {}
        for contact_id, kind, value in session.execute(
            select(ContactIdentity.contact_id, ContactIdentity.kind, ContactIdentity.value)
            .where(ContactIdentity.contact_id.in_(ids))
            .order_by(ContactIdentity.id)
        ):
            identities.setdefault(contact_id, []).append((kind, value))
        rows = [
            {"tenant_id": tenant, "kind": "contact", "contact_id": cid, "body": body}
            for cid, tenant, name in session.execute(
                select(Contact.id, Contact.tenant_id, Contact.name).where(
                    Contact.id.in_(ids), Contact.merged_into_id.is_(None)
                )
            )
            if (body := contact_body(name, identities.get(cid, [])))
        ]
        if rows:
            session.execute(insert(SearchEntry), rows)


def matches(dialect: str, query: SearchQuery) -> ColumnElement[bool]:
    """``search_entries`` rows whose body has every word of ``query`` (the last as a prefix), using
    the backend's full-text index."""
    if dialect == "postgresql":
        return literal_column("search_entries.tsv").op("@@")(
            func.to_tsquery(literal_column("'simple'::regconfig"), query.tsquery())
        )
    return SearchEntry.id.in_(select(_FTS.c.rowid).where(literal_column("search_fts").op("MATCH")(query.fts5())))


def matching(
    session: Session, tenant_id: int, query: SearchQuery, kinds: tuple[str, ...] | None, *targets: Any
) -> Select[Any]:
    """``SELECT targets FROM search_entries`` for this tenant's matching entries (of these kinds)."""
    dialect = session.get_bind().dialect.name
    condition = and_(SearchEntry.tenant_id == tenant_id, matches(dialect, query))
    if kinds is not None:
        condition = and_(condition, SearchEntry.kind.in_(kinds))
    return select(*targets).where(condition)
