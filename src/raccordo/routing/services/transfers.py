"""Handing a conversation on: to an agent, a team (whose conversation follows the routing rules
again) or a queue, with an optional internal note; the routing events, timeline and audit say who did it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.accounts.models import Team, User
from raccordo.platform.errors import Forbidden, InvalidInput
from raccordo.platform.events import emit_conversation
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Conversation
from raccordo.record.services.records import add_timeline, audit, get_owned
from raccordo.record.services.reply import add_note
from raccordo.routing.models import RoutingQueue
from raccordo.routing.services.routing import (
    ACTIVE,
    ASSIGNED,
    _item_for,
    _place,
    after_inbound,
    record,
    request_routing,
)


def transfer(
    session: Session,
    actor: Actor,
    conversation_id: int,
    *,
    user_id: int | None = None,
    team_id: int | None = None,
    queue_id: int | None = None,
    note: str | None = None,
    files: Any = None,
    max_attachment_bytes: int = 0,
) -> Conversation:
    """Hand a conversation to an agent, a team or a queue, with an optional internal note."""
    actor.require(Permission.WORK)
    if sum(target is not None for target in (user_id, team_id, queue_id)) != 1:
        raise InvalidInput("routing.transfer_one_target", field="user_id")
    now = datetime.now(UTC)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    if conversation.assignee_id not in (None, actor.user_id) and not can(actor.role, Permission.ASSIGN_OTHERS):
        raise Forbidden("routing.transfer_forbidden")
    previous = conversation.assignee_id
    item = _item_for(session, conversation.id)
    target: dict[str, Any]
    if user_id is not None:
        user = get_owned(session, User, actor.tenant_id, user_id)
        if not user.active:
            raise InvalidInput("routing.transfer_user_inactive", field="user_id")
        conversation.assignee_id = user_id
        if item is not None and item.status in (*ACTIVE, ASSIGNED):
            item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at, item.updated_at = (
                ASSIGNED,
                user_id,
                None,
                None,
                now,
            )
        target = {"user_id": user_id}
    elif team_id is not None:
        get_owned(session, Team, actor.tenant_id, team_id)
        conversation.team_id, conversation.assignee_id = team_id, None
        target = {"team_id": team_id}
    else:
        queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id)  # type: ignore[arg-type]
        if not queue.active:
            raise InvalidInput("routing.queue_inactive", field="queue_id")
        conversation.assignee_id = None
        base = item if item is not None else None
        _place(
            session,
            conversation,
            queue,
            priority=base.priority if base else 0,
            skills=base.required_skills if base else {},
            rule_id=base.rule_id if base else None,
            now=now,
        )
        target = {"queue_id": queue.id}
    if conversation.status != ConversationStatus.OPEN.value and (team_id is not None or queue_id is not None):
        conversation.status = ConversationStatus.OPEN.value
    conversation.updated_at = now
    record(
        session,
        actor.tenant_id,
        conversation.id,
        "transferred",
        queue_id=target.get("queue_id", item.queue_id if item else None),
        user_id=actor.user_id,
        at=now,
        from_user_id=previous,
        **{f"to_{key}": value for key, value in target.items()},
    )
    data = {"from": previous, **target, "note": bool(note)}
    add_timeline(
        session,
        actor.tenant_id,
        conversation.contact_id,
        TimelineKind.TRANSFERRED,
        conversation_id=conversation.id,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=data,
    )
    audit(session, actor, "conversation.transferred", "conversation", conversation.id, data)
    if note and note.strip():
        add_note(session, files, actor, conversation.id, text=note, max_attachment_bytes=max_attachment_bytes)
    session.flush()
    if team_id is not None:
        after_inbound(session, conversation, now)  # the team's conversation follows the routing rules again
    if previous is not None or queue_id is not None:
        request_routing(session, actor.tenant_id, "transferred")
    emit_conversation(session, conversation, "conversation.updated", previous_user_id=previous)
    return conversation
