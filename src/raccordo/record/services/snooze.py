"""Snooze end: the durable timer that reopens a snoozed conversation when its time comes.

``update_conversation`` schedules it (one per conversation, key ``snooze:<id>``) in the
same transaction that snoozes, and cancels it when the status changes away from
snoozed. The handler is idempotent: it reopens only a conversation that is still
snoozed and whose ``snoozed_until`` has passed, under the conversation's row lock, so a
late, repeated or stale run changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import system_actor
from raccordo.platform import jobs
from raccordo.platform.domain_events import record
from raccordo.platform.events import emit_conversation
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.events import ConversationStatusChanged
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Conversation
from raccordo.record.services.records import add_timeline, audit

SNOOZE_END = "conversation.snooze_end"


def snooze_key(conversation_id: int) -> str:
    return f"snooze:{conversation_id}"


def schedule_snooze_end(session: Session, conversation: Conversation) -> None:
    """Set (or move) the conversation's snooze-end timer to its ``snoozed_until``."""
    assert conversation.snoozed_until is not None
    jobs.schedule(
        session,
        SNOOZE_END,
        conversation.snoozed_until,
        {"conversation_id": conversation.id},
        tenant_id=conversation.tenant_id,
        dedupe_key=snooze_key(conversation.id),
    )


def cancel_snooze_end(session: Session, conversation_id: int) -> bool:
    return jobs.cancel(session, snooze_key(conversation_id))


@jobs.job_handler(SNOOZE_END)
def end_snooze(ctx: jobs.JobContext) -> dict[str, Any]:
    session = ctx.session
    conversation = session.scalars(
        select(Conversation)
        .where(Conversation.id == ctx.payload.get("conversation_id"), Conversation.tenant_id == ctx.tenant_id)
        .with_for_update()
    ).one_or_none()
    if conversation is None:
        return {"reopened": False, "reason": "conversation not found"}
    if conversation.status != ConversationStatus.SNOOZED.value or conversation.snoozed_until is None:
        return {"reopened": False, "reason": f"conversation is {conversation.status}"}
    now = datetime.now(UTC)
    if conversation.snoozed_until > now:  # moved later, or this worker's clock is behind: wait
        ctx.run_again_at(conversation.snoozed_until)
        return {"reopened": False, "reason": "not due yet"}
    conversation.status = ConversationStatus.OPEN.value
    conversation.snoozed_until = None
    conversation.updated_at = now
    data = {"from": ConversationStatus.SNOOZED.value, "to": ConversationStatus.OPEN.value, "reason": "snooze_ended"}
    add_timeline(
        session,
        conversation.tenant_id,
        conversation.contact_id,
        TimelineKind.STATUS_CHANGED,
        conversation_id=conversation.id,
        actor_type="system",
        data=data,
    )
    audit(
        session,
        system_actor(conversation.tenant_id),
        f"conversation.{TimelineKind.STATUS_CHANGED}",
        "conversation",
        conversation.id,
        data,
    )
    session.flush()
    # Waiting on the customer is over: SLA resumes its clocks (bootstrap.subscriptions).
    record(
        session,
        ConversationStatusChanged(
            conversation.tenant_id, conversation.id, ConversationStatus.SNOOZED.value, conversation.status, now
        ),
    )
    emit_conversation(session, conversation, "conversation.updated")
    return {"reopened": True, "conversation_id": conversation.id}
