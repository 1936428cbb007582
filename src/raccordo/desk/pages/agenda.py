"""Agenda pages: the conversation's "Schedule callback / follow-up" panel and the agent's /agenda page.

Entrypoint layer over ``services/agenda.py``. Times are entered and shown in the tenant's
timezone (``domain.hours.tenant_zone``). The fragments refresh on ``raccordo:agenda`` (fired by
``agenda.js`` on ``agenda.*`` events).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import accounts
from raccordo.desk.domain import agenda as rules
from raccordo.desk.services import agenda
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import AgendaItem, Contact, Conversation, Inbox, RoutingQueue
from raccordo.platform.web.forms import FormDep, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.records import get_owned

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HISTORY_DAYS = 7  # done, cancelled and missed items shown on /agenda


def _names(session: Any, me: Me, items: list[AgendaItem]) -> dict[str, Any]:
    tenant = me.actor.tenant_id
    contact_ids = {i.contact_id for i in items}
    queue_ids = {i.routed_queue_id for i in items if i.routed_queue_id} | {i.queue_id for i in items if i.queue_id}
    inbox_ids = {i.inbox_id for i in items if i.inbox_id}
    return {
        "contacts": dict(session.execute(select(Contact.id, Contact.name).where(Contact.tenant_id == tenant, Contact.id.in_(contact_ids))).all()) if contact_ids else {},
        "queues": dict(session.execute(select(RoutingQueue.id, RoutingQueue.name).where(RoutingQueue.tenant_id == tenant, RoutingQueue.id.in_(queue_ids))).all()) if queue_ids else {},
        "inbox_names": dict(session.execute(select(Inbox.id, Inbox.name).where(Inbox.tenant_id == tenant, Inbox.id.in_(inbox_ids))).all()) if inbox_ids else {},
        "users": {u.id: u.name for u in accounts.list_users(session, me.actor)},
    }


def _local(value: datetime, zone: Any) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


# --- the conversation's panel --------------------------------------------------------------------


def _panel_context(session: Any, me: Me, conversation_id: int, *, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    conversation = get_owned(session, Conversation, me.actor.tenant_id, conversation_id)
    items = agenda.conversation_items(session, me.actor, conversation_id)
    zone = agenda.tenant_zone(session, me.actor.tenant_id)
    queues = [q for q in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == me.actor.tenant_id, RoutingQueue.active.is_(True)).order_by(RoutingQueue.name))]
    default_due = _local(datetime.now(UTC) + timedelta(hours=1), zone)[:16]
    return {
        "conversation": conversation,
        "agenda_items": items,
        "agenda_zone": str(zone),
        "agenda_channels": agenda.channel_choices(session, me.actor, conversation),
        "agenda_queues": queues,
        "agenda_errors": errors or {},
        "agenda_values": values or {"kind": "callback", "due_at": default_due, "channel": "", "note": "", "queue_id": ""},
        "agenda_kinds": rules.KINDS,
        "now": datetime.now(UTC),
        "zone": zone,
        **_names(session, me, items),
    }


@router.get("/conversations/{conversation_id}/agenda")
def conversation_agenda(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_agenda_panel.html", base_context(me, **_panel_context(session, me, conversation_id)))


@router.get("/conversations/{conversation_id}/agenda/items")
def conversation_agenda_items(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_agenda_items.html", base_context(me, view="conversation", **_panel_context(session, me, conversation_id)))


def _channel_choice(value: str) -> dict[str, Any]:
    """``phone`` or ``inbox:7`` from the form's select."""
    if value.startswith("inbox:") and form_id(value[6:]):
        return {"inbox_id": int(value[6:])}
    if value == rules.PHONE:
        return {"channel": rules.PHONE}
    return {}


