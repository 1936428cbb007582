"""Who sees which realtime event. Pure: the WebSocket hub asks, the rule answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raccordo.accounts.domain.roles import Role


@dataclass
class Subscriber:
    tenant_id: int
    user_id: int
    role: Role
    team_ids: frozenset[int] = frozenset()
    conversation_ids: set[int] = field(default_factory=set)


# Kinds about the unassigned queue that every agent of the tenant sees.
QUEUE_KINDS = frozenset({"conversation.created", "conversation.updated", "message.created"})


def visible(event: dict[str, Any], subscriber: Subscriber) -> bool:
    """Supervisors and above see the whole tenant; agents their own work, their teams,
    the conversations they opened, the unassigned queue, and presence."""
    if event.get("tenant_id") != subscriber.tenant_id:
        return False
    if subscriber.role.at_least(Role.SUPERVISOR):
        return True
    payload = event.get("payload") or {}
    if subscriber.user_id in (event.get("user_id"), payload.get("previous_user_id")):
        return True
    if event.get("team_id") is not None and event["team_id"] in subscriber.team_ids:
        return True
    if event.get("conversation_id") is not None and event["conversation_id"] in subscriber.conversation_ids:
        return True
    if event.get("kind") in QUEUE_KINDS and event.get("user_id") is None and event.get("team_id") is None:
        return True
    return event.get("kind") == "presence.changed"
