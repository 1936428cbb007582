"""What routing and the SLA clocks do when the record tells them something happened.

The record's services record domain events (``record.domain.events``); these handlers are
subscribed to them in ``bootstrap.subscriptions``, in the caller's transaction. Routing keeps its
queue items in step, SLA starts, meets, pauses and resumes its clocks; neither is called by the
record directly.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from raccordo.record.domain.events import ConversationStatusChanged, ConversationUpdated, MessageReceived, ReplySent
from raccordo.record.models import Conversation
from raccordo.routing.services import routing, sla

# --- routing ---------------------------------------------------------------------------------------


def route_message(session: Session, event: MessageReceived) -> None:
    """A customer's message: an open, unassigned conversation is queued by the routing rules (an auto-reply is not)."""
    if event.automated:
        return
    rules = routing.active_rules(session, event.tenant_id)
    if rules:  # a tenant that does not route has nothing to lock or look up
        routing.after_inbound(
            session,
            session.get_one(Conversation, event.conversation_id),
            event.at,
            created=event.conversation_created,
            rules=rules,
        )


def note_first_response(session: Session, event: ReplySent) -> None:
    """The conversation's first answer is a routing fact (time to first response per queue)."""
    if event.first_response:
        routing.after_first_response(
            session, session.get_one(Conversation, event.conversation_id), event.user_id, event.at
        )


def follow_conversation_update(session: Session, event: ConversationUpdated) -> None:
    """A person changed status or assignee: keep the queue item, the routing events and the capacity in step."""
    routing.after_conversation_change(
        session,
        session.get_one(Conversation, event.conversation_id),
        user_id=event.user_id,
        previous_status=event.previous_status,
        previous_assignee=event.previous_assignee_id,
        now=event.at,
    )


# --- SLA -------------------------------------------------------------------------------------------


def start_or_resume_clocks(session: Session, event: MessageReceived) -> None:
    """Subscribed after ``route_message``: a policy may depend on the queue the message was routed to."""
    if not event.automated:
        sla.after_inbound(
            session, session.get_one(Conversation, event.conversation_id), event.at, created=event.conversation_created
        )


def meet_response_clocks(session: Session, event: ReplySent) -> None:
    """An answer (not an automatic notice) meets the first- and next-response clocks."""
    if not event.automatic:
        sla.after_reply(session, session.get_one(Conversation, event.conversation_id), event.at)


def follow_status(session: Session, event: ConversationStatusChanged) -> None:
    """Resolved or closed stops the clocks; waiting on the customer pauses them; open again resumes them."""
    sla.after_status_change(session, session.get_one(Conversation, event.conversation_id), event.previous, event.at)
