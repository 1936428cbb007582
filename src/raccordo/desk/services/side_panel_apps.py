"""Side-panel apps: admins configure iframe apps (e.g. a CRM) shown beside conversations; agents'
pages get, per conversation, the apps that apply and the context message each receives, with a
token signed by the app's own secret (sealed at rest, shown once on creation and on rotation)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.models import Inbox
from raccordo.desk.domain import side_panel
from raccordo.desk.models import SidePanelApp
from raccordo.platform.errors import Conflict, InvalidInput, NotFound
from raccordo.platform.secretbox import SecretBox
from raccordo.platform.store.models import fold_name
from raccordo.record.models import Contact, Conversation, Message
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import audit, get_owned, queues_went_through
from raccordo.routing.models import RoutingQueue

FIELDS = ("name", "url", "active", "position", "share", "inbox_ids", "queue_ids")
DEFAULT_SHARE = ["contact.name", "contact.identities", "conversation.subject"]


@dataclass(frozen=True)
class PanelApp:
    """One app as the conversation page shows it: where to frame it and what to post to it."""

    id: int
    name: str
    url: str
    origin: str
    message: dict[str, Any]


def list_apps(session: Session, actor: Actor) -> list[SidePanelApp]:
    actor.require(Permission.MANAGE_INBOXES)
    return list(
        session.scalars(
            select(SidePanelApp)
            .where(SidePanelApp.tenant_id == actor.tenant_id)
            .order_by(SidePanelApp.position, SidePanelApp.id)
        )
    )


def get_app(session: Session, actor: Actor, app_id: int) -> SidePanelApp:
    actor.require(Permission.MANAGE_INBOXES)
    return get_owned(session, SidePanelApp, actor.tenant_id, app_id)


def _ids(session: Session, actor: Actor, model: type, value: object, field: str) -> list[int]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InvalidInput("apps.ids_invalid", field=field)
    for id_ in set(value):
        get_owned(session, model, actor.tenant_id, id_)  # another tenant's id: 404
    return sorted(set(value))


def _clean(session: Session, actor: Actor, values: dict[str, Any], app_id: int | None) -> dict[str, Any]:
    values = {k: v for k, v in values.items() if k in FIELDS and v is not None}
    clean: dict[str, Any] = {}
    if "name" in values:
        clean["name"] = side_panel.check_name(values["name"])
        query = select(SidePanelApp.id).where(
            SidePanelApp.tenant_id == actor.tenant_id, SidePanelApp.name_key == fold_name(clean["name"])
        )
        if app_id is not None:
            query = query.where(SidePanelApp.id != app_id)
        if session.scalar(query) is not None:
            raise Conflict("apps.name_taken", field="name", value=clean["name"])
    if "url" in values:
        clean["url"] = side_panel.check_url(values["url"])
    if "active" in values:
        clean["active"] = values["active"] is True
    if "position" in values:
        position = values["position"]
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 1000:
            raise InvalidInput("apps.position_invalid", field="position", low=0, high=1000)
        clean["position"] = position
    if "share" in values:
        clean["share"] = side_panel.check_share(values["share"])
    if "inbox_ids" in values:
        clean["inbox_ids"] = _ids(session, actor, Inbox, values["inbox_ids"], "inbox_ids")
    if "queue_ids" in values:
        clean["queue_ids"] = _ids(session, actor, RoutingQueue, values["queue_ids"], "queue_ids")
    return clean


def create_app(session: Session, box: SecretBox, actor: Actor, values: dict[str, Any]) -> tuple[SidePanelApp, str]:
    """The new app and its signing secret, returned this once."""
    actor.require(Permission.MANAGE_INBOXES)
    clean = _clean(session, actor, {"name": "", "url": "", **values}, None)
    secret = secrets.token_urlsafe(32)
    app = SidePanelApp(
        tenant_id=actor.tenant_id,
        name=clean["name"],
        url=clean["url"],
        active=clean.get("active", True),
        position=clean.get("position", 0),
        share=clean.get("share", list(DEFAULT_SHARE)),
        inbox_ids=clean.get("inbox_ids", []),
        queue_ids=clean.get("queue_ids", []),
        secret_encrypted=box.seal({"token_secret": secret}),
        created_at=datetime.now(UTC),
    )
    session.add(app)
    session.flush()
    audit(
        session,
        actor,
        "side_panel_app.created",
        "side_panel_app",
        app.id,
        {"name": app.name, "origin": side_panel.app_origin(app.url)},
    )
    return app, secret


def update_app(session: Session, actor: Actor, app_id: int, values: dict[str, Any]) -> SidePanelApp:
    actor.require(Permission.MANAGE_INBOXES)
    app = get_owned(session, SidePanelApp, actor.tenant_id, app_id, lock=True)
    clean = _clean(session, actor, values, app_id)
    for name, value in clean.items():
        setattr(app, name, value)
    audit(session, actor, "side_panel_app.updated", "side_panel_app", app.id, {"fields": sorted(clean)})
    session.flush()
    return app


def rotate_secret(session: Session, box: SecretBox, actor: Actor, app_id: int) -> str:
    """A new signing secret (the old one stops working at once), returned this once."""
    actor.require(Permission.MANAGE_INBOXES)
    app = get_owned(session, SidePanelApp, actor.tenant_id, app_id, lock=True)
    secret = secrets.token_urlsafe(32)
    app.secret_encrypted = box.seal({"token_secret": secret})
    audit(session, actor, "side_panel_app.secret_rotated", "side_panel_app", app.id)
    return secret


def delete_app(session: Session, actor: Actor, app_id: int) -> None:
    actor.require(Permission.MANAGE_INBOXES)
    app = get_owned(session, SidePanelApp, actor.tenant_id, app_id)
    audit(session, actor, "side_panel_app.deleted", "side_panel_app", app.id, {"name": app.name})
    session.delete(app)


def conversation_apps(
    session: Session,
    box: SecretBox,
    actor: Actor,
    conversation_id: int,
    *,
    page_origin: str | None = None,
    went_through: set[int] | None = None,
) -> list[PanelApp]:
    """The active apps that apply to a conversation, in order, each with its context message.
    An app served from the desk's own origin (``page_origin``) is never framed: with
    ``allow-same-origin`` it could reach into the page. ``went_through``: the queues the
    conversation was routed through, when the caller has read them already."""
    actor.require(Permission.READ)
    # From the session's identity map when the page has read it already (get_owned always queries).
    conversation = session.get(Conversation, conversation_id) if 0 < conversation_id < 2**63 else None
    if conversation is None or conversation.tenant_id != actor.tenant_id:
        raise NotFound("error.not_found_id", kind="conversations", id=conversation_id)
    apps = [
        a
        for a in session.scalars(
            select(SidePanelApp)
            .where(SidePanelApp.tenant_id == actor.tenant_id, SidePanelApp.active.is_(True))
            .order_by(SidePanelApp.position, SidePanelApp.id)
        )
    ]
    apps = [a for a in apps if side_panel.app_origin(a.url) != page_origin]
    if not apps:
        return []
    inbox_ids = {
        inbox_id
        for inbox_id in session.scalars(
            select(Message.inbox_id)
            .where(
                Message.tenant_id == actor.tenant_id,
                Message.conversation_id == conversation.id,
                Message.inbox_id.is_not(None),
            )
            .distinct()
        )
        if inbox_id is not None  # the query leaves them out; the column's type allows them
    }
    if conversation.last_inbox_id:
        inbox_ids.add(conversation.last_inbox_id)
    queue_ids = queues_went_through(session, conversation.id) if went_through is None else went_through
    apps = [
        a for a in apps if side_panel.applies(list(a.inbox_ids or []), list(a.queue_ids or []), inbox_ids, queue_ids)
    ]
    if not apps:
        return []
    contact: Contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    agent = session.get_one(User, actor.user_id) if actor.user_id else None
    assignee = session.get(User, conversation.assignee_id) if conversation.assignee_id else None
    contact_data = {
        "id": contact.id,
        "name": contact.name,
        "attributes": dict(contact.custom_attributes or {}),
        "identities": [{"kind": i.kind, "value": i.value, "verified": i.verified} for i in contact.identities],
    }
    conversation_data = {
        "id": conversation.id,
        "status": conversation.status,
        "channel": conversation.last_channel,
        "subject": conversation.subject,
        "attributes": dict(conversation.custom_attributes or {}),
        "assignee": {"id": assignee.id, "name": assignee.name} if assignee else None,
    }
    agent_data = {
        "id": actor.user_id,
        "name": agent.name if agent else None,
        "language": actor.language or (agent.language if agent else None),
    }
    now = int(time.time())
    result = []
    for app in apps:
        secret = box.open(app.secret_encrypted).get("token_secret", "")
        claims = {
            "iss": "raccordo",
            "aud": f"side-panel-app:{app.id}",
            "sub": str(actor.user_id),
            "iat": now,
            "exp": now + side_panel.TOKEN_SECONDS,
            "tenant_id": actor.tenant_id,
            "app_id": app.id,
            "agent_id": actor.user_id,
            "contact_id": contact.id,
            "conversation_id": conversation.id,
        }
        message = side_panel.context_message(
            list(app.share or []), contact_data, conversation_data, agent_data, side_panel.sign_token(secret, claims)
        )
        result.append(PanelApp(app.id, app.name, app.url, side_panel.app_origin(app.url), message))
    return result
