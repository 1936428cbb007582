"""Wrap-up codes: admins define them; a queue can require one when a conversation routed through
it is resolved; the code is stored on the conversation and in the ``resolved`` routing event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.desk.models import WrapUpCode
from raccordo.platform.errors import Conflict, InvalidInput
from raccordo.platform.store.models import fold_name
from raccordo.record.models import Conversation
from raccordo.record.services.records import audit, get_owned, queues_went_through
from raccordo.routing.models import RoutingQueue

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FIELDS = ("code", "label", "active")


def list_codes(session: Session, actor: Actor, *, active_only: bool = False) -> list[WrapUpCode]:
    actor.require(Permission.READ)
    query = select(WrapUpCode).where(WrapUpCode.tenant_id == actor.tenant_id)
    if active_only:
        query = query.where(WrapUpCode.active.is_(True))
    return list(session.scalars(query.order_by(WrapUpCode.label)))


def get_code(session: Session, actor: Actor, code_id: int) -> WrapUpCode:
    actor.require(Permission.READ)
    return get_owned(session, WrapUpCode, actor.tenant_id, code_id)


def _check(session: Session, actor: Actor, values: dict[str, Any], code_id: int | None) -> None:
    if "code" in values:
        if not isinstance(values["code"], str) or not CODE.match(values["code"]):
            raise InvalidInput("wrapup.code_invalid", field="code", value=values.get("code"))
        query = select(WrapUpCode.id).where(
            WrapUpCode.tenant_id == actor.tenant_id, WrapUpCode.code_key == fold_name(values["code"])
        )
        if code_id is not None:
            query = query.where(WrapUpCode.id != code_id)
        if session.scalar(query) is not None:
            raise Conflict("wrapup.code_exists", field="code", value=values["code"])
    if "label" in values and (not values["label"] or not values["label"].strip() or len(values["label"]) > 200):
        raise InvalidInput("wrapup.label_required", field="label")


def create_code(session: Session, actor: Actor, values: dict[str, Any]) -> WrapUpCode:
    actor.require(Permission.MANAGE_CONTENT)
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in FIELDS}
    values.setdefault("code", "")
    values.setdefault("label", "")
    _check(session, actor, values, None)
    row = WrapUpCode(
        tenant_id=actor.tenant_id,
        code=values["code"],
        label=values["label"],
        active=values.get("active", True) is not False,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    audit(session, actor, "wrap_up_code.created", "wrap_up_code", row.id, {"code": row.code})
    return row


def update_code(session: Session, actor: Actor, code_id: int, values: dict[str, Any]) -> WrapUpCode:
    actor.require(Permission.MANAGE_CONTENT)
    row = get_owned(session, WrapUpCode, actor.tenant_id, code_id, lock=True)
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in FIELDS and v is not None}
    _check(session, actor, values, code_id)
    for name, value in values.items():
        setattr(row, name, value)
    audit(session, actor, "wrap_up_code.updated", "wrap_up_code", row.id, {"fields": sorted(values)})
    return row


def delete_code(session: Session, actor: Actor, code_id: int) -> None:
    """Conversations keep the code they were resolved with (it is stored as text)."""
    actor.require(Permission.MANAGE_CONTENT)
    row = get_owned(session, WrapUpCode, actor.tenant_id, code_id)
    audit(session, actor, "wrap_up_code.deleted", "wrap_up_code", row.id, {"code": row.code})
    session.delete(row)


def requiring_queue(
    session: Session, conversation: Conversation, went_through: set[int] | None = None
) -> RoutingQueue | None:
    """The first queue requiring a wrap-up code that this conversation was routed through, if any
    (``went_through``: those queues, when the caller has read them already)."""
    queue_ids = queues_went_through(session, conversation.id) if went_through is None else went_through
    if not queue_ids:
        return None
    return session.scalar(
        select(RoutingQueue)
        .where(
            RoutingQueue.tenant_id == conversation.tenant_id,
            RoutingQueue.id.in_(queue_ids),
            RoutingQueue.requires_wrap_up.is_(True),
        )
        .order_by(RoutingQueue.id)
        .limit(1)
    )


def apply(session: Session, actor: Actor, conversation: Conversation, code: str | None, *, resolving: bool) -> None:
    """Check and store ``code``; on resolving by a person, a queue may require one (422 on ``wrap_up_code``)."""
    if code is not None and code.strip():
        row = session.scalar(
            select(WrapUpCode).where(
                WrapUpCode.tenant_id == conversation.tenant_id,
                WrapUpCode.code == code.strip(),
                WrapUpCode.active.is_(True),
            )
        )
        if row is None:
            raise InvalidInput("wrapup.code_unknown", field="wrap_up_code", value=code.strip())
        conversation.wrap_up_code = row.code
        return
    if resolving and actor.user_id is not None:
        queue = requiring_queue(session, conversation)
        if queue is not None:
            raise InvalidInput("wrapup.required", field="wrap_up_code", queue=queue.name)
