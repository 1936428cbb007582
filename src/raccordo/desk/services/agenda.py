"""The agenda: callbacks and follow-ups scheduled on a conversation (reading, scheduling,
rescheduling, cancelling, completing). What happens when one falls due is ``agenda_due.py``.

Scheduling writes an ``agenda_items`` row and, in the same transaction, a keyed durable job
(``jobs.schedule``, key ``agenda:<id>``): the timer exists if and only if the item does;
rescheduling moves the job, cancelling or completing cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.accounts.models import Tenant, User
from raccordo.channels.base import get_channel
from raccordo.channels.models import Inbox
from raccordo.desk.domain import agenda as rules
from raccordo.desk.models import AgendaItem
from raccordo.platform import hours, jobs
from raccordo.platform.errors import Conflict, Forbidden, InvalidInput
from raccordo.platform.events import emit
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.models import Conversation
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import add_conversation_timeline, audit, get_owned
from raccordo.routing.models import RoutingQueue

AGENDA_DUE = "agenda.due"
TIMELINE_SCHEDULED = "agenda.scheduled"


def job_key(item_id: int) -> str:
    return f"agenda:{item_id}"


# --- reading -------------------------------------------------------------------------------------


def tenant_zone(session: Session, tenant_id: int) -> Any:
    tenant = session.get(Tenant, tenant_id)
    return hours.tenant_zone(tenant.settings if tenant else None)


def get_item(session: Session, actor: Actor, item_id: int, *, lock: bool = False) -> AgendaItem:
    actor.require(Permission.READ)
    item = get_owned(session, AgendaItem, actor.tenant_id, item_id, lock=lock)
    if not _may_see(actor, item):
        raise Forbidden("agenda.not_yours")
    return item


def _may_see(actor: Actor, item: AgendaItem) -> bool:
    return can(actor.role, Permission.ASSIGN_OTHERS) or actor.user_id in (item.owner_id, item.created_by_id)


def _may_change(actor: Actor, item: AgendaItem) -> bool:
    return _may_see(actor, item)


@dataclass
class AgendaFilters:
    scope: str = "mine"  # mine | all (supervisors and up)
    status: str | None = None  # one status, "open" (scheduled or due) or "overdue"
    day: date | None = None  # local day in the tenant's timezone
    conversation_id: int | None = None


def list_items(
    session: Session, actor: Actor, filters: AgendaFilters, limit: int = 200, now: datetime | None = None
) -> list[AgendaItem]:
    """Items by due time. Agents see their own (owned or created); supervisors anyone's with ``scope=all``."""
    actor.require(Permission.READ)
    now = now or datetime.now(UTC)
    query = select(AgendaItem).where(AgendaItem.tenant_id == actor.tenant_id)
    if filters.scope == "all":
        if not can(actor.role, Permission.ASSIGN_OTHERS) and filters.conversation_id is None:
            raise Forbidden("agenda.scope_forbidden")
    elif filters.scope == "mine":
        query = query.where((AgendaItem.owner_id == actor.user_id) | (AgendaItem.created_by_id == actor.user_id))
    else:
        raise InvalidInput("agenda.scope_unknown", field="scope", value=filters.scope)
    if filters.conversation_id is not None:
        get_owned(session, Conversation, actor.tenant_id, filters.conversation_id)
        query = query.where(AgendaItem.conversation_id == filters.conversation_id)
    if filters.status == "open":
        query = query.where(AgendaItem.status.in_(rules.OPEN_STATUSES))
    elif filters.status == "overdue":
        query = query.where(AgendaItem.status.in_(rules.OPEN_STATUSES), AgendaItem.due_at <= now)
    elif filters.status is not None:
        if filters.status not in rules.STATUSES:
            raise InvalidInput("agenda.status_unknown", field="status", value=filters.status)
        query = query.where(AgendaItem.status == filters.status)
    if filters.day is not None:
        zone = tenant_zone(session, actor.tenant_id)
        try:
            start = datetime.combine(filters.day, datetime.min.time(), zone).astimezone(UTC)
            end = datetime.combine(filters.day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        except OverflowError:  # the first or last day a date can hold
            raise InvalidInput("agenda.day_invalid", field="day", value=filters.day.isoformat()) from None
        query = query.where(AgendaItem.due_at >= start, AgendaItem.due_at < end)
    return list(session.scalars(query.order_by(AgendaItem.due_at, AgendaItem.id).limit(limit)))


def conversation_items(session: Session, actor: Actor, conversation_id: int) -> list[AgendaItem]:
    """Every item of one conversation (anyone who may read the conversation sees its agenda)."""
    actor.require(Permission.READ)
    get_owned(session, Conversation, actor.tenant_id, conversation_id)
    query = select(AgendaItem).where(
        AgendaItem.tenant_id == actor.tenant_id, AgendaItem.conversation_id == conversation_id
    )
    return list(session.scalars(query.order_by(AgendaItem.due_at, AgendaItem.id)))


def channel_choices(
    session: Session, actor: Actor, conversation: Conversation
) -> list[tuple[str, int | None, str, bool]]:
    """(channel, inbox id, inbox name, reachable) for the form: a phone call and each active inbox."""
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    kinds = {identity.kind for identity in contact.identities}
    choices: list[tuple[str, int | None, str, bool]] = [(rules.PHONE, None, "", rules.reachable(rules.PHONE, kinds))]
    for inbox in session.scalars(
        select(Inbox).where(Inbox.tenant_id == actor.tenant_id, Inbox.active.is_(True)).order_by(Inbox.name, Inbox.id)
    ):
        channel = get_channel(inbox.channel)
        choices.append(
            (
                inbox.channel,
                inbox.id,
                inbox.name,
                channel is not None and rules.reachable(inbox.channel, kinds, channel.reply_identity_kinds),
            )
        )
    return choices


# --- validation ----------------------------------------------------------------------------------


def _due(value: Any, now: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput("agenda.due_at_required", field="due_at")
    if value.tzinfo is None:
        raise InvalidInput("agenda.due_at_timezone", field="due_at")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00
        raise InvalidInput("agenda.due_at_out_of_range", field="due_at") from None
    if value <= now:
        raise InvalidInput("agenda.due_at_past", field="due_at")
    return value


def _kind(value: Any) -> str:
    if value not in rules.KINDS:
        raise InvalidInput("agenda.kind_unknown", field="kind", value=str(value), known=", ".join(rules.KINDS))
    return str(value)


def _note(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > rules.NOTE_MAX:
        raise InvalidInput("agenda.note_too_long", field="note", max=rules.NOTE_MAX)
    return text


def _owner(session: Session, actor: Actor, owner_id: int | None) -> int:
    if owner_id is None or owner_id == actor.user_id:
        if actor.user_id is None:
            raise InvalidInput("agenda.owner_required", field="owner_id")
        return actor.user_id
    user = get_owned(session, User, actor.tenant_id, owner_id)
    if not can(actor.role, Permission.ASSIGN_OTHERS):
        raise Forbidden("agenda.owner_forbidden")
    if not user.active:
        raise InvalidInput("agenda.owner_inactive", field="owner_id")
    return user.id


def _queue(session: Session, actor: Actor, queue_id: int | None) -> int | None:
    if queue_id is None:
        return None
    queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id)
    if not queue.active:
        raise InvalidInput("agenda.queue_inactive", field="queue_id")
    return queue.id


def _channel(
    session: Session, actor: Actor, conversation: Conversation, channel: str | None, inbox_id: int | None
) -> tuple[str, int | None]:
    """The channel and inbox to use, checked against the contact's identities (precise 422s)."""
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    kinds = {identity.kind for identity in contact.identities}
    if inbox_id is None and channel is None:
        # No choice made: the customer's last inbox when it can still reach them, else the first
        # channel that can (a phone call first), so the default never fails on a channel that has
        # no module or an identity the contact lacks.
        usable = [(c, i) for c, i, _, ok in channel_choices(session, actor, conversation) if ok]
        last = next(((c, i) for c, i in usable if i is not None and i == conversation.last_inbox_id), None)
        if last is None and not usable:
            raise InvalidInput("agenda.channel_required", field="channel")
        channel, inbox_id = last or usable[0]
        if inbox_id is not None:
            channel = None
    if inbox_id is None:
        if channel != rules.PHONE:
            # A channel by name: the conversation's last inbox if it is of that channel, else the first active one.
            candidates = list(
                session.scalars(
                    select(Inbox)
                    .where(Inbox.tenant_id == actor.tenant_id, Inbox.channel == channel, Inbox.active.is_(True))
                    .order_by(Inbox.id)
                )
            )
            if not candidates:
                raise InvalidInput("agenda.channel_unknown", field="channel", value=str(channel))
            chosen = next((i for i in candidates if i.id == conversation.last_inbox_id), candidates[0])
            inbox_id = chosen.id
        elif not rules.reachable(rules.PHONE, kinds):
            raise InvalidInput("agenda.phone_missing", field="channel")
        else:
            return rules.PHONE, None
    inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
    if channel is not None and channel != inbox.channel:
        raise InvalidInput(
            "agenda.channel_mismatch", field="channel", channel=str(channel), inbox_channel=inbox.channel
        )
    if not inbox.active:
        raise InvalidInput("agenda.inbox_inactive", field="inbox_id")
    implementation = get_channel(inbox.channel)
    if implementation is None:
        raise InvalidInput("channel.not_installed", field="channel", channel=inbox.channel)
    needed = rules.needed_identity_kinds(inbox.channel, implementation.reply_identity_kinds if implementation else ())
    if not needed & kinds:
        raise InvalidInput(
            "agenda.identity_missing", field="inbox_id", channel=inbox.channel, needed=", ".join(sorted(needed)) or "-"
        )
    return inbox.channel, inbox.id


# --- changes -------------------------------------------------------------------------------------


def announce(session: Session, item: AgendaItem, kind: str = "agenda.changed", **extra: Any) -> None:
    """An event for the owner's desktop (supervisors see every event of the tenant)."""
    emit(
        session,
        item.tenant_id,
        kind,
        {
            "id": item.id,
            "kind": item.kind,
            "status": item.status,
            "due_at": item.due_at.isoformat(),
            "conversation_id": item.conversation_id,
            "owner_id": item.owner_id,
            "channel": item.channel,
            **extra,
        },
        conversation_id=item.conversation_id,
        contact_id=item.contact_id,
        user_id=item.owner_id,
    )


def schedule(
    session: Session,
    actor: Actor,
    *,
    conversation_id: int,
    kind: str,
    due_at: datetime | None,
    channel: str | None = None,
    inbox_id: int | None = None,
    queue_id: int | None = None,
    owner_id: int | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> AgendaItem:
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    if conversation.status == ConversationStatus.CLOSED.value:
        raise InvalidInput("agenda.conversation_closed", field="conversation_id")
    kind = _kind(kind)
    due = _due(due_at, now)
    owner = _owner(session, actor, owner_id)
    queue = _queue(session, actor, queue_id)
    channel_name, inbox = _channel(session, actor, conversation, channel, inbox_id)
    item = AgendaItem(
        tenant_id=actor.tenant_id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        owner_id=owner,
        created_by_id=actor.user_id,
        kind=kind,
        channel=channel_name,
        inbox_id=inbox,
        queue_id=queue,
        due_at=due,
        note=_note(note),
        status=rules.SCHEDULED,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    jobs.schedule(
        session, AGENDA_DUE, due, {"agenda_item_id": item.id}, tenant_id=actor.tenant_id, dedupe_key=job_key(item.id)
    )
    data = {
        "agenda_item_id": item.id,
        "kind": kind,
        "channel": channel_name,
        "due_at": due.isoformat(),
        "owner_id": owner,
    }
    add_conversation_timeline(session, actor, conversation, TIMELINE_SCHEDULED, data)
    audit(session, actor, "agenda.scheduled", "agenda_item", item.id, data)
    announce(session, item)
    return item


_UNSET: Any = object()


def update(
    session: Session,
    actor: Actor,
    item_id: int,
    *,
    due_at: Any = _UNSET,
    kind: Any = _UNSET,
    note: Any = _UNSET,
    channel: Any = _UNSET,
    inbox_id: Any = _UNSET,
    queue_id: Any = _UNSET,
    owner_id: Any = _UNSET,
    now: datetime | None = None,
) -> AgendaItem:
    """Change an item; a new ``due_at`` reschedules it (any status becomes ``scheduled``, the job moves)."""
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    item = get_item(session, actor, item_id, lock=True)
    if not _may_change(actor, item):
        raise Forbidden("agenda.not_yours")
    changes: dict[str, Any] = {}
    if kind is not _UNSET:
        item.kind = changes["kind"] = _kind(kind)
    if note is not _UNSET:
        item.note = _note(note)
        changes["note"] = True
    if owner_id is not _UNSET:
        if owner_id is None:
            raise InvalidInput("agenda.owner_required", field="owner_id")
        if owner_id != item.owner_id:
            item.owner_id = changes["owner_id"] = _owner(session, actor, owner_id)
    if queue_id is not _UNSET:
        item.queue_id = changes["queue_id"] = _queue(session, actor, queue_id)
    if channel is not _UNSET or inbox_id is not _UNSET:
        conversation = get_owned(session, Conversation, actor.tenant_id, item.conversation_id)
        new_channel = None if channel is _UNSET else channel
        new_inbox = None if inbox_id is _UNSET else inbox_id
        item.channel, item.inbox_id = _channel(session, actor, conversation, new_channel, new_inbox)
        changes["channel"] = item.channel
    if due_at is not _UNSET:
        item.due_at = _due(due_at, now)
        item.status, item.outcome, item.routed_user_id, item.routed_queue_id, item.fired_at, item.completed_at = (
            rules.SCHEDULED,
            None,
            None,
            None,
            None,
            None,
        )
        jobs.schedule(
            session,
            AGENDA_DUE,
            item.due_at,
            {"agenda_item_id": item.id},
            tenant_id=item.tenant_id,
            dedupe_key=job_key(item.id),
        )
        changes["due_at"] = item.due_at.isoformat()
    item.updated_at = now
    session.flush()
    if changes:
        audit(session, actor, "agenda.updated", "agenda_item", item.id, changes)
        announce(session, item)
    return item


def _finish(session: Session, actor: Actor, item_id: int, action: str, status: str, now: datetime | None) -> AgendaItem:
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    item = get_item(session, actor, item_id, lock=True)
    if not _may_change(actor, item):
        raise Forbidden("agenda.not_yours")
    if item.status == status:
        return item  # already done / cancelled: repeating the request changes nothing
    if not rules.may(action, item.status):
        raise Conflict(f"agenda.cannot_{action}", status=item.status)
    jobs.cancel(session, job_key(item.id))
    item.status, item.updated_at = status, now
    if status == rules.DONE:
        item.completed_at = now
    session.flush()
    audit(session, actor, f"agenda.{action}", "agenda_item", item.id, {"status": status})
    announce(session, item)
    return item


def cancel(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> AgendaItem:
    return _finish(session, actor, item_id, "cancel", rules.CANCELLED, now)


def complete(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> AgendaItem:
    return _finish(session, actor, item_id, "complete", rules.DONE, now)
