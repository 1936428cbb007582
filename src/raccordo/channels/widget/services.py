"""The web chat widget's use cases: visitor sessions, availability, what a visitor sees, read receipts,
the email a visitor leaves, and visitor messages on the common inbound path.

- A **session** gives the browser a signed visitor token (kept by the widget in the host
  page's ``localStorage``, so a returning visitor keeps their history). A host site may
  identify its logged-in user with ``HMAC-SHA256(hmac_secret, user_id)``: a valid hash makes a
  verified ``external`` identity that links the visitor to the existing contact; a forged one
  is refused (403) and links nothing.
- A visitor **message** is stored raw and ingested by ``services/inbound`` like any channel's
  (so routing, SLA and realtime work unchanged), idempotent by the widget's client message id.
- A visitor sees the customer-visible messages (not notes) of their contact's conversations
  that went through this widget, on any channel: an agent's reply appears once the outbox
  has recorded it sent.
- **No agent available** (outside the inbox's or the routed queue's business hours, or no
  online agent who can take the inbox's conversations): the widget says so and asks for an
  email; the address becomes the contact's (if no other contact owns it: then a merge
  suggestion, since a typed address proves nothing) and the conversation continues on the
  tenant's email inbox: agents' replies default to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import User
from raccordo.channels.base import InboundRequest, InboxConfig, get_channel
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import InboundOutcome, inbox_config, process_raw, store_raw
from raccordo.channels.widget import visitor as widget
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from raccordo.platform.events import emit_conversation, emit_message, when
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.i18n import LANGUAGES, translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.models import AgentPresence
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.duplicates import DuplicateReason
from raccordo.record.domain.identities import fold_name, normalize_identity
from raccordo.record.domain.messages import DeliveryStatus, Direction, TimelineKind
from raccordo.record.models import Contact, ContactIdentity, Conversation, Message
from raccordo.record.services.identity import IdentityInput, live_contact, resolve_contact, suggest_merge
from raccordo.record.services.records import add_timeline, get_owned
from raccordo.routing.domain.rules import rule_matches
from raccordo.routing.models import RoutingQueue, RoutingRule
from raccordo.routing.services import routing_pass

VISIBLE_TO_VISITOR = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value)
HISTORY_LIMIT = 200
# Strings the widget shows, from the same catalogs as every other message (i18n/*.json).
UI_KEYS = (
    "open",
    "close",
    "title",
    "greeting",
    "placeholder",
    "send",
    "attach",
    "typing",
    "seen",
    "you",
    "agent",
    "offline_no_agents",
    "offline_closed",
    "offline_ask_email",
    "offline_email_label",
    "offline_email_send",
    "offline_email_saved",
    "offline_no_email_inbox",
    "prechat_intro",
    "prechat_start",
    "field_name",
    "field_email",
    "field_phone",
    "required",
    "attachment_too_large",
    "attachment_type",
    "connecting",
    "reconnecting",
    "failed",
    "retry",
    "messages_label",
    "new_message",
)


@dataclass(frozen=True)
class Visitor:
    """An authenticated visitor on one widget inbox."""

    tenant_id: int
    inbox_id: int
    identifier: str
    visitor_id: str
    config: InboxConfig
    language: str


# --- inboxes and visitors ------------------------------------------------------------------------


def widget_inbox(session: Session, identifier: str) -> Inbox:
    inbox = session.scalars(select(Inbox).where(Inbox.identifier == identifier, Inbox.active.is_(True))).one_or_none()
    if inbox is None or inbox.channel != widget.KIND:
        raise NotFound("inbox.unknown_identifier", identifier=identifier)
    return inbox


def check_origin(inbox: Inbox, origin: str | None) -> None:
    if not origin:
        raise Forbidden("widget.origin_missing")
    if not widget.origin_allowed(inbox.settings, origin):
        raise Forbidden("widget.origin_not_allowed", origin=origin[:200])


def authenticate(rt: Runtime, identifier: str, origin: str | None, token: str | None, language: str) -> Visitor:
    """The visitor of a widget socket or request: the inbox exists, the origin is allowed, the token is ours."""
    with unit_of_work(rt.sessions) as session:
        inbox = widget_inbox(session, identifier)
        check_origin(inbox, origin)
        config = inbox_config(rt, inbox)
        visitor_id = widget.verify_visitor_token(config, token)
        if visitor_id is None:
            raise Unauthorized("widget.token_invalid")
        return Visitor(
            inbox.tenant_id, inbox.id, identifier, visitor_id, config, language if language in LANGUAGES else "en"
        )


def visitor_contact(session: Session, tenant_id: int, visitor_id: str) -> Contact | None:
    identity = session.scalars(
        select(ContactIdentity).where(
            ContactIdentity.tenant_id == tenant_id,
            ContactIdentity.kind == "web_visitor",
            ContactIdentity.value == visitor_id,
        )
    ).one_or_none()
    return live_contact(session, tenant_id, identity.contact_id) if identity is not None else None


def _owner(session: Session, tenant_id: int, kind: str, value: str) -> Contact | None:
    identity = session.scalars(
        select(ContactIdentity).where(
            ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == kind, ContactIdentity.value == value
        )
    ).one_or_none()
    return live_contact(session, tenant_id, identity.contact_id) if identity is not None else None


def ui_strings(inbox: Inbox, language: str) -> dict[str, str]:
    strings = {key: translate(f"widget.ui.{key}", language) for key in UI_KEYS}
    for key in ("title", "greeting"):
        custom = widget.localized(inbox.settings.get(key), language)
        if custom:
            strings[key] = custom
    if not inbox.settings.get("title"):
        strings["title"] = inbox.name
    return strings


def public_settings(inbox: Inbox, language: str) -> dict[str, Any]:
    limit, types = widget.attachment_limits(inbox.settings)
    fields = []
    for field in inbox.settings.get("prechat_fields") or []:
        label = widget.localized(field.get("label"), language) or translate(
            f"widget.ui.field_{field['name']}", language
        )
        fields.append({"name": field["name"], "label": label, "type": field["type"], "required": field["required"]})
    return {
        "colors": inbox.settings.get("colors") or widget.DEFAULT_COLORS,
        "prechat_fields": fields,
        "max_attachment_bytes": limit,
        "attachment_types": list(types),
    }


def open_session(
    rt: Runtime,
    identifier: str,
    origin: str | None,
    *,
    token: str | None,
    language: str,
    user_id: str | None = None,
    user_hash: str | None = None,
    name: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """Issue (or confirm) the visitor's token; with a user id and its hash, link the verified identity."""
    language = language if language in LANGUAGES else "en"
    with unit_of_work(rt.sessions) as session:
        inbox = widget_inbox(session, identifier)
        check_origin(inbox, origin)
        config = inbox_config(rt, inbox)
        visitor_id = widget.verify_visitor_token(config, token) or widget.new_visitor_id()
        verified = False
        if user_id is not None or user_hash is not None:
            if not user_id or not user_hash or not widget.verify_identity(config, user_id, user_hash):
                # Nothing is linked or created: the transaction has written nothing yet.
                raise Forbidden("widget.identity_hash_invalid")
            normalize_identity("external", user_id)  # 422 for an id that cannot be an identity
            user_owner = _owner(session, inbox.tenant_id, "external", user_id.strip())
            visitor_owner = visitor_contact(session, inbox.tenant_id, visitor_id)
            if visitor_owner is not None and (
                (user_owner is not None and user_owner.id != visitor_owner.id)
                or (user_owner is None and any(i.kind == "external" for i in visitor_owner.identities))
            ):
                # This browser's visitor belongs to someone else: a new visitor for the signed-in user.
                visitor_id = widget.new_visitor_id()
            identities = [IdentityInput("external", user_id, True), IdentityInput("web_visitor", visitor_id, True)]
            if email:
                identities.append(IdentityInput("email", email, True))  # vouched for by the host site with the hash
            resolved = resolve_contact(session, inbox.tenant_id, identities, region="IT", name=name, language=language)
            # The hash proves the id: an identity known before (say from a CRM import) is verified now.
            for identity in session.scalars(
                select(ContactIdentity).where(
                    ContactIdentity.tenant_id == inbox.tenant_id,
                    ContactIdentity.kind == "external",
                    ContactIdentity.value == user_id.strip(),
                )
            ):
                identity.verified = True
            verified = True
            contact: Contact | None = resolved.contact
        else:
            contact = visitor_contact(session, inbox.tenant_id, visitor_id)
        emails = [i.value for i in contact.identities if i.kind == "email"] if contact is not None else []
        return {
            "visitor_token": widget.visitor_token(config, visitor_id),
            "visitor_id": visitor_id,
            "verified": verified
            or bool(contact is not None and any(i.kind == "external" and i.verified for i in contact.identities)),
            "contact": {"name": contact.name if contact else None, "email": emails[0] if emails else None},
            "language": language,
            "strings": ui_strings(inbox, language),
            "settings": public_settings(inbox, language),
            "availability": availability(session, inbox),
        }


