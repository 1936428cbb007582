"""Failed deliveries at the top of a conversation, and the agent's retry. A reply the outbox could not
deliver (``failed``), or is still retrying after an error, is shown with the reason in the agent's words
(the channel's ``delivery_reason`` key when it gave one, else the technical error) and two ways out:
retry the same send (``channels/services/delivery_retry.py``) or send the text on the next channel that
reaches the customer (``channels/domain/reach.py``). Each use case opens its own unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.domain.reach import Availability, Reach
from raccordo.channels.services import delivery_retry
from raccordo.channels.services import reach as reach_service
from raccordo.desk.services import inbox as inbox_access
from raccordo.platform.errors import NotFound
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction
from raccordo.record.models import Conversation, Message
from raccordo.record.services.records import get_owned

Sessions = sessionmaker[Session]
Shaped = TypeVar("Shaped")
ALERTS_SHOWN = 5  # the newest ones; older failures stay marked at their message


@dataclass(frozen=True)
class DeliveryAlert:
    message_id: int
    text: str
    channel: str | None
    inbox_id: int | None
    inbox_name: str
    created_at: datetime
    retrying: bool  # queued again after an error (by the worker's backoff or an agent's retry)
    reason_key: str | None  # the channel's agent-facing explanation, when it gave one
    reason_params: dict[str, Any]
    error: str | None  # the technical error, shown when there is no reason key
    # The first other inbox that reaches the customer: "send on another channel" opens the composer there.
    alternative: Reach | None


def _alternative(ranked: list[Reach], inbox_id: int | None) -> Reach | None:
    others = [r for r in ranked if r.available and r.inbox_id != inbox_id]
    return next((r for r in others if r.availability is Availability.FREE), others[0] if others else None)


def _failing(message: Message) -> bool:
    return message.direction == Direction.OUTBOUND.value and (
        message.delivery_status == DeliveryStatus.FAILED.value
        or (message.delivery_status == DeliveryStatus.QUEUED.value and message.delivery_error is not None)
    )


def alerts(
    session: Session,
    conversation: Conversation,
    ranked: list[Reach] | None = None,
    messages: list[Message] | None = None,
) -> list[DeliveryAlert]:
    """The conversation's replies that failed or are retrying after an error, newest first (from the
    thread's ``messages`` when the caller has read them, else one query)."""
    if messages is not None:
        rows = [m for m in reversed(messages) if _failing(m)][:ALERTS_SHOWN]
    else:
        rows = list(
            session.scalars(
                select(Message)
                .where(
                    Message.tenant_id == conversation.tenant_id,
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.OUTBOUND.value,
                    or_(
                        Message.delivery_status == DeliveryStatus.FAILED.value,
                        (Message.delivery_status == DeliveryStatus.QUEUED.value) & Message.delivery_error.is_not(None),
                    ),
                )
                .order_by(Message.id.desc())
                .limit(ALERTS_SHOWN)
            )
        )
    if not rows:
        return []
    if ranked is None:
        ranked = reach_service.ranked_routes(session, conversation)
    names = {r.inbox_id: r.route.name for r in ranked}
    shown = []
    for message in rows:
        reason = message.content_attributes.get("delivery_reason")
        reason = reason if isinstance(reason, dict) and reason.get("key") else None
        shown.append(
            DeliveryAlert(
                message_id=message.id,
                text=message.text,
                channel=message.channel,
                inbox_id=message.inbox_id,
                inbox_name=names.get(message.inbox_id or 0, ""),
                created_at=message.created_at,
                retrying=message.delivery_status == DeliveryStatus.QUEUED.value,
                reason_key=str(reason["key"]) if reason else None,
                reason_params=dict(reason.get("params") or {}) if reason else {},
                error=message.delivery_error,
                alternative=_alternative(ranked, message.inbox_id),
            )
        )
    return shown


def alerts_view(sessions: Sessions, actor: Actor, conversation_id: int) -> dict[str, Any]:
    """What the banner fragment shows: the conversation and its alerts."""
    with unit_of_work(sessions) as session:
        actor.require(Permission.READ)
        conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
        if not inbox_access.can_see(session, actor, conversation):
            raise NotFound("conversation.not_found")
        return {"conversation": conversation, "delivery_alerts": alerts(session, conversation)}


def retry(sessions: Sessions, actor: Actor, message_id: int, shape: Callable[[Message], Shaped]) -> Shaped:
    """Queue a failed reply's send again (idempotent): 404 for a message the agent cannot see, 403 for
    a conversation they may not act on, 409 for one already delivered or not a reply."""
    with unit_of_work(sessions) as session:
        actor.require(Permission.WORK)
        message, conversation = delivery_retry.retry_message(session, actor, message_id)
        if not inbox_access.can_see(session, actor, conversation):
            raise NotFound("error.not_found_id", kind="messages", id=message_id)
        inbox_access.require_can_act(session, actor, conversation)
        delivery_retry.requeue(session, actor, message, conversation)
        session.flush()
        session.refresh(message, ["attachments"])
        return shape(message)
