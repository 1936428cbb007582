"""Presence's closed vocabularies, shared by the services, the API schemas and the desk's presence menu."""

from __future__ import annotations

import enum


class PresenceStatus(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class AwayReason(enum.StrEnum):
    """Why an agent is away (the desk's presence menu; the first is the default)."""

    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"
    AFTER_CALL_WORK = "after_call_work"