# --- availability --------------------------------------------------------------------------------


def offline_inbox(session: Session, inbox: Inbox) -> Inbox | None:
    """The inbox replies go to when the visitor left an email: ``offline_inbox_id``, else the tenant's
    first active inbox whose channel addresses replies to an email first (the email channel)."""

    def by_email(candidate: Inbox) -> bool:
        implementation = get_channel(candidate.channel)
        return candidate.active and implementation is not None and implementation.reply_identity_kinds[:1] == ("email",)

    configured = inbox.settings.get("offline_inbox_id")
    if configured:
        candidate = session.get(Inbox, configured)
        return (
            candidate
            if candidate is not None and candidate.tenant_id == inbox.tenant_id and by_email(candidate)
            else None
        )
    for candidate in session.scalars(
        select(Inbox).where(Inbox.tenant_id == inbox.tenant_id, Inbox.active.is_(True)).order_by(Inbox.id)
    ):
        if by_email(candidate):
            return candidate
    return None


def availability(session: Session, inbox: Inbox, now: datetime | None = None) -> dict[str, Any]:
    """Whether someone can answer now: the inbox's hours, then the queue the routing rules pick for
    the inbox's conversations (its hours and its online members with room for the channel), or,
    when no rule picks one, any online agent of the tenant."""
    now = now or datetime.now(UTC)
    reason = None
    if inbox.business_hours and not parse_business_hours(inbox.business_hours).is_open(now):
        reason = "outside_hours"
    else:
        facts = {
            "channel": inbox.channel,
            "inbox_id": inbox.id,
            "language": None,
            "labels": [],
            "priority": "none",
            "contact": {},
            "conversation": {},
        }
        queue = None
        for rule in session.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == inbox.tenant_id, RoutingRule.active.is_(True))
            .order_by(RoutingRule.position, RoutingRule.id)
        ):
            candidate = session.get(RoutingQueue, rule.queue_id)
            if candidate is not None and candidate.active and rule_matches(rule.conditions or [], facts):
                queue = candidate
                break
        if queue is not None:
            if queue.business_hours and not parse_business_hours(queue.business_hours).is_open(now):
                reason = "outside_hours"
            elif not any(
                a.online and queue.id in a.queues and a.capacity.get(inbox.channel, 0) > 0
                for a in routing_pass.load_agents(session, inbox.tenant_id)
            ):
                reason = "no_agents"
        else:
            online = session.scalar(
                select(func.count())
                .select_from(AgentPresence)
                .join(User, User.id == AgentPresence.user_id)
                .where(
                    AgentPresence.tenant_id == inbox.tenant_id, AgentPresence.status == "online", User.active.is_(True)
                )
            )
            if not online:
                reason = "no_agents"
    return {
        "available": reason is None,
        "reason": reason,
        "email_fallback": reason is not None and offline_inbox(session, inbox) is not None,
    }


