"""Agenda pages: the conversation's "Schedule callback / follow-up" panel and the agent's /agenda page.

Entrypoint layer over ``desk.services.agenda_views`` (read models and use cases). Times are
entered and shown in the tenant's timezone (``domain.hours.tenant_zone``). The fragments refresh
on ``raccordo:agenda`` (fired by ``agenda.js`` on ``agenda.*`` events).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.desk.domain import agenda as rules
from raccordo.desk.services import agenda_views
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.web.forms import FormDep, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- the conversation's panel --------------------------------------------------------------------


def _panel_context(
    request: Request,
    me: Me,
    conversation_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    context = agenda_views.panel_view(runtime(request).sessions, me.actor, conversation_id)
    default = {
        "kind": "callback",
        "due_at": context.pop("agenda_default_due"),
        "channel": "",
        "note": "",
        "queue_id": "",
    }
    return context | {"agenda_errors": errors or {}, "agenda_values": values or default}


@router.get("/conversations/{conversation_id}/agenda")
def conversation_agenda(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return render(request, "_agenda_panel.html", base_context(me, **_panel_context(request, me, conversation_id)))


@router.get("/conversations/{conversation_id}/agenda/items")
def conversation_agenda_items(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return render(
        request,
        "_agenda_items.html",
        base_context(me, view="conversation", **_panel_context(request, me, conversation_id)),
    )


def _channel_choice(value: str) -> dict[str, Any]:
    """``phone`` or ``inbox:7`` from the form's select."""
    if value.startswith("inbox:") and form_id(value[6:]):
        return {"inbox_id": int(value[6:])}
    if value == rules.PHONE:
        return {"channel": rules.PHONE}
    return {}


@router.post("/conversations/{conversation_id}/agenda")
def schedule_from_conversation(
    conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep
) -> Response:
    values = {k: str(form.get(k) or "") for k in ("kind", "due_at", "channel", "note", "queue_id")}
    errors: dict[str, str] = {}
    try:
        agenda_views.schedule(
            runtime(request).sessions,
            me.actor,
            conversation_id,
            kind=values["kind"],
            due_at=values["due_at"],
            note=values["note"],
            queue_id=form_id(values["queue_id"]),
            channel=_channel_choice(values["channel"]),
        )
    except NotFound:
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
        if "inbox_id" in errors:
            errors["channel"] = errors.pop("inbox_id")
    context = _panel_context(request, me, conversation_id, errors=errors, values=values if errors else None)
    return render(
        request,
        "_agenda_panel.html",
        base_context(me, agenda_saved=not errors, **context),
        status_code=422 if errors else 200,
    )


# --- the agenda page -----------------------------------------------------------------------------


def _scope(request: Request, me: Me) -> str:
    scope = request.query_params.get("scope") or "mine"
    if scope == "all" and not me.can_supervise:
        raise Forbidden("ui.error.forbidden_page")
    return scope if scope in ("mine", "all") else "mine"


@router.get("/agenda")
def agenda_page(request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    context = agenda_views.page_view(runtime(request).sessions, me.actor, _scope(request, me))
    return render(request, "agenda.html", base_context(me, nav="agenda", view="page", **context))


@router.get("/agenda/list")
def agenda_list(request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    context = agenda_views.page_view(runtime(request).sessions, me.actor, _scope(request, me))
    return render(request, "_agenda_page_list.html", base_context(me, view="page", **context))


@router.post("/agenda/{item_id}/{action}")
def agenda_action(
    item_id: int, action: str, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep
) -> Response:
    """complete / cancel / reschedule from the /agenda page or the conversation's panel; answers
    the fragment it came from."""
    if action not in ("complete", "cancel", "reschedule"):
        raise NotFound("error.not_found")
    sessions = runtime(request).sessions
    errors: dict[int, str] = {}
    conversation_id = None
    try:
        conversation_id = agenda_views.act(sessions, me.actor, item_id, action, str(form.get("due_at") or ""))
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = {item_id: next(iter(field_errors(exc, me.lang).values()))}
        conversation_id = agenda_views.conversation_of(sessions, me.actor, item_id)
    status = 422 if errors else 200
    headers: dict[str, str] = {}  # the agenda.changed event refreshes the other views
    if form.get("view") == "conversation" and conversation_id is not None:
        context = _panel_context(request, me, conversation_id)
        return render(
            request,
            "_agenda_items.html",
            base_context(me, view="conversation", item_errors=errors, **context),
            status_code=status,
            headers=headers,
        )
    scope = "all" if form.get("scope") == "all" and me.can_supervise else "mine"
    context = agenda_views.page_view(sessions, me.actor, scope)
    return render(
        request,
        "_agenda_page_list.html",
        base_context(me, view="page", item_errors=errors, **context),
        status_code=status,
        headers=headers,
    )
