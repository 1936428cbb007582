"""What a widget's visitor sends: messages on the common inbound path, and the details they leave
(pre-chat fields, the offline email), with the switch of their conversation to email when nobody
can answer.

A visitor message is stored raw and ingested by ``channels/services/inbound`` like any channel's
(so routing, SLA and realtime work unchanged), idempotent by the widget's client message id. With
no agent available the widget asks for an email; the address becomes the contact's (if no other
contact owns it: then a merge suggestion, since a typed address proves nothing) and the
conversation continues on the tenant's email inbox: agents' replies default to it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from raccordo.channels.base import InboundRequest
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import InboundOutcome, process_raw, store_raw
from raccordo.channels.widget import visitor as widget
from raccordo.channels.widget.availability import availability, offline_inbox
from raccordo.channels.widget.sessions import Visitor, contact_owner, visitor_contact
from raccordo.channels.widget.visitor_view import widget_conversation_ids
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit_conversation
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.duplicates import DuplicateReason
from raccordo.record.domain.identities import fold_name, normalize_identity
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import ContactIdentity, Conversation
from raccordo.record.services.identity import IdentityInput, resolve_contact, suggest_merge
from raccordo.record.services.records import add_timeline


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
                Conversation.id.in_(widget_conversation_ids(session, inbox.id, contact.id)),
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
            owner = contact_owner(session, visitor.tenant_id, kind.value, value)
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