# --- what the visitor sees -----------------------------------------------------------------------


def _conversation_ids(session: Session, inbox_id: int, contact_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.inbox_id == inbox_id, Conversation.contact_id == contact_id)
            .distinct()
        )
    )


def message_view(message: Message, sender_names: dict[int, str]) -> dict[str, Any]:
    inbound = message.direction == Direction.INBOUND.value
    client_id = (message.content_attributes.get("widget") or {}).get("client_message_id") if inbound else None
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "from": "visitor" if inbound else "agent",
        "text": message.text,
        "created_at": when(message.created_at),
        "sender_name": None if inbound else sender_names.get(message.sender_id or 0),
        "client_id": client_id,
        "channel": message.channel,
        "status": message.delivery_status,
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments
        ],
    }


@dataclass
class View:
    """What a visitor socket has been shown: messages after ``cursor`` not yet in ``shown``."""

    cursor: int = 0
    shown: set[int] | None = None
    contact_id: int | None = None
    conversation_ids: tuple[int, ...] = ()
    agent_seen_at: str | None = None


def updates(
    rt: Runtime, visitor: Visitor, view: View, *, history: bool = False
) -> tuple[list[dict[str, Any]], list[int]]:
    """New visible messages since the view's cursor (the last ``HISTORY_LIMIT`` with ``history``),
    advancing the view; and the ids of agent messages shown now for the first time."""
    shown = view.shown if view.shown is not None else set()
    view.shown = shown
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return [], []
        view.contact_id = contact.id
        conversation_ids = _conversation_ids(session, visitor.inbox_id, contact.id)
        view.conversation_ids = tuple(conversation_ids)
        if not conversation_ids:
            return [], []
        base = select(Message).where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction.in_((Direction.INBOUND.value, Direction.OUTBOUND.value)),
        )
        if history:
            rows = list(session.scalars(base.order_by(Message.id.desc()).limit(HISTORY_LIMIT)))
            rows.reverse()
        else:
            rows = list(session.scalars(base.where(Message.id > view.cursor).order_by(Message.id).limit(HISTORY_LIMIT)))
        names = dict(
            session.execute(
                select(User.id, User.name).where(
                    User.tenant_id == visitor.tenant_id, User.id.in_({m.sender_id for m in rows if m.sender_id})
                )
            ).all()
        )
        frames: list[dict[str, Any]] = []
        fresh: list[int] = []
        final = True
        for message in rows:
            visible = message.direction == Direction.INBOUND.value or message.delivery_status in VISIBLE_TO_VISITOR
            pending = message.direction == Direction.OUTBOUND.value and message.delivery_status in (
                DeliveryStatus.QUEUED.value,
                DeliveryStatus.SENDING.value,
            )
            if visible and message.id not in shown:
                shown.add(message.id)
                frames.append({"type": "message", "message": message_view(message, names)})
                if message.direction == Direction.OUTBOUND.value:
                    fresh.append(message.id)
            # The cursor moves over messages in their final state only: a queued reply is looked at again.
            final = final and not pending
            if final:
                view.cursor = max(view.cursor, message.id)
        latest = session.scalar(
            select(func.max(Conversation.agent_last_seen_at)).where(Conversation.id.in_(conversation_ids))
        )
        seen = when(latest)
        if seen and seen != view.agent_seen_at:
            view.agent_seen_at = seen
            frames.append({"type": "seen", "at": seen})
        return frames, fresh


