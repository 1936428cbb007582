"""What happens to the record, as domain events (``platform.domain_events``).

Recorded by the record's services in the transaction that did the work; routing, SLA and the
next capabilities (analytics, surveys, a bot) subscribe in ``bootstrap.subscriptions``. Plain
ids and values: a subscriber loads what it needs from its own session (the objects the service
touched are in that session's identity map, so loading them costs no query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from raccordo.record.domain.conversations import ConversationStatus


@dataclass(frozen=True)
class MessageReceived:
    """A customer's message was stored on a conversation (``automated``: an auto-reply or vacation notice)."""

    tenant_id: int
    conversation_id: int
    message_id: int
    contact_id: int
    inbox_id: int
    at: datetime
    automated: bool = False
    conversation_created: bool = False


@dataclass(frozen=True)
class ReplySent:
    """An outbound message was stored and queued for delivery.

    ``automatic`` (an out-of-hours notice) is not an answer; ``first_response`` is true for the
    conversation's first answer by a person or the API."""

    tenant_id: int
    conversation_id: int
    message_id: int
    user_id: int | None
    at: datetime
    automatic: bool = False
    first_response: bool = False


@dataclass(frozen=True)
class ConversationStatusChanged:
    """The status moved (``previous`` → ``status``), by a person or by a timer (snooze end)."""

    tenant_id: int
    conversation_id: int
    previous: str
    status: str
    at: datetime
    user_id: int | None = None

    @property
    def resolved(self) -> bool:
        return self.status in (ConversationStatus.RESOLVED.value, ConversationStatus.CLOSED.value)


@dataclass(frozen=True)
class ConversationUpdated:
    """A person changed the status or the assignee of a conversation (``update_conversation``).

    Carries both previous values: whether capacity was freed depends on the pair."""

    tenant_id: int
    conversation_id: int
    previous_status: str
    previous_assignee_id: int | None
    status: str
    assignee_id: int | None
    user_id: int | None
    at: datetime
