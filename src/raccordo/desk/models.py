"""Tables of the desk: answer templates, wrap-up codes, guided scripts (versions, runs), agenda items,
side-panel apps, the search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from raccordo.platform.store.models import Base, fold_name, folded_key, id_column, tenant_column, utcnow


def folding(*columns: str) -> Any:
    """The ORM validator that keeps each column's ``<column>_key`` (``folded_key``) in step when
    the column is set on a row: assigned in the class body as ``_fold = folding("name")``."""

    @validates(*columns)
    def fold(row: Any, key: str, value: str | None) -> str | None:
        setattr(row, f"{key}_key", fold_name(value))
        return value

    return fold


class AnswerTemplate(Base):
    """A canned answer managed by admins: ``body`` with ``{{contact.first_name}}``-style variables,
    and optional per-language bodies (``{"it": ..., "en": ...}``) chosen by the contact's language."""

    __tablename__ = "answer_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_answer_templates_tenant_name"),
        UniqueConstraint("tenant_id", "shortcut", name="uq_answer_templates_tenant_shortcut"),
        Index("uq_answer_templates_tenant_name_key", "tenant_id", "name_key", unique=True),
        Index("uq_answer_templates_tenant_shortcut_key", "tenant_id", "shortcut_key", unique=True),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(100))
    shortcut: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    bodies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = folded_key("name")
    shortcut_key: Mapped[str | None] = folded_key("shortcut")

    _fold = folding("name", "shortcut")


class WrapUpCode(Base):
    """An outcome agents pick when they resolve a conversation (``code`` is what is stored on it)."""

    __tablename__ = "wrap_up_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_wrap_up_codes_tenant_code"),
        Index("uq_wrap_up_codes_tenant_code_key", "tenant_id", "code_key", unique=True),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    code_key: Mapped[str | None] = folded_key("code")

    _fold = folding("code")


class Script(Base):
    """A conversation script designed by admins; its steps live in immutable ``ScriptVersion`` rows
    (``version`` is the latest number). Empty ``channels``/``queue_ids`` mean every channel/queue."""

    __tablename__ = "scripts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_scripts_tenant_name"),
        Index("uq_scripts_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    queue_ids: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = folded_key("name")

    _fold = folding("name")


class ScriptVersion(Base):
    """One saved design of a script (a list of steps, see ``domain/scripts.py``); never changed after."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "number", name="uq_script_versions_script_number"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptRun(Base):
    """An agent running a script beside a conversation: the version followed, the current step (None
    once finished) and the path so far (``answers``: [{"step", "value", "at", "by"}])."""

    __tablename__ = "script_runs"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("script_versions.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    current_step: Mapped[str | None] = mapped_column(String(40))
    answers: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")  # in_progress, completed, abandoned
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


class AgendaItem(Base):
    """A callback or follow-up an agent scheduled on a conversation: at ``due_at`` (UTC) the
    ``agenda.due`` job reopens the conversation and routes it to ``owner_id`` when they are
    online with room, otherwise into a queue (``services/agenda_due.py``)."""

    __tablename__ = "agenda_items"
    __table_args__ = (
        Index("ix_agenda_items_tenant_status_due", "tenant_id", "status", "due_at"),
        Index("ix_agenda_items_tenant_owner_due", "tenant_id", "owner_id", "due_at"),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # callback, follow_up
    channel: Mapped[str] = mapped_column(String(32))  # "phone" (a call) or the inbox's channel
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )  # where it goes if the owner is away
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled, due, done, cancelled, missed
    # What happened at the due time: offered / assigned (to routed_user_id), queued (in
    # routed_queue_id), unassigned, or why it was missed.
    outcome: Mapped[str | None] = mapped_column(String(32))
    routed_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    routed_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    fired_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SidePanelApp(Base):
    """An iframe app (e.g. a CRM) shown beside conversations; it receives the context by postMessage,
    with a token signed by ``secret_encrypted`` (sealed like inbox secrets) so it can trust it."""

    __tablename__ = "side_panel_apps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_side_panel_apps_tenant_name"),
        Index("uq_side_panel_apps_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Optional parts of the context the app receives (ids, status and channel always go).
    share: Mapped[list[Any]] = mapped_column(default=list)
    # Shown only for conversations of these inboxes / routed through these queues (empty: all).
    inbox_ids: Mapped[list[Any]] = mapped_column(default=list)
    queue_ids: Mapped[list[Any]] = mapped_column(default=list)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = folded_key("name")

    _fold = folding("name")


class SearchEntry(Base):
    """One searchable document: a message's text, a conversation's subject, or a contact's name and
    identities, as folded words (``domain/search.index_body``). Kept in step with those rows by
    ``adapters/store/search_index.py``; the full-text index over ``body`` is backend-specific and
    created by migration 0012 (PostgreSQL: the generated column ``tsv = to_tsvector('simple', body)``
    with a GIN index; SQLite: the FTS5 table ``search_fts``), so it is not declared here (see
    ``SEARCH_INDEX_OBJECTS``)."""

    __tablename__ = "search_entries"
    __table_args__ = (Index("ix_search_entries_conversation_kind", "conversation_id", "kind"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    kind: Mapped[str] = mapped_column(String(16))  # message, subject, contact
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
