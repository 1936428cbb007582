"""What routing and the SLA clocks make happen, as domain events (``platform.domain_events``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ConversationAssigned:
    """Routing gave a conversation to an agent (an accepted offer or an automatic assignment)."""

    tenant_id: int
    conversation_id: int
    user_id: int
    previous_user_id: int | None
    queue_id: int | None
    at: datetime


@dataclass(frozen=True)
class SlaBreached:
    """A running SLA clock passed its target; ``actions`` are the policy's actions that were applied."""

    tenant_id: int
    conversation_id: int
    clock_id: int
    metric: str
    actions: tuple[str, ...]
    at: datetime
