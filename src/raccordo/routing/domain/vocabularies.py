"""Routing's closed vocabularies, one StrEnum each, shared by the domain, the services, the API
schemas (checked against them in tests/platform/test_page_kernel.py) and the admin pages' choices."""

from __future__ import annotations

import enum


class RoutingStrategy(enum.StrEnum):
    """How a queue picks among the eligible agents."""

    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    ROUND_ROBIN = "round_robin"
    BEST_SKILL = "best_skill"


class OutOfHoursAction(enum.StrEnum):
    """What a queue does with a conversation arriving outside its business hours."""

    KEEP = "keep"  # wait in the queue for the next opening
    MESSAGE = "message"  # wait, and tell the customer when we open
    CALLBACK = "callback"  # schedule a callback on the agenda


class SlaAction(enum.StrEnum):
    """What an SLA policy does when a target is breached."""

    RAISE_PRIORITY = "raise_priority"
    NOTIFY_SUPERVISORS = "notify_supervisors"
    REASSIGN = "reassign"
