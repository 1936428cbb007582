"""Answer templates managed centrally by admins; agents list them and get them rendered for a
conversation (the contact's language and the channel the agent answers on pick the body;
variables come from the contact, the agent and the conversation, see ``domain/templates.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.base import channel_kinds
from raccordo.channels.models import Inbox
from raccordo.desk.domain import templates as rules
from raccordo.desk.models import AnswerTemplate
from raccordo.platform.errors import Conflict
from raccordo.platform.store.models import fold_name
from raccordo.record.models import Conversation
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import audit, get_owned

FIELDS = ("name", "shortcut", "body", "bodies", "active")


@dataclass(frozen=True)
class Rendered:
    id: int
    name: str
    shortcut: str
    language: str | None
    text: str
    variant: str | None = None


def list_templates(session: Session, actor: Actor, *, active_only: bool = False) -> list[AnswerTemplate]:
    actor.require(Permission.READ)
    query = select(AnswerTemplate).where(AnswerTemplate.tenant_id == actor.tenant_id)
    if active_only:
        query = query.where(AnswerTemplate.active.is_(True))
    return list(session.scalars(query.order_by(AnswerTemplate.shortcut)))


def get_template(session: Session, actor: Actor, template_id: int) -> AnswerTemplate:
    actor.require(Permission.READ)
    return get_owned(session, AnswerTemplate, actor.tenant_id, template_id)


def _unique(session: Session, actor: Actor, values: dict[str, Any], template_id: int | None) -> None:
    for field in ("name", "shortcut"):
        if values.get(field) is None:
            continue
        column = getattr(AnswerTemplate, f"{field}_key")
        query = select(AnswerTemplate.id).where(
            AnswerTemplate.tenant_id == actor.tenant_id, column == fold_name(values[field])
        )
        if template_id is not None:
            query = query.where(AnswerTemplate.id != template_id)
        if session.scalar(query) is not None:
            raise Conflict(f"template.{field}_exists", field=field, value=values[field])


def create_template(session: Session, actor: Actor, values: dict[str, Any]) -> AnswerTemplate:
    actor.require(Permission.MANAGE_CONTENT)
    values = {k: v for k, v in values.items() if k in FIELDS}
    name, shortcut = (values.get("name") or "").strip(), (values.get("shortcut") or "").strip()
    bodies = rules.validate(name, shortcut, values.get("body") or "", values.get("bodies"), channel_kinds())
    _unique(session, actor, {"name": name, "shortcut": shortcut}, None)
    now = datetime.now(UTC)
    template = AnswerTemplate(
        tenant_id=actor.tenant_id,
        name=name,
        shortcut=shortcut,
        body=values["body"],
        bodies=bodies,
        active=values.get("active", True) is not False,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    session.flush()
    audit(session, actor, "template.created", "answer_template", template.id, {"name": name, "shortcut": shortcut})
    return template


def update_template(session: Session, actor: Actor, template_id: int, values: dict[str, Any]) -> AnswerTemplate:
    actor.require(Permission.MANAGE_CONTENT)
    template = get_owned(session, AnswerTemplate, actor.tenant_id, template_id, lock=True)
    values = {k: v for k, v in values.items() if k in FIELDS}
    if isinstance(values.get("name"), str):
        values["name"] = values["name"].strip()
    if isinstance(values.get("shortcut"), str):
        values["shortcut"] = values["shortcut"].strip()
    bodies = rules.validate(
        values.get("name"), values.get("shortcut"), values.get("body"), values.get("bodies"), channel_kinds()
    )
    if "bodies" in values:
        values["bodies"] = bodies
    _unique(session, actor, values, template_id)
    for name, value in values.items():
        if value is not None or name == "bodies":
            setattr(template, name, value if value is not None else {})
    template.updated_at = datetime.now(UTC)
    audit(session, actor, "template.updated", "answer_template", template.id, {"fields": sorted(values)})
    return template


def delete_template(session: Session, actor: Actor, template_id: int) -> None:
    actor.require(Permission.MANAGE_CONTENT)
    template = get_owned(session, AnswerTemplate, actor.tenant_id, template_id)
    audit(session, actor, "template.deleted", "answer_template", template.id, {"name": template.name})
    session.delete(template)


def conversation_values(
    session: Session, actor: Actor, conversation: Conversation
) -> tuple[dict[str, str | None], str | None]:
    """The variables for one conversation, and the contact's language."""
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    identities = {i.kind: i.value for i in reversed(contact.identities)}
    agent = session.get(User, actor.user_id) if actor.user_id else None
    values: dict[str, str | None] = {
        "contact.name": contact.name,
        "contact.first_name": rules.first_name(contact.name),
        "contact.last_name": rules.last_name(contact.name),
        "contact.email": identities.get("email"),
        "contact.phone": identities.get("phone"),
        "agent.name": agent.name if agent else None,
        "agent.first_name": rules.first_name(agent.name) if agent else None,
        "conversation.id": str(conversation.id),
        "conversation.subject": conversation.subject,
    }
    return values, contact.language


def render_for_conversation(
    session: Session, actor: Actor, conversation_id: int, language: str | None = None, inbox_id: int | None = None
) -> list[Rendered]:
    """Every active template rendered for this conversation: in ``language`` or the contact's, and
    for the channel of ``inbox_id`` (the inbox the agent answers on; the conversation's last one by default)."""
    actor.require(Permission.READ)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    values, contact_language = conversation_values(session, actor, conversation)
    chosen = language or contact_language
    channel = conversation.last_channel
    if inbox_id is not None:
        channel = get_owned(session, Inbox, actor.tenant_id, inbox_id).channel
    out = []
    for template in list_templates(session, actor, active_only=True):
        body, key = rules.pick_variant(template.body, template.bodies, chosen, channel)
        language_used = key.rpartition(":")[2] if key and (":" in key or key in rules.LANGUAGES) else None
        out.append(
            Rendered(template.id, template.name, template.shortcut, language_used, rules.render(body, values), key)
        )
    return out
