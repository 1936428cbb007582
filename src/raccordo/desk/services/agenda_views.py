"""The agenda as the desk's pages use it: the conversation's panel and the /agenda page as read
models, scheduling from the panel's form and the item actions. Each opens, commits or rolls back
its own unit of work; times typed in a form are read in the tenant's timezone here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.services import accounts
from raccordo.channels.models import Inbox
from raccordo.desk.domain import agenda as rules
from raccordo.desk.models import AgendaItem
from raccordo.desk.services import agenda
from raccordo.platform.errors import InvalidInput
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, Conversation
from raccordo.record.services.records import get_owned
from raccordo.routing.models import RoutingQueue

Sessions = sessionmaker[Session]
Data = dict[str, Any]
HISTORY_DAYS = 7  # done, cancelled and missed items shown on /agenda


def _names(session: Session, actor: Actor, items: list[AgendaItem]) -> Data:
    """The names the items show (contacts, queues, inboxes, users), one query each for all items."""
    tenant = actor.tenant_id
    contact_ids = {i.contact_id for i in items}
    queue_ids = {i.routed_queue_id for i in items if i.routed_queue_id} | {i.queue_id for i in items if i.queue_id}
    inbox_ids = {i.inbox_id for i in items if i.inbox_id}
    return {
        "contacts": dict(
            session.execute(
                select(Contact.id, Contact.name).where(Contact.tenant_id == tenant, Contact.id.in_(contact_ids))
            ).all()
        )
        if contact_ids
        else {},
        "queues": dict(
            session.execute(
                select(RoutingQueue.id, RoutingQueue.name).where(
                    RoutingQueue.tenant_id == tenant, RoutingQueue.id.in_(queue_ids)
                )
            ).all()
        )
        if queue_ids
        else {},
        "inbox_names": dict(
            session.execute(
                select(Inbox.id, Inbox.name).where(Inbox.tenant_id == tenant, Inbox.id.in_(inbox_ids))
            ).all()
        )
        if inbox_ids
        else {},
        "users": {u.id: u.name for u in accounts.list_users(session, actor)},
    }


def _local(value: datetime, zone: Any) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _panel(session: Session, actor: Actor, conversation_id: int) -> Data:
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    items = agenda.conversation_items(session, actor, conversation_id)
    zone = agenda.tenant_zone(session, actor.tenant_id)
    queues = list(
        session.scalars(
            select(RoutingQueue)
            .where(RoutingQueue.tenant_id == actor.tenant_id, RoutingQueue.active.is_(True))
            .order_by(RoutingQueue.name)
        )
    )
    return {
        "conversation": conversation,
        "agenda_items": items,
        "agenda_zone": str(zone),
        "agenda_channels": agenda.channel_choices(session, actor, conversation),
        "agenda_queues": queues,
        "agenda_default_due": _local(datetime.now(UTC) + timedelta(hours=1), zone)[:16],
        "agenda_kinds": rules.KINDS,
        "now": datetime.now(UTC),
        "zone": zone,
        **_names(session, actor, items),
    }


def panel_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    """The conversation's "Schedule callback / follow-up" panel and its items."""
    with unit_of_work(sessions) as session:
        return _panel(session, actor, conversation_id)


def _page(session: Session, actor: Actor, scope: str) -> Data:
    now = datetime.now(UTC)
    zone = agenda.tenant_zone(session, actor.tenant_id)
    items = agenda.list_items(session, actor, agenda.AgendaFilters(scope=scope), limit=500)
    open_items = [i for i in items if i.status in rules.OPEN_STATUSES]
    since = now - timedelta(days=HISTORY_DAYS)
    history = [
        i
        for i in items
        if i.status not in rules.OPEN_STATUSES and (i.completed_at or i.updated_at or i.due_at) >= since
    ]
    return {
        "scope": scope,
        "overdue": [i for i in open_items if i.due_at <= now],
        "upcoming_days": rules.group_by_day([i for i in open_items if i.due_at > now], zone),
        "history_days": rules.group_by_day(history, zone),
        "zone": zone,
        "agenda_zone": str(zone),
        "now": now,
        **_names(session, actor, items),
    }


def page_view(sessions: Sessions, actor: Actor, scope: str) -> Data:
    """The agent's agenda (``mine``) or everyone's (``all``): overdue, upcoming by day, the last week's history."""
    with unit_of_work(sessions) as session:
        return _page(session, actor, scope)


def _due(session: Session, actor: Actor, raw: str) -> datetime | None:
    """A ``datetime-local`` typed in the tenant's timezone; refused when unreadable."""
    if not raw:
        return None
    due = rules.local_input(raw, agenda.tenant_zone(session, actor.tenant_id))
    if due is None:
        raise InvalidInput("agenda.due_at_invalid", field="due_at")
    return due


def schedule(
    sessions: Sessions,
    actor: Actor,
    conversation_id: int,
    *,
    kind: str,
    due_at: str,
    note: str,
    queue_id: int | None,
    channel: dict[str, Any],
) -> None:
    """Schedule from the panel's form: ``channel`` is ``{"channel": "phone"}`` or ``{"inbox_id": 7}``."""
    with unit_of_work(sessions) as session:
        agenda.schedule(
            session,
            actor,
            conversation_id=conversation_id,
            kind=kind,
            due_at=_due(session, actor, due_at),
            note=note,
            queue_id=queue_id,
            **channel,
        )


def act(sessions: Sessions, actor: Actor, item_id: int, action: str, due_at: str = "") -> int | None:
    """complete / cancel / reschedule an item; the id of its conversation."""
    with unit_of_work(sessions) as session:
        item = agenda.get_item(session, actor, item_id)
        if action == "complete":
            agenda.complete(session, actor, item_id)
        elif action == "cancel":
            agenda.cancel(session, actor, item_id)
        else:
            agenda.update(session, actor, item_id, due_at=_due(session, actor, due_at))
        return item.conversation_id


def conversation_of(sessions: Sessions, actor: Actor, item_id: int) -> int | None:
    with unit_of_work(sessions) as session:
        return agenda.get_item(session, actor, item_id).conversation_id