def mark_outbound(rt: Runtime, visitor: Visitor, message_ids: list[int] | None, up_to: int | None, status: str) -> int:
    """The visitor's browser got (``delivered``) or showed (``read``) agent messages on this widget."""
    order = {DeliveryStatus.SENT.value: 0, DeliveryStatus.DELIVERED.value: 1, DeliveryStatus.READ.value: 2}
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return 0
        conversation_ids = _conversation_ids(session, visitor.inbox_id, contact.id)
        query = select(Message).where(
            Message.conversation_id.in_(conversation_ids),
            Message.inbox_id == visitor.inbox_id,
            Message.direction == Direction.OUTBOUND.value,
            Message.delivery_status.in_([s for s, rank in order.items() if rank < order[status]]),
        )
        if message_ids is not None:
            query = query.where(Message.id.in_(message_ids))
        if up_to is not None:
            query = query.where(Message.id <= up_to)
        changed = list(session.scalars(query.order_by(Message.id).limit(500)))
        now = datetime.now(UTC)
        for message in changed:
            message.delivery_status = status
            conversation = session.get_one(Conversation, message.conversation_id)
            if status == DeliveryStatus.READ.value:
                conversation.contact_last_seen_at = now
            session.flush()
            emit_message(session, message, conversation, "message.updated")
        return len(changed)


