"""Widget sessions: the visitor token a browser keeps, the host site's verified identity, and what
the widget shows when it opens (its strings, settings and availability).

A session gives the browser a signed visitor token (kept by the widget in the host page's
``localStorage``, so a returning visitor keeps their history). A host site may identify its
logged-in user with ``HMAC-SHA256(hmac_secret, user_id)``: a valid hash makes a verified
``external`` identity that links the visitor to the existing contact; a forged one is refused (403)
and links nothing. Every request and socket is checked against the inbox's allowed origins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.channels.base import InboxConfig
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.widget import visitor as widget
from raccordo.channels.widget.availability import availability
from raccordo.platform.errors import Forbidden, NotFound, Unauthorized
from raccordo.platform.i18n import LANGUAGES, translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.web.schemas import NUL, shown_field
from raccordo.record.domain.identities import normalize_identity
from raccordo.record.models import Contact, ContactIdentity
from raccordo.record.services.identity import IdentityInput, live_contact, resolve_contact

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
    if NUL in identifier:  # names no inbox; PostgreSQL could not even compare it (the socket's query)
        raise NotFound("inbox.unknown_identifier", identifier=shown_field(identifier))
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


def contact_owner(session: Session, tenant_id: int, kind: str, value: str) -> Contact | None:
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
            user_owner = contact_owner(session, inbox.tenant_id, "external", user_id.strip())
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
