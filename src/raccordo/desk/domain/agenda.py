"""Agenda rules: callbacks and follow-ups an agent schedules on a conversation. Pure.

- kinds: ``callback`` (the agent calls or writes back) and ``follow_up`` (check on it later);
- statuses: ``scheduled`` → ``due`` (the time came and the work was routed) → ``done``;
  ``cancelled`` by a person, ``missed`` when the due time found nothing to route (the
  conversation was closed or deleted). Rescheduling (a new due time) makes any item
  ``scheduled`` again: a new appointment;
- a channel is ``phone`` (a call made outside Raccordo: the contact needs a phone number)
  or an inbox's channel (the contact needs an identity that channel can reply to);
- times are stored in UTC and shown in the tenant's timezone (``settings.timezone``, Europe/Rome
  when unset, as for business hours): users have no timezone of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

KINDS = ("callback", "follow_up")
PHONE = "phone"
SCHEDULED, DUE, DONE, CANCELLED, MISSED = "scheduled", "due", "done", "cancelled", "missed"
STATUSES = (SCHEDULED, DUE, DONE, CANCELLED, MISSED)
OPEN_STATUSES = (SCHEDULED, DUE)  # still to do
NOTE_MAX = 2000

# What a person may do from each status (``reschedule`` is allowed from every status).
_ALLOWED = {
    "cancel": frozenset({SCHEDULED, DUE, MISSED}),
    "complete": frozenset({SCHEDULED, DUE, MISSED}),
}


def may(action: str, status: str) -> bool:
    return status in _ALLOWED[action]


def needed_identity_kinds(channel: str, reply_identity_kinds: Iterable[str] = ()) -> frozenset[str]:
    """The identity kinds of which the contact needs one to be reached on ``channel``."""
    return frozenset({"phone"}) if channel == PHONE else frozenset(reply_identity_kinds)


def reachable(channel: str, identity_kinds: Iterable[str], reply_identity_kinds: Iterable[str] = ()) -> bool:
    return bool(needed_identity_kinds(channel, reply_identity_kinds) & set(identity_kinds))


class _Dated(Protocol):
    due_at: datetime


D = TypeVar("D", bound=_Dated)


def group_by_day(items: Iterable[D], zone: ZoneInfo) -> list[tuple[date, list[D]]]:
    """Items by local day (in ``zone``), days and items in time order."""
    days: dict[date, list[D]] = {}
    for item in sorted(items, key=lambda i: i.due_at):
        days.setdefault(item.due_at.astimezone(zone).date(), []).append(item)
    return sorted(days.items())


def local_input(value: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` form value (``2026-11-25T15:30``) read in ``zone``; None when malformed."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