def agent_seen(session: Session, actor: Actor, conversation_id: int) -> Conversation:
    """An agent read the conversation: the visitor's widget shows "seen"."""
    from raccordo.accounts.domain.roles import Permission

    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    conversation.agent_last_seen_at = datetime.now(UTC)
    session.flush()
    emit_conversation(session, conversation, "conversation.updated")
    return conversation


# --- inbound -------------------------------------------------------------------------------------


def receive_message(
    rt: Runtime, visitor: Visitor, frame: dict[str, Any], *, user_agent: str | None, client_address: str | None
) -> InboundOutcome:
    """Store the visitor's message raw, then ingest it like every channel's (idempotent by client id)."""
    body = {
        "visitor_id": visitor.visitor_id,
        "client_message_id": frame.get("client_id"),
        "text": frame.get("text") or "",
        "attachments": frame.get("attachments") or [],
        "page_url": frame.get("page_url"),
        "referrer": frame.get("referrer"),
        "attributes": frame.get("attributes") or {},
        "name": frame.get("name"),
        "language": visitor.language,
        "user_agent": (user_agent or "")[:500] or None,
    }
    headers = {
        "content-type": "application/json",
        "x-raccordo-source": "widget",
        **({"x-forwarded-for": client_address} if client_address else {}),
    }
    request = InboundRequest(
        "WS", f"widget:{visitor.identifier}", headers, json.dumps(body, separators=(",", ":")).encode()
    )
    stored = store_raw(rt, visitor.identifier, request, widget.KIND)
    outcome = process_raw(rt, stored)
    continue_by_email(rt, visitor)
    return outcome


def continue_by_email(rt: Runtime, visitor: Visitor) -> str | None:
    """With no agent available and an email known, the visitor's open conversation goes on on the
    email inbox: agents' replies default to it. Returns the address, or None when nothing changed."""
    with unit_of_work(rt.sessions) as session:
        inbox = session.get_one(Inbox, visitor.inbox_id)
        state = availability(session, inbox)
        if state["available"]:
            return None
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        email_inbox = offline_inbox(session, inbox)
        if contact is None or email_inbox is None:
            return None
        address = next((i.value for i in contact.identities if i.kind == "email"), None)
        if address is None:
            return None
        conversation = session.scalars(
            select(Conversation)
            .where(
                Conversation.id.in_(_conversation_ids(session, inbox.id, contact.id)),
                Conversation.status.in_((ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)),
            )
            .order_by(Conversation.last_activity_at.desc())
            .limit(1)
        ).one_or_none()
        if conversation is None or conversation.last_inbox_id == email_inbox.id:
            return address
        add_timeline(
            session,
            conversation.tenant_id,
            contact.id,
            TimelineKind.CHANNEL_SWITCH,
            conversation_id=conversation.id,
            actor_type="contact",
            actor_id=contact.id,
            data={
                "from_channel": conversation.last_channel,
                "to_channel": email_inbox.channel,
                "from_inbox_id": conversation.last_inbox_id,
                "to_inbox_id": email_inbox.id,
                "reason": state["reason"],
                "email": address,
            },
        )
        conversation.last_channel, conversation.last_inbox_id = email_inbox.channel, email_inbox.id
        session.flush()
        emit_conversation(session, conversation, "conversation.updated")
        return address


