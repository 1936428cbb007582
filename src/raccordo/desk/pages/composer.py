"""Customer panel actions beside a conversation: the panel fragment, recording a consent decision,
merging or dismissing a merge suggestion. Entrypoint layer: each calls one use case of
``desk.services.desk_actions``, then re-renders ``_customer.html`` (with the error next to the
form on a 4xx) and asks the head to refresh."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.desk.services import delivery_alerts, desk_actions, desk_views
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.web.forms import FormDep, field_errors
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _panel(
    request: Request,
    me: Me,
    conversation_id: int,
    errors: dict[str, str] | None = None,
    *,
    status: int = 200,
    changed: bool = False,
) -> Response:
    context = desk_views.customer_view(runtime(request).sessions, me.actor, conversation_id)
    headers = {"HX-Trigger": "raccordo:head"} if changed else {}
    return render(
        request,
        "_customer.html",
        base_context(me, panel_errors=errors or {}, **context),
        status_code=status,
        headers=headers,
    )


@router.get("/conversations/{conversation_id}/customer")
def customer_panel_fragment(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.READ)
    return _panel(request, me, conversation_id)


@router.post("/conversations/{conversation_id}/consent")
def post_consent(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    try:
        desk_actions.record_consent(
            runtime(request).sessions,
            me.actor,
            conversation_id,
            purpose=str(form.get("purpose") or ""),
            granted=str(form.get("granted") or ""),
            source=str(form.get("source") or ""),
            note=str(form.get("note") or ""),
        )
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _panel(
            request, me, conversation_id, {"consent_" + k: v for k, v in field_errors(exc, me.lang).items()}, status=422
        )
    return _panel(request, me, conversation_id, changed=True)


@router.post("/conversations/{conversation_id}/merge")
def post_merge(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    """Merge the suggestion's other contact into the conversation's contact, which stays."""
    try:
        me.require(Permission.MERGE_CONTACTS)
        desk_actions.merge_suggested(runtime(request).sessions, me.actor, conversation_id, form.get("suggestion_id"))
    except NotFound:
        raise
    except RaccordoError as exc:  # Forbidden too: the panel says why, next to the suggestion
        return _panel(
            request, me, conversation_id, {"merge": next(iter(field_errors(exc, me.lang).values()))}, status=422
        )
    return _panel(request, me, conversation_id, changed=True)


@router.post("/conversations/{conversation_id}/merge-suggestions/{suggestion_id}/dismiss")
def post_dismiss(conversation_id: int, suggestion_id: int, request: Request, me: Me = MeDep) -> Response:
    try:
        me.require(Permission.MERGE_CONTACTS)
        desk_actions.dismiss_suggestion(runtime(request).sessions, me.actor, conversation_id, suggestion_id)
    except NotFound:
        raise
    except RaccordoError as exc:
        return _panel(
            request, me, conversation_id, {"merge": next(iter(field_errors(exc, me.lang).values()))}, status=422
        )
    return _panel(request, me, conversation_id)


# --- failed deliveries at the top of the conversation ---------------------------------------------


def _alerts(
    request: Request, me: Me, conversation_id: int, error: str | None = None, *, changed: bool = False
) -> Response:
    context = delivery_alerts.alerts_view(runtime(request).sessions, me.actor, conversation_id)
    headers = {"HX-Trigger": "raccordo:thread"} if changed else {}
    return render(request, "_delivery_alerts.html", base_context(me, alerts_error=error, **context), headers=headers)


@router.get("/conversations/{conversation_id}/delivery-alerts")
def delivery_alerts_fragment(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    return _alerts(request, me, conversation_id)


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry")
def post_retry_delivery(conversation_id: int, message_id: int, request: Request, me: Me = MeDep) -> Response:
    """Queue the failed reply again; the banner answers at once (now "retrying") and goes when it is sent."""
    try:
        delivery_alerts.retry(runtime(request).sessions, me.actor, message_id, lambda message: message.id)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:  # delivered meanwhile, say: the banner, current, says why nothing was done
        return _alerts(request, me, conversation_id, next(iter(field_errors(exc, me.lang).values())))
    return _alerts(request, me, conversation_id, changed=True)
