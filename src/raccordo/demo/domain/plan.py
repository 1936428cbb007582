"""The demo's plan: who the customers are and everything that happens in their conversations, when.

Plain values, made by ``planner.plan_demo`` and applied by ``demo/writer.py``; nothing here knows a
database row. A step's time is its conversation's ``start`` plus the step's ``offset``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from raccordo.demo.domain.content import Channel


@dataclass
class ContactPlan:
    index: int
    name: str
    first_name: str  # how agents greet them
    language: str
    identities: dict[str, str]  # kind -> value, created with the contact
    # Identities the contact writes from without having them yet (WhatsApp from the phone number):
    # the product links them on the first message.
    writes_from: dict[str, str]
    attributes: dict[str, Any]
    consent: dict[str, Any]
    created_at: datetime

    def channels(self, channels: dict[str, Channel]) -> list[str]:
        """The channels this contact can write on, from the identities it has."""
        kinds = set(self.identities) | set(self.writes_from)
        return [name for name, channel in channels.items() if channel.identity in kinds]

    def identity_for(self, channel: Channel) -> tuple[str, str]:
        kind = channel.identity
        return kind, self.identities[kind] if kind in self.identities else self.writes_from[kind]


class Action(enum.StrEnum):
    INBOUND = "inbound"  # the customer writes
    REPLY = "reply"  # the agent answers
    NOTE = "note"  # an internal note
    ASSIGN = "assign"  # team, agent, priority and labels are set
    STATUS = "status"


@dataclass
class Step:
    """One thing that happens in a conversation, ``offset`` after its first message."""

    offset: timedelta
    action: Action
    text: str = ""
    channel: str | None = None
    agent: int | None = None  # index into the organization's staff
    status: str | None = None
    attachment: tuple[str, str] | None = None  # (filename, content type)
    subject: str | None = None
    # Filled in once the whole history is planned (``planner.finish_details``), in time order:
    provider_message_id: str | None = None
    attachment_data: bytes | None = None
    snooze_for: timedelta | None = None  # a snooze lasts this long after the demo's "now"


@dataclass
class ConversationPlan:
    index: int
    contact: ContactPlan
    topic: str
    status: str  # how it ends up
    priority: str
    labels: list[str]
    agent: int | None  # None: waiting unassigned in its team's queue
    supervisor_assigns: bool
    subject: str = ""
    steps: list[Step] = field(default_factory=list)
    start: datetime | None = None

    @property
    def duration(self) -> timedelta:
        return self.steps[-1].offset

    def starts_at(self) -> datetime:
        if self.start is None:
            raise RuntimeError(f"demo conversation {self.index} was not scheduled")
        return self.start


@dataclass(frozen=True)
class AgendaPlan:
    """A callback or follow-up in the agenda of the agent of an open conversation."""

    kind: str
    channel: str | None
    due_at: datetime
    note: str


@dataclass(frozen=True)
class TimedStep:
    at: datetime
    conversation: ConversationPlan
    step: Step
    last: bool  # the conversation's last step


@dataclass
class DemoPlan:
    now: datetime
    contacts: list[ContactPlan]  # in the order they were created
    conversations: list[ConversationPlan]
    agenda: list[AgendaPlan]

    def timeline(self) -> list[TimedStep]:
        """Every step of every conversation, in the order they happened."""
        steps = [
            (plan.starts_at() + step.offset, plan.index, order, plan, step)
            for plan in self.conversations
            for order, step in enumerate(plan.steps)
        ]
        steps.sort(key=lambda item: item[:3])
        return [TimedStep(at, plan, step, order == len(plan.steps) - 1) for at, _, order, plan, step in steps]
