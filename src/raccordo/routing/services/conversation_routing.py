"""The routing use cases on one conversation as the REST API calls them: the caller's offers,
accepting or declining one, a transfer, and a conversation's routing events and SLA clocks. Each
opens, commits or rolls back its own unit of work (an error leaves nothing written) and returns
plain data: the rows' column values read inside it, so nothing loads after it closes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.files import FileStore
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.models import Conversation
from raccordo.record.services import conversations
from raccordo.record.services.records import get_owned
from raccordo.routing.models import RoutingEvent, SlaClock
from raccordo.routing.services import offers, transfers

Sessions = sessionmaker[Session]
History = TypeVar("History", RoutingEvent, SlaClock)


def my_offers(sessions: Sessions, actor: Actor) -> list[SimpleNamespace]:
    """The queue items offered to the caller and waiting for their answer, soonest to expire first."""
    with unit_of_work(sessions) as session:
        return [plain(item) for item in offers.my_offers(session, actor)]


def accept_offer(sessions: Sessions, actor: Actor, conversation_id: int) -> SimpleNamespace:
    """The conversation, now assigned to the caller."""
    with unit_of_work(sessions) as session:
        return plain(offers.accept_offer(session, actor, conversation_id))


def decline_offer(sessions: Sessions, actor: Actor, conversation_id: int, reason: str | None) -> None:
    with unit_of_work(sessions) as session:
        offers.decline_offer(session, actor, conversation_id, reason)


def transfer(
    sessions: Sessions,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    user_id: int | None,
    team_id: int | None,
    queue_id: int | None,
    note: str | None,
    max_attachment_bytes: int,
) -> SimpleNamespace:
    """The conversation as handed on (the caller must be allowed to act on it)."""
    with unit_of_work(sessions) as session:
        conversations.require_can_act(session, actor, conversation_id)
        return plain(
            transfers.transfer(
                session,
                actor,
                conversation_id,
                user_id=user_id,
                team_id=team_id,
                queue_id=queue_id,
                note=note,
                files=files,
                max_attachment_bytes=max_attachment_bytes,
            )
        )


def routing_events(sessions: Sessions, actor: Actor, conversation_id: int) -> list[SimpleNamespace]:
    """The conversation's routing history, oldest first."""
    return _history(sessions, actor, conversation_id, RoutingEvent)


def sla_clocks(sessions: Sessions, actor: Actor, conversation_id: int) -> list[SimpleNamespace]:
    """The conversation's SLA clocks, in the order they started."""
    return _history(sessions, actor, conversation_id, SlaClock)


def _history(sessions: Sessions, actor: Actor, conversation_id: int, model: type[History]) -> list[SimpleNamespace]:
    """The conversation's rows of ``model`` in id order; 404 for a conversation of another tenant."""
    with unit_of_work(sessions) as session:
        actor.require(Permission.READ)
        get_owned(session, Conversation, actor.tenant_id, conversation_id)
        rows = session.scalars(
            select(model)
            .where(model.conversation_id == conversation_id, model.tenant_id == actor.tenant_id)
            .order_by(model.id)
        )
        return [plain(row) for row in rows]