@router.post("/conversations/{conversation_id}/agenda")
def schedule_from_conversation(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    rt = runtime(request)
    values = {k: str(form.get(k) or "") for k in ("kind", "due_at", "channel", "note", "queue_id")}
    errors: dict[str, str] = {}
    try:
        with unit_of_work(rt.sessions) as session:
            zone = agenda.tenant_zone(session, me.actor.tenant_id)
            due = rules.local_input(values["due_at"], zone) if values["due_at"] else None
            if values["due_at"] and due is None:
                raise InvalidInput("agenda.due_at_invalid", field="due_at")
            queue_id = form_id(values["queue_id"])
            agenda.schedule(session, me.actor, conversation_id=conversation_id, kind=values["kind"], due_at=due, note=values["note"], queue_id=queue_id, **_channel_choice(values["channel"]))
    except NotFound:
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
        if "inbox_id" in errors:
            errors["channel"] = errors.pop("inbox_id")
    with unit_of_work(rt.sessions) as session:
        context = _panel_context(session, me, conversation_id, errors=errors, values=values if errors else None)
        return render(request, "_agenda_panel.html", base_context(me, agenda_saved=not errors, **context), status_code=422 if errors else 200)


# --- the agenda page -----------------------------------------------------------------------------


def _page_context(session: Any, me: Me, scope: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    zone = agenda.tenant_zone(session, me.actor.tenant_id)
    items = agenda.list_items(session, me.actor, agenda.AgendaFilters(scope=scope), limit=500)
    open_items = [i for i in items if i.status in rules.OPEN_STATUSES]
    overdue = [i for i in open_items if i.due_at <= now]
    upcoming = [i for i in open_items if i.due_at > now]
    since = now - timedelta(days=HISTORY_DAYS)
    history = [i for i in items if i.status not in rules.OPEN_STATUSES and (i.completed_at or i.updated_at or i.due_at) >= since]
    return {
        "scope": scope,
        "overdue": overdue,
        "upcoming_days": rules.group_by_day(upcoming, zone),
        "history_days": rules.group_by_day(history, zone),
        "zone": zone,
        "agenda_zone": str(zone),
        "now": now,
        **_names(session, me, items),
    }


def _scope(request: Request, me: Me) -> str:
    scope = request.query_params.get("scope") or "mine"
    if scope == "all" and not me.can_supervise:
        raise Forbidden("ui.error.forbidden_page")
    return scope if scope in ("mine", "all") else "mine"


@router.get("/agenda")
def agenda_page(request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    scope = _scope(request, me)
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "agenda.html", base_context(me, nav="agenda", view="page", **_page_context(session, me, scope)))


@router.get("/agenda/list")
def agenda_list(request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    scope = _scope(request, me)
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_agenda_page_list.html", base_context(me, view="page", **_page_context(session, me, scope)))


@router.post("/agenda/{item_id}/{action}")
def agenda_action(item_id: int, action: str, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    """complete / cancel / reschedule from the /agenda page or the conversation's panel; answers the fragment it came from."""
    if action not in ("complete", "cancel", "reschedule"):
        raise NotFound("error.not_found")
    rt = runtime(request)
    errors: dict[str, str] = {}
    conversation_id = None
    try:
        with unit_of_work(rt.sessions) as session:
            item = agenda.get_item(session, me.actor, item_id)
            conversation_id = item.conversation_id
            if action == "complete":
                agenda.complete(session, me.actor, item_id)
            elif action == "cancel":
                agenda.cancel(session, me.actor, item_id)
            else:
                zone = agenda.tenant_zone(session, me.actor.tenant_id)
                raw = str(form.get("due_at") or "")
                due = rules.local_input(raw, zone) if raw else None
                if raw and due is None:
                    raise InvalidInput("agenda.due_at_invalid", field="due_at")
                agenda.update(session, me.actor, item_id, due_at=due)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = {item_id: next(iter(field_errors(exc, me.lang).values()))}  # type: ignore[dict-item]
    status = 422 if errors else 200
    headers: dict[str, str] = {}  # the agenda.changed event refreshes the other views
    with unit_of_work(rt.sessions) as session:
        if form.get("view") == "conversation" and conversation_id is not None:
            context = _panel_context(session, me, conversation_id)
            return render(request, "_agenda_items.html", base_context(me, view="conversation", item_errors=errors, **context), status_code=status, headers=headers)
        scope = "all" if form.get("scope") == "all" and me.can_supervise else "mine"
        return render(request, "_agenda_page_list.html", base_context(me, view="page", item_errors=errors, **_page_context(session, me, scope)), status_code=status, headers=headers)