def leave_details(
    rt: Runtime, visitor: Visitor, *, name: str | None, email: str | None, phone: str | None
) -> dict[str, Any]:
    """Pre-chat details or the offline email. A typed address or number proves nothing: it is added to
    the visitor's contact when nobody has it, else it becomes a merge suggestion for a person to decide."""
    with unit_of_work(rt.sessions) as session:
        tenant_contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        claims = []
        for kind, value in (("email", email), ("phone", phone)):
            if value:
                try:
                    claims.append(normalize_identity(kind, value))
                except InvalidInput as exc:
                    exc.field = kind
                    raise
        if tenant_contact is None:
            tenant_contact = resolve_contact(
                session,
                visitor.tenant_id,
                [IdentityInput("web_visitor", visitor.visitor_id, True)],
                name=name,
                language=visitor.language,
            ).contact
        elif name and not tenant_contact.name:
            tenant_contact.name, tenant_contact.name_key = name, fold_name(name)
        linked = True
        for kind, value in claims:
            owner = _owner(session, visitor.tenant_id, kind.value, value)
            if owner is None:
                session.add(
                    ContactIdentity(
                        tenant_id=visitor.tenant_id,
                        contact_id=tenant_contact.id,
                        kind=kind.value,
                        value=value,
                        verified=False,
                    )
                )
                add_timeline(
                    session,
                    visitor.tenant_id,
                    tenant_contact.id,
                    TimelineKind.IDENTITY_ADDED,
                    actor_type="contact",
                    actor_id=tenant_contact.id,
                    data={"kind": kind.value, "value": value, "source": "widget"},
                )
            elif owner.id != tenant_contact.id:
                suggest_merge(
                    session,
                    visitor.tenant_id,
                    tenant_contact.id,
                    owner.id,
                    [DuplicateReason(f"widget_{kind.value}_claimed", 0.8)],
                )
                linked = False
        session.flush()
        inbox = session.get_one(Inbox, visitor.inbox_id)
        email_inbox = offline_inbox(session, inbox)
    address = continue_by_email(rt, visitor) if email else None
    return {
        "type": "details",
        "linked": linked,
        "email": address or (claims[0][1] if email and claims else None),
        "email_fallback": email_inbox is not None,
    }


def conversation_of(rt: Runtime, visitor: Visitor) -> int | None:
    """The visitor's most recent conversation on this widget (typing indicators go to it)."""
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return None
        return session.scalar(
            select(Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.inbox_id == visitor.inbox_id, Conversation.contact_id == contact.id)
            .order_by(Message.id.desc())
            .limit(1)
        )


def attachment_for(rt: Runtime, visitor: Visitor, attachment_id: int) -> tuple[str, str, str]:
    """(path, filename, content type) of an attachment on a message the visitor can see; 404 otherwise."""
    from raccordo.record.models import Attachment

    with unit_of_work(rt.sessions) as session:
        attachment = session.get(Attachment, attachment_id)
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        message = (
            session.get(Message, attachment.message_id) if attachment is not None and attachment.message_id else None
        )
        allowed = (
            attachment is not None
            and contact is not None
            and message is not None
            and attachment.tenant_id == visitor.tenant_id
            and message.conversation_id in _conversation_ids(session, visitor.inbox_id, contact.id)
            and (
                message.direction == Direction.INBOUND.value
                or (message.direction == Direction.OUTBOUND.value and message.delivery_status in VISIBLE_TO_VISITOR)
            )
        )
        if not allowed:
            raise NotFound("error.not_found_id", kind="attachments", id=attachment_id)
        return str(rt.files.path(attachment.storage_path)), attachment.filename, attachment.content_type  # type: ignore[union-attr]
