"""Server-rendered pages: login, logout, the agent desktop (inbox, conversation, customer panel,
presence). Entrypoint layer: parse the form, call one use case (``desk.services.desk_actions``),
render a read model (``desk.services.desk_views``) with a template.

Auth is the API's session cookie; every POST carries the login session's CSRF token (htmx sends
it as ``X-CSRF-Token``, plain forms as the ``csrf_token`` field). Pages answer HTML: a missing
session redirects to ``/login``, a role that may not gets a 403 page, another tenant's id a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.desk.pages import composer_view
from raccordo.desk.services import desk_actions, desk_views, inbox, search
from raccordo.desk.services.desk_views import InboxFilters
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.web.forms import FormDep, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import register_templates, render
from raccordo.realtime.domain.vocabularies import AwayReason
from raccordo.record.domain.conversations import ConversationStatus, Priority

LOGIN_CSRF_COOKIE = "raccordo_login_csrf"
_SAFE = {"GET", "HEAD", "OPTIONS"}
STATUSES = tuple(ConversationStatus)
AWAY_REASONS = tuple(AwayReason)

DESK = Path(__file__).parent.parent
STATIC = DESK / "static"
register_templates(DESK / "templates")


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- inbox -----------------------------------------------------------------------------------------


PRIORITIES = tuple(Priority)


def inbox_views(me: Me) -> tuple[str, ...]:
    return inbox.views_for(me.role)


def read_filters(request: Request, me: Me) -> InboxFilters:
    params = request.query_params
    views = inbox_views(me)
    view = params.get("view") or inbox.default_view(me.role)
    if view not in views:
        raise Forbidden("ui.error.forbidden_page")
    status = params.get("status", "open")
    if status not in STATUSES and status != "any":
        status = "open"
    channel = params.get("channel", "")
    priority = params.get("priority", "")
    if priority not in PRIORITIES:
        priority = ""
    label = params.get("label", "").strip().lower()[:100]
    queue = params.get("queue", "").strip()
    queue = queue if form_id(queue) else ""
    return InboxFilters(
        view, status, channel[:32], priority, label, queue, params.get("q", "").strip()[: search.MAX_QUERY_CHARS]
    )


@router.get("/")
def home(request: Request, me: Me = MeDep) -> Response:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox")
def inbox_page(request: Request, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    context = desk_views.inbox_page_view(runtime(request).sessions, me.actor, filters)
    return render(
        request, "inbox.html", base_context(me, views=inbox_views(me), statuses=STATUSES, conversation=None, **context)
    )


@router.get("/inbox/list")
def inbox_list(request: Request, cursor: str | None = None, selected: int | None = None, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    context = desk_views.inbox_list_view(runtime(request).sessions, me.actor, filters, cursor, selected)
    return render(request, "_list_more.html" if cursor else "_list.html", base_context(me, **context))


# --- one conversation ------------------------------------------------------------------------------


@router.get("/conversations/{conversation_id}")
def conversation_page(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    rt = runtime(request)
    context = desk_views.conversation_page_view(
        rt.sessions,
        rt.secretbox,
        me.actor,
        conversation_id,
        filters,
        page_origin=f"{request.url.scheme}://{request.url.netloc}",
        max_attachment_bytes=rt.settings.max_attachment_bytes,
    )
    return render(
        request, "inbox.html", base_context(me, views=inbox_views(me), composer_errors={}, draft="", **context)
    )


@router.get("/conversations/{conversation_id}/thread")
def conversation_thread(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    return render(
        request,
        "_thread.html",
        base_context(me, **desk_views.thread_view(runtime(request).sessions, me.actor, conversation_id)),
    )


@router.get("/conversations/{conversation_id}/head")
def conversation_head(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    return render(
        request,
        "_head.html",
        base_context(me, **desk_views.head_view(runtime(request).sessions, me.actor, conversation_id)),
    )


def _composer(
    request: Request,
    me: Me,
    conversation_id: int,
    errors: dict[str, str],
    draft: str,
    status: int,
    mode: str = "reply",
    inbox_id: int | None = None,
) -> Response:
    rt = runtime(request)
    context = desk_views.composer_view(rt.sessions, me.actor, conversation_id, rt.settings.max_attachment_bytes)
    headers = {"HX-Trigger": "raccordo:thread"} if not errors else {}
    return render(
        request,
        "_composer.html",
        base_context(me, composer_errors=errors, draft=draft, mode=mode, chosen_inbox_id=inbox_id, **context),
        status_code=status,
        headers=headers,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@router.post("/conversations/{conversation_id}/reply")
def post_reply(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _post_message(request, me, conversation_id, form, "reply")


@router.post("/conversations/{conversation_id}/note")
def post_note(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _post_message(request, me, conversation_id, form, "note")


def _post_message(request: Request, me: Me, conversation_id: int, form: dict[str, Any], mode: str) -> Response:
    """Send the composer's reply or note; answer the composer again, with the errors next to the
    fields and the text kept when the message was refused."""
    rt = runtime(request)
    text = str(form.get("text") or "")
    inbox_id = _int_or_none(form.get("inbox_id")) if mode == "reply" else None
    try:
        desk_actions.post_message(
            rt.sessions,
            rt.files,
            me.actor,
            conversation_id,
            note=mode == "note",
            text=text,
            inbox_id=inbox_id,
            attachments=composer_view.form_uploads(form),
            max_attachment_bytes=rt.settings.max_attachment_bytes,
            content_attributes=composer_view.form_content_attributes(form) if mode == "reply" else None,
        )
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _composer(request, me, conversation_id, field_errors(exc, me.lang), text, 422, mode, inbox_id)
    return _composer(request, me, conversation_id, {}, "", 200, mode, inbox_id)


def _snooze_until(form: dict[str, Any]) -> datetime | None:
    """``datetime-local`` from the browser plus its ``tz_offset`` (minutes, as JavaScript's getTimezoneOffset)."""
    raw = str(form.get("snoozed_until") or "")
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if local.tzinfo is not None:
        return local
    offset = _int_or_none(form.get("tz_offset")) or 0
    try:
        return (local + timedelta(minutes=offset)).replace(tzinfo=UTC)
    except OverflowError:  # year 9999 plus an offset, or an absurd offset: as unreadable as a bad date
        return None


@router.post("/conversations/{conversation_id}/status")
def post_status(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    errors: dict[str, str] = {}
    try:
        desk_actions.change_conversation(
            runtime(request).sessions,
            me.actor,
            conversation_id,
            status=str(form.get("status") or ""),
            snoozed_until=_snooze_until(form),
            wrap_up_code=str(form.get("wrap_up_code") or "") or None,
            take=form.get("take") == "1",
        )
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
    context = desk_views.head_view(runtime(request).sessions, me.actor, conversation_id)
    return render(
        request,
        "_head.html",
        base_context(me, head_errors=errors, **context),
        status_code=422 if errors else 200,
        headers={} if errors else {"HX-Trigger": "raccordo:thread, raccordo:list"},
    )


def _transfer_target(value: str) -> dict[str, int]:
    """``user:7`` / ``team:3`` / ``queue:2`` from the transfer form's select."""
    kind, _, raw = value.partition(":")
    if kind in ("user", "team", "queue") and form_id(raw):
        return {f"{kind}_id": int(raw)}
    return {}


@router.post("/conversations/{conversation_id}/transfer")
def post_transfer(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    rt = runtime(request)
    errors: dict[str, str] = {}
    note = str(form.get("note") or "").strip() or None
    try:
        desk_actions.transfer(
            rt.sessions,
            rt.files,
            me.actor,
            conversation_id,
            _transfer_target(str(form.get("target") or "")),
            note=note,
            max_attachment_bytes=rt.settings.max_attachment_bytes,
        )
    except NotFound:
        raise
    except RaccordoError as exc:  # Forbidden too: an agent may not take someone else's conversation away
        errors = {"target": next(iter(field_errors(exc, me.lang).values()))}
    if not errors and not desk_views.can_see(rt.sessions, me.actor, conversation_id):
        # Handed to someone the agent does not share a team with: it leaves their sight.
        return Response(status_code=200, headers={"HX-Redirect": "/inbox", "HX-Trigger": "raccordo:list"})
    context = desk_views.head_view(rt.sessions, me.actor, conversation_id)
    return render(
        request,
        "_head.html",
        base_context(me, head_errors=errors, transfer_note=(note or "") if errors else "", **context),
        status_code=422 if errors else 200,
        headers={} if errors else {"HX-Trigger": "raccordo:thread, raccordo:list"},
    )


# --- presence --------------------------------------------------------------------------------------


def _presence(request: Request, me: Me, errors: dict[str, str] | None = None) -> Response:
    context = desk_actions.presence_view(runtime(request).sessions, me.actor)
    return render(
        request,
        "_presence.html",
        base_context(me, presence_errors=errors or {}, away_reasons=AWAY_REASONS, **context),
        status_code=422 if errors else 200,
    )


@router.get("/presence")
def presence_widget(request: Request, me: Me = MeDep) -> Response:
    return _presence(request, me)


@router.post("/presence")
def presence_change(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    status = str(form.get("status") or "")
    reason = str(form.get("reason") or "") or None
    if status == "away" and reason is None:
        reason = AWAY_REASONS[0]
    errors: dict[str, str] = {}
    try:
        desk_actions.set_presence(runtime(request).sessions, me.actor, status, reason)
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
    return _presence(request, me, errors)
