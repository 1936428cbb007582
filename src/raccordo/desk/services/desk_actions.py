"""What an agent does on the desktop, as the pages call it: reply, note, status, transfer,
presence, consent and merge decisions. Each use case opens, commits or rolls back its own unit of
work (an error leaves nothing written) and the page renders its read model afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.desk.services import customer_panel, desk_load
from raccordo.platform.errors import InvalidInput, NotFound
from raccordo.platform.files import FileStore
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence
from raccordo.record.models import Conversation, MergeSuggestion
from raccordo.record.services import conversation_use_cases, conversations, identity
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned
from raccordo.routing.services import transfers

Sessions = sessionmaker[Session]


def post_message(
    sessions: Sessions,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    note: bool,
    text: str,
    inbox_id: int | None,
    attachments: list[Any],
    max_attachment_bytes: int,
    content_attributes: dict[str, Any] | None = None,
) -> None:
    """The composer's send: a reply to the customer on ``inbox_id`` (None: the customer's last
    inbox), or an internal ``note`` (teammates may annotate; others' conversations are not found).
    The record's own use cases do it; the page renders the composer afterwards, so the message
    itself is not returned."""
    if note:
        conversation_use_cases.add_note(
            sessions,
            files,
            actor,
            conversation_id,
            text=text,
            attachments=attachments,
            max_attachment_bytes=max_attachment_bytes,
            shape=_nothing,
        )
    else:
        conversation_use_cases.send_reply(
            sessions,
            files,
            actor,
            conversation_id,
            text=text,
            html=None,
            inbox_id=inbox_id,
            attachments=attachments,
            max_attachment_bytes=max_attachment_bytes,
            shape=_nothing,
            content_attributes=content_attributes,
        )


def _nothing(_row: Any) -> None:
    return None


def change_conversation(
    sessions: Sessions,
    actor: Actor,
    conversation_id: int,
    *,
    status: str,
    snoozed_until: datetime | None,
    wrap_up_code: str | None,
    take: bool,
) -> None:
    """Take the conversation, or set its status (with the snooze time or the wrap-up code it needs)."""
    changes: dict[str, Any] = {"status": status}
    if status == "snoozed":
        changes["snoozed_until"] = snoozed_until
    if status == "resolved" and wrap_up_code:
        changes["wrap_up_code"] = wrap_up_code
    if take:
        changes = {"assignee_id": actor.user_id}
    with unit_of_work(sessions) as session:
        conversations.update_conversation(session, actor, conversation_id, **changes)


def transfer(
    sessions: Sessions,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    target: dict[str, int],
    *,
    note: str | None,
    max_attachment_bytes: int,
) -> None:
    if not target:
        raise InvalidInput("ui.transfer.choose", field="target")
    with unit_of_work(sessions) as session:
        conversations.require_can_act(session, actor, conversation_id)
        transfers.transfer(
            session, actor, conversation_id, note=note, files=files, max_attachment_bytes=max_attachment_bytes, **target
        )


# --- presence --------------------------------------------------------------------------------------


def presence_view(sessions: Sessions, actor: Actor) -> dict[str, Any]:
    """The agent's own presence and load per channel, for the header."""
    with unit_of_work(sessions) as session:
        mine = next(
            (row for user, row, _ in presence.list_presence(session, actor.tenant_id) if user.id == actor.user_id), None
        )
        return {
            "presence_status": mine.status if mine else "offline",
            "presence_reason": mine.reason if mine else None,
            "channel_load": desk_load.my_load(session, actor),
        }


def set_presence(sessions: Sessions, actor: Actor, status: str, reason: str | None) -> None:
    with unit_of_work(sessions) as session:
        presence.set_status(session, actor, status, reason)


# --- the customer panel ----------------------------------------------------------------------------


def _contact_id(session: Session, actor: Actor, conversation_id: int) -> int:
    """The (surviving) contact of a conversation of this tenant."""
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    return live_contact(session, actor.tenant_id, conversation.contact_id).id


def _suggestion(session: Session, actor: Actor, contact_id: int, raw: Any) -> MergeSuggestion:
    """An open suggestion of the tenant that involves the panel's contact; 404 otherwise."""
    try:
        suggestion_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput("composer.merge_choose", field="suggestion_id") from None
    found = session.scalar(
        select(MergeSuggestion).where(
            MergeSuggestion.tenant_id == actor.tenant_id,
            MergeSuggestion.id == suggestion_id,
            or_(MergeSuggestion.contact_a_id == contact_id, MergeSuggestion.contact_b_id == contact_id),
        )
    )
    if found is None:
        raise NotFound("error.not_found_id", kind="merge_suggestions", id=suggestion_id)
    return found


def record_consent(
    sessions: Sessions, actor: Actor, conversation_id: int, *, purpose: str, granted: str, source: str, note: str
) -> None:
    """``granted`` as the form posts it: "1" grants, "0" withdraws, anything else is refused."""
    with unit_of_work(sessions) as session:
        contact_id = _contact_id(session, actor, conversation_id)
        if granted not in ("1", "0"):
            raise InvalidInput("composer.consent_choose_decision", field="granted")
        customer_panel.record_consent(
            session, actor, contact_id, purpose=purpose, granted=granted == "1", source=source, note=note
        )


def merge_suggested(sessions: Sessions, actor: Actor, conversation_id: int, suggestion_id: Any) -> None:
    """Merge the suggestion's other contact into the conversation's contact, which stays."""
    actor.require(Permission.MERGE_CONTACTS)
    with unit_of_work(sessions) as session:
        contact_id = _contact_id(session, actor, conversation_id)
        suggestion = _suggestion(session, actor, contact_id, suggestion_id)
        other_id = suggestion.contact_b_id if suggestion.contact_a_id == contact_id else suggestion.contact_a_id
        identity.merge_contacts(session, actor, contact_id, other_id)


def dismiss_suggestion(sessions: Sessions, actor: Actor, conversation_id: int, suggestion_id: int) -> None:
    actor.require(Permission.MERGE_CONTACTS)
    with unit_of_work(sessions) as session:
        contact_id = _contact_id(session, actor, conversation_id)
        identity.dismiss_suggestion(session, actor, _suggestion(session, actor, contact_id, suggestion_id).id)
