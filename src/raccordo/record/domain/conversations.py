"""Conversation states, priorities, and the continuity rule that picks where an inbound message goes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from raccordo.platform.errors import InvalidInput


class ConversationStatus(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    CLOSED = "closed"  # final: never reopened, a new message opens a new conversation


ACTIVE_STATUSES = frozenset({ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED})


class Priority(enum.StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


_ALLOWED = {
    ConversationStatus.OPEN: {
        ConversationStatus.PENDING,
        ConversationStatus.SNOOZED,
        ConversationStatus.RESOLVED,
        ConversationStatus.CLOSED,
    },
    ConversationStatus.PENDING: {
        ConversationStatus.OPEN,
        ConversationStatus.SNOOZED,
        ConversationStatus.RESOLVED,
        ConversationStatus.CLOSED,
    },
    ConversationStatus.SNOOZED: {
        ConversationStatus.OPEN,
        ConversationStatus.PENDING,
        ConversationStatus.RESOLVED,
        ConversationStatus.CLOSED,
    },
    ConversationStatus.RESOLVED: {ConversationStatus.OPEN, ConversationStatus.CLOSED},
    ConversationStatus.CLOSED: set(),
}


def check_transition(current: ConversationStatus, new: ConversationStatus) -> None:
    if new == current:
        return
    if new not in _ALLOWED[current]:
        raise InvalidInput("conversation.bad_transition", field="status", current=current.value, new=new.value)


@dataclass(frozen=True)
class ContinuityPolicy:
    """Tenant setting: join the contact's open conversation across channels, and reopen recent ones."""

    across_channels: bool = True
    reopen_window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    status: ConversationStatus
    inbox_id: int | None
    resolved_at: datetime | None
    last_activity_at: datetime


@dataclass(frozen=True)
class ContinuityDecision:
    conversation_id: int | None  # None: open a new conversation
    reopen: bool = False
    ignore: bool = False  # an automated message with no conversation to join: store nothing


def choose_conversation(
    candidates: list[ConversationSummary],
    inbox_id: int,
    now: datetime,
    policy: ContinuityPolicy,
    *,
    threaded_id: int | None = None,
    automated: bool = False,
) -> ContinuityDecision:
    """Pick the conversation an inbound message joins.

    A message that answers one of the contact's conversations (``threaded_id``: found by
    the channel's threading, e.g. email In-Reply-To) joins it, and reopens it when
    resolved; a closed one is never reopened. Otherwise the most recently active
    conversation of the contact wins if it is still active (open, pending, snoozed); with
    ``across_channels`` off, only one of the same inbox counts. A resolved conversation
    within the reopen window is reopened. Otherwise a new conversation starts.

    An ``automated`` message (auto-reply, vacation notice) never opens nor reopens one: it
    joins an active or resolved conversation as it is, or is not stored as a message.
    """
    decision = _choose(candidates, inbox_id, now, policy, threaded_id)
    if automated:
        if decision.conversation_id is None:
            return ContinuityDecision(None, ignore=True)
        return ContinuityDecision(decision.conversation_id)
    return decision


def _choose(
    candidates: list[ConversationSummary],
    inbox_id: int,
    now: datetime,
    policy: ContinuityPolicy,
    threaded_id: int | None,
) -> ContinuityDecision:
    threaded = next((c for c in candidates if c.id == threaded_id), None)
    if threaded is not None:
        if threaded.status in ACTIVE_STATUSES:
            return ContinuityDecision(threaded.id)
        if threaded.status is ConversationStatus.RESOLVED:
            return ContinuityDecision(threaded.id, reopen=True)
    eligible = [c for c in candidates if policy.across_channels or c.inbox_id == inbox_id]
    if not eligible:
        return ContinuityDecision(None)
    latest = max(eligible, key=lambda c: (c.last_activity_at, c.id))
    if latest.status in ACTIVE_STATUSES:
        return ContinuityDecision(latest.id)
    if (
        latest.status is ConversationStatus.RESOLVED
        and latest.resolved_at is not None
        and now - latest.resolved_at <= policy.reopen_window
    ):
        return ContinuityDecision(latest.id, reopen=True)
    return ContinuityDecision(None)
