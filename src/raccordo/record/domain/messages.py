"""Message directions, senders and delivery states."""

from __future__ import annotations

import enum


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"  # internal, never sent to the customer
    SYSTEM = "system"


class SenderType(enum.StrEnum):
    CONTACT = "contact"
    USER = "user"
    BOT = "bot"
    SYSTEM = "system"


class DeliveryStatus(enum.StrEnum):
    RECEIVED = "received"  # inbound
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    NOT_APPLICABLE = "n/a"  # notes and system messages


class TimelineKind(enum.StrEnum):
    CONTACT_CREATED = "contact.created"
    IDENTITY_ADDED = "identity.added"
    IDENTITY_LINKED = "identity.linked"  # attached automatically because provably the same
    ATTRIBUTE_CHANGED = "attribute.changed"
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_REOPENED = "conversation.reopened"
    MESSAGE = "message"
    NOTE = "note"
    ASSIGNED = "assigned"
    QUEUED = "queued"  # routing put the conversation into a queue
    TRANSFERRED = "transferred"
    TEAM_CHANGED = "team.changed"
    STATUS_CHANGED = "status.changed"
    PRIORITY_CHANGED = "priority.changed"
    LABELS_CHANGED = "labels.changed"
    CHANNEL_SWITCH = "channel.switch"
    MERGED = "merged"  # on the surviving contact
    MERGED_INTO = "merged.into"  # on the contact that was merged away
    CONSENT_CHANGED = "consent.changed"  # a purpose granted or withdrawn, with its source
    DELIVERY_FAILED = "delivery.failed"
