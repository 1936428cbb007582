"""The composer: each inbox's rules as the agent sees them, their enforcement on a reply, and the
colleagues a note can mention."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.base import Channel, get_channel
from raccordo.channels.domain.composer import ComposerRules, OutgoingFile, check_reply, window_closes_at, window_open
from raccordo.channels.models import Inbox
from raccordo.record.domain.messages import Direction
from raccordo.record.models import Conversation, Message


def rules_for(channel: Channel, inbox: Inbox, max_attachment_bytes: int) -> ComposerRules:
    return channel.composer_rules(inbox.settings or {}).limited(max_attachment_bytes)


def last_inbound_at(session: Session, conversation_id: int, inbox_id: int) -> datetime | None:
    """The customer's last message of the conversation on this inbox (what opens a message window)."""
    return session.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation_id,
            Message.inbox_id == inbox_id,
            Message.direction == Direction.INBOUND.value,
        )
    )


def enforce(
    session: Session,
    conversation: Conversation,
    inbox: Inbox,
    channel: Channel,
    text: str,
    uploads: list[Any],
    max_attachment_bytes: int,
    *,
    outside_window: bool = False,
) -> None:
    """Raise ``InvalidInput`` (``composer.*``) when the reply breaks the inbox's rules; ``uploads``
    are ``reply.UploadedFile``. ``outside_window``: content the channel lets out when its message
    window is closed (an approved WhatsApp template)."""
    rules = rules_for(channel, inbox, max_attachment_bytes)
    if outside_window:
        rules = replace(rules, reply_window_seconds=None, max_length=None)
    last = last_inbound_at(session, conversation.id, inbox.id) if rules.reply_window_seconds is not None else None
    files = [OutgoingFile(u.filename, u.content_type, len(u.data)) for u in uploads]
    check_reply(rules, channel=inbox.channel, text=text, files=files, last_inbound_at=last, now=datetime.now(UTC))


@dataclass(frozen=True)
class InboxRules:
    """One inbox the agent may answer on, with its rules and message window as of now."""

    inbox: Inbox
    rules: ComposerRules
    window_open: bool
    window_closes_at: datetime | None

    def as_data(self) -> dict[str, Any]:
        return {
            **self.rules.as_data(),
            "channel": self.inbox.channel,
            "window_open": self.window_open,
            "window_closes_at": self.window_closes_at.isoformat() if self.window_closes_at else None,
        }


def inbox_rules(
    session: Session, actor: Actor, conversation: Conversation, inboxes: list[Inbox], max_attachment_bytes: int
) -> list[InboxRules]:
    """The rules of each given inbox for a reply in ``conversation`` (inboxes of uninstalled channels are left out)."""
    actor.require(Permission.READ)
    now = datetime.now(UTC)
    ruled = [
        (inbox, rules_for(channel, inbox, max_attachment_bytes))
        for inbox in inboxes
        if (channel := get_channel(inbox.channel)) is not None
    ]
    windowed = [inbox.id for inbox, rules in ruled if rules.reply_window_seconds is not None]
    last_by_inbox: dict[int, datetime] = {}
    if windowed:  # the customer's last message per inbox, one query for all of them
        last_by_inbox = {
            inbox_id: at
            for inbox_id, at in session.execute(
                select(Message.inbox_id, func.max(Message.created_at))
                .where(
                    Message.conversation_id == conversation.id,
                    Message.inbox_id.in_(windowed),
                    Message.direction == Direction.INBOUND.value,
                )
                .group_by(Message.inbox_id)
            )
            if inbox_id is not None  # in_(windowed) leaves them out; the column's type allows them
        }
    rows: list[InboxRules] = []
    for inbox, rules in ruled:
        last = last_by_inbox.get(inbox.id)
        rows.append(InboxRules(inbox, rules, window_open(rules, last, now), window_closes_at(rules, last)))
    return rows


@dataclass(frozen=True)
class Mentionable:
    id: int
    name: str
    handle: str  # the email's local part
    insert: str  # what the autocomplete writes after "@": a form domain/mentions.py recognises as this user only


def mentionable(session: Session, actor: Actor) -> list[Mentionable]:
    """The tenant's active users, by name: who an internal note can mention."""
    actor.require(Permission.WORK)
    users = list(
        session.scalars(
            select(User).where(User.tenant_id == actor.tenant_id, User.active.is_(True)).order_by(User.name, User.id)
        )
    )
    names = Counter(" ".join(u.name.split()).lower() for u in users)
    handles = Counter(u.email.split("@", 1)[0].lower() for u in users)
    rows = []
    for user in users:
        name, handle = " ".join(user.name.split()), user.email.split("@", 1)[0]
        insert = (
            name if name and names[name.lower()] == 1 else handle if handles[handle.lower()] == 1 else name or handle
        )
        rows.append(Mentionable(user.id, user.name, handle, insert))
    return rows
