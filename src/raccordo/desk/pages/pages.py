"""Server-rendered pages: login, logout, the agent desktop (inbox, conversation, customer panel,
presence). Entrypoint layer: parse the form, call the existing services, render a template.

Auth is the API's session cookie; every POST carries the login session's CSRF token (htmx sends
it as ``X-CSRF-Token``, plain forms as the ``csrf_token`` field). Pages answer HTML: a missing
session redirects to ``/login``, a role that may not gets a 403 page, another tenant's id a 404.
"""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from raccordo.channels.base import get_channel
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Contact, Conversation, Inbox, Team, Tenant
from raccordo.platform.web.schemas import MAX_ID
from raccordo.accounts.api.deps import CSRF_COOKIE, SESSION_COOKIE, client_address, cookie_secure, runtime
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.hours import DEFAULT_TIMEZONE, tenant_zone
from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.platform.i18n import pick_language, translate
from raccordo.accounts.services import accounts
from raccordo.record.services import contacts, conversations, reply
from raccordo.desk.services import desk_load, inbox, search, wrapup
from raccordo.channels.services import inboxes
from raccordo.realtime.services import presence
from raccordo.routing.services import routing, admin as routing_admin
from raccordo.accounts.domain.actor import Actor
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned
from raccordo.desk.pages import composer_view
from raccordo.platform.web.templating import register_templates, render

LOGIN_CSRF_COOKIE = "raccordo_login_csrf"
_SAFE = {"GET", "HEAD", "OPTIONS"}
STATUSES = ("open", "pending", "snoozed", "resolved", "closed")
AWAY_REASONS = ("break", "lunch", "meeting", "training", "after_call_work")

DESK = Path(__file__).parent.parent
STATIC = DESK / "static"
register_templates(DESK / "templates")


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


@dataclass
class Me:
    """The logged-in user as the pages need them."""

    actor: Actor
    name: str
    email: str
    csrf: str
    tenant_name: str
    timezone: str = DEFAULT_TIMEZONE  # the organization's: every time on the desktop is shown in it

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def lang(self) -> str:
        return self.actor.language or "en"

    @property
    def can_supervise(self) -> bool:
        return can(self.actor.role, Permission.VIEW_LIVE)

    @property
    def can_admin(self) -> bool:
        return can(self.actor.role, Permission.MANAGE_ROUTING)

    def require(self, permission: Permission) -> None:
        if not can(self.actor.role, permission):
            raise Forbidden("ui.error.forbidden_page")


def _find_session(request: Request) -> Me | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with unit_of_work(runtime(request).sessions) as session:
        found = accounts.session_user(session, cookie)
        if found is None:
            return None
        user, login_session = found
        tenant = session.get_one(Tenant, user.tenant_id)
        actor = Actor(tenant_id=user.tenant_id, user_id=user.id, role=Role(user.role), language=user.language, client_address=client_address(request))
        return Me(actor, user.name, user.email, login_session.csrf_token, tenant.name, tenant_zone(tenant.settings).key)


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form as a dict (lists for repeated names); empty for GET."""
    if request.method in _SAFE:
        return {}
    form = await request.form()
    data: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        data[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    return data


async def current_me(request: Request, form: dict[str, Any] = Depends(form_data)) -> Me:
    me = await run_in_threadpool(_find_session, request)
    if me is None:
        raise LoginRequired()
    request.state.language = me.lang
    if request.method not in _SAFE:
        sent = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent, me.csrf):
            raise CsrfFailed()
    return me


MeDep = Depends(current_me)
FormDep = Depends(form_data)


def _language(request: Request) -> str:
    return getattr(request.state, "language", None) or pick_language(request.headers.get("accept-language"))


def error_page(request: Request, status: int, message: str) -> Response:
    lang = _language(request)
    title = translate({403: "ui.error.forbidden_title", 404: "ui.error.not_found_title"}.get(status, "ui.error.title"), lang)
    return render(request, "error.html", {"lang": lang, "status": status, "title": title, "message": message}, status_code=status)


class PageRoute(APIRoute):
    """Routes answering HTML on errors: login redirects, 403 and 404 pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                if request.headers.get("hx-request"):
                    return Response(status_code=204, headers={"HX-Redirect": "/login"})
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            except CsrfFailed:
                return error_page(request, 403, translate("ui.error.csrf", _language(request)))
            except RaccordoError as exc:
                if isinstance(exc, Forbidden | NotFound):
                    params = dict(exc.params)
                    if "kind" in params and exc.key == "error.not_found_id":
                        params["kind"] = translate(f"noun.{params['kind']}", _language(request))
                    return error_page(request, exc.status, translate(exc.key, _language(request), **params))
                raise

        return handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def field_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    """A service error as {form field: translated message}; nested fields (``relax.0``) go to their base field."""
    params = dict(exc.params)
    if "kind" in params and exc.key == "error.not_found_id":
        params["kind"] = translate(f"noun.{params['kind']}", lang)
    message = translate(exc.key, lang, **params)
    field = (exc.field or "_form").split(".")[0]
    return {field: message}


def base_context(me: Me, **values: Any) -> dict[str, Any]:
    return {"me": me, "lang": me.lang, "csrf_token": me.csrf, "zone": ZoneInfo(me.timezone), **values}


# --- login and logout ------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/inbox"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    if await run_in_threadpool(_find_session, request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next, {}, status=200)


def _login_form(request: Request, next_url: str | None, errors: dict[str, str], *, status: int, email: str = "", tenant: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"lang": _language(request), "login_csrf": token, "next": _safe_next(next_url), "errors": errors, "email": email, "tenant": tenant}, status_code=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=cookie_secure(request), path="/login")
    return response


@router.post("/login")
def login_submit(request: Request, form: dict[str, Any] = FormDep) -> Response:
    settings = runtime(request).settings
    lang = _language(request)
    email, tenant = str(form.get("email") or "").strip(), str(form.get("tenant") or "").strip()
    sent, expected = str(form.get("login_csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_form(request, form.get("next"), {"_form": translate("ui.login.expired_form", lang)}, status=403, email=email, tenant=tenant)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            new = accounts.login(
                session, email=email, password=str(form.get("password") or ""), tenant_slug=tenant or None, client_address=client_address(request),
                max_failures=settings.login_max_failures, window_seconds=settings.login_window_seconds, session_hours=settings.session_hours,
            )
    except RaccordoError as exc:
        request.state.language = lang
        return _login_form(request, form.get("next"), {"_form": translate(exc.key, lang, **exc.params)}, status=exc.status, email=email, tenant=tenant)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    max_age = settings.session_hours * 3600
    response.set_cookie(SESSION_COOKIE, new.token, max_age=max_age, httponly=True, samesite="lax", secure=cookie_secure(request), path="/")
    response.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, samesite="strict", secure=cookie_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, me: Me = MeDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with unit_of_work(runtime(request).sessions) as session:
            accounts.logout(session, token)
    response = RedirectResponse("/login", status_code=303)
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# --- inbox -----------------------------------------------------------------------------------------


PRIORITIES = ("none", "low", "medium", "high", "urgent")


@dataclass
class InboxFilters:
    view: str
    status: str
    channel: str
    priority: str = ""
    label: str = ""
    queue: str = ""  # a queue id (the conversation's routing item), as text
    q: str = ""  # full-text search (services/search.py)

    def query(self, **extra: Any) -> str:
        values = {"view": self.view, "status": self.status, "channel": self.channel, "priority": self.priority, "label": self.label, "queue": self.queue, "q": self.q, **extra}
        return urlencode({k: v for k, v in values.items() if v})


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
    return InboxFilters(view, status, channel[:32], priority, label, queue, params.get("q", "").strip()[:search.MAX_QUERY_CHARS])


def inbox_list_context(session: Any, me: Me, filters: InboxFilters, cursor: str | None, selected_id: int | None) -> dict[str, Any]:
    actor = me.actor
    service_filters = conversations.ConversationFilters(
        status=None if filters.status == "any" else filters.status,
        channel=filters.channel or None,
        priority=filters.priority or None,
        label=filters.label or None,
        queue_id=int(filters.queue) if filters.queue else None,
        q=filters.q or None,
        **inbox.view_filters(session, actor, filters.view),  # mine, unassigned, my teams, all
    )
    rows, next_cursor = conversations.list_conversations(session, actor, service_filters, 25, cursor)
    contact_hits = search.search_contacts(session, actor, filters.q) if filters.q and not cursor else []
    contact_ids = {c.contact_id for c in rows}
    names = dict(session.execute(select(Contact.id, Contact.name).where(Contact.tenant_id == actor.tenant_id, Contact.id.in_(contact_ids))).all()) if contact_ids else {}
    users = {u.id: u.name for u in accounts.list_users(session, actor)}
    return {"items": rows, "names": names, "users": users, "next_cursor": next_cursor, "filters": filters, "selected_id": selected_id, "cursor": cursor, "contact_hits": contact_hits}


def _queues(session: Any, actor: Actor) -> list[Any]:
    return [q for q in routing_admin.list_queues(session, actor) if q.active]


def _channels(session: Any, actor: Actor) -> list[str]:
    return sorted({inbox.channel for inbox in inboxes.list_inboxes(session, actor)})


@router.get("/")
def home(request: Request, me: Me = MeDep) -> Response:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox")
def inbox_page(request: Request, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    with unit_of_work(runtime(request).sessions) as session:
        context = inbox_list_context(session, me, filters, None, None)
        channels = _channels(session, me.actor)
        return render(request, "inbox.html", base_context(me, views=inbox_views(me), statuses=STATUSES, channels=channels, queues=_queues(session, me.actor), conversation=None, **context))


@router.get("/inbox/list")
def inbox_list(request: Request, cursor: str | None = None, selected: int | None = None, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    with unit_of_work(runtime(request).sessions) as session:
        context = inbox_list_context(session, me, filters, cursor, selected)
        return render(request, "_list_more.html" if cursor else "_list.html", base_context(me, **context))


# --- one conversation ------------------------------------------------------------------------------


def conversation_context(session: Any, me: Me, conversation_id: int) -> dict[str, Any]:
    actor = me.actor
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    people = accounts.list_users(session, actor)
    users = {u.id: u.name for u in people}
    all_inboxes = inboxes.list_inboxes(session, actor)
    agents = [u for u in people if u.active and u.id != actor.user_id]
    teams = list(session.scalars(select(Team).where(Team.tenant_id == actor.tenant_id).order_by(Team.name)))
    queues = [q for q in routing_admin.list_queues(session, actor) if q.active]
    every_code = wrapup.list_codes(session, actor)
    codes = [c for c in every_code if c.active]
    # Only inboxes whose channel has a module can send: history-only ones (the demo's WhatsApp)
    # would fail with channel.not_installed.
    replyable = [i for i in all_inboxes if i.active and get_channel(i.channel) is not None]
    return {
        "conversation": conversation,
        "contact": contact,
        "identities": list(contact.identities),
        "users": users,
        "transfer_targets": {"user": agents, "team": teams, "queue": queues},
        "users_json": json.dumps({str(k): v for k, v in users.items()}, ensure_ascii=False),
        "wrap_up_codes": codes,
        "wrap_up_labels": {c.code: c.label for c in every_code},
        "wrap_up_required": wrapup.requiring_queue(session, conversation) is not None,
        "reply_inboxes": replyable,
        "default_reply_inbox_id": _default_reply_inbox(conversation, contact, replyable),
        "inbox_names": {i.id: i.name for i in all_inboxes},
        "statuses": STATUSES,
    }


def _default_reply_inbox(conversation: Conversation, contact: Contact, replyable: list[Inbox]) -> int | None:
    """The customer's last inbox when it can send, else the first one that can reach the contact."""
    if any(i.id == conversation.last_inbox_id for i in replyable):
        return conversation.last_inbox_id
    kinds = {identity.kind for identity in contact.identities}
    for candidate in replyable:
        channel = get_channel(candidate.channel)
        if channel is not None and kinds & set(channel.reply_identity_kinds):
            return candidate.id
    return replyable[0].id if replyable else None


def thread_context(session: Any, me: Me, conversation_id: int) -> dict[str, Any]:
    messages = conversations.list_messages(session, me.actor, conversation_id, 500)
    return {"messages": messages}


def customer_context(session: Any, me: Me, contact_id: int) -> dict[str, Any]:
    return {
        "previous": contacts.contact_conversations(session, me.actor, contact_id),
        "timeline": contacts.contact_timeline(session, me.actor, contact_id, 30),
    } | composer_view.panel_context(session, me, contact_id)


@router.get("/conversations/{conversation_id}")
def conversation_page(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    filters = read_filters(request, me)
    with unit_of_work(runtime(request).sessions) as session:
        context = conversation_context(session, me, conversation_id)
        context |= thread_context(session, me, conversation_id)
        context |= customer_context(session, me, context["contact"].id)
        context |= inbox_list_context(session, me, filters, None, conversation_id)
        context |= side_panel_context(session, request, me, conversation_id)
        context |= composer_view.composer_context(session, me, context, runtime(request).settings.max_attachment_bytes)
        channels = _channels(session, me.actor)
        return render(request, "inbox.html", base_context(me, views=inbox_views(me), channels=channels, queues=_queues(session, me.actor), composer_errors={}, draft="", **context))


@router.get("/conversations/{conversation_id}/thread")
def conversation_thread(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        context = conversation_context(session, me, conversation_id) | thread_context(session, me, conversation_id)
        return render(request, "_thread.html", base_context(me, **context))


@router.get("/conversations/{conversation_id}/head")
def conversation_head(conversation_id: int, request: Request, me: Me = MeDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_head.html", base_context(me, **conversation_context(session, me, conversation_id)))


def _composer(request: Request, me: Me, conversation_id: int, errors: dict[str, str], draft: str, status: int, mode: str = "reply", inbox_id: int | None = None) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        context = conversation_context(session, me, conversation_id)
        context |= composer_view.composer_context(session, me, context, runtime(request).settings.max_attachment_bytes)
    headers = {"HX-Trigger": "raccordo:thread"} if not errors else {}
    return render(request, "_composer.html", base_context(me, composer_errors=errors, draft=draft, mode=mode, chosen_inbox_id=inbox_id, **context), status_code=status, headers=headers)


def form_id(value: Any) -> int | None:
    """A row id posted in a form or a query: decimal digits only (``"²".isdigit()`` is true, and
    int() refuses it) and within the id column, else None."""
    text = str(value) if value is not None else ""
    return int(text) if text.isdecimal() and 0 < int(text) <= MAX_ID else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@router.post("/conversations/{conversation_id}/reply")
def post_reply(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    rt = runtime(request)
    text = str(form.get("text") or "")
    inbox_id = _int_or_none(form.get("inbox_id"))
    try:
        with unit_of_work(rt.sessions) as session:
            reply.send_reply(session, rt.files, me.actor, conversation_id, text=text, inbox_id=inbox_id, attachments=composer_view.form_uploads(form), max_attachment_bytes=rt.settings.max_attachment_bytes)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _composer(request, me, conversation_id, field_errors(exc, me.lang), text, 422, "reply", inbox_id)
    return _composer(request, me, conversation_id, {}, "", 200, "reply", inbox_id)


@router.post("/conversations/{conversation_id}/note")
def post_note(conversation_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    rt = runtime(request)
    text = str(form.get("text") or "")
    try:
        with unit_of_work(rt.sessions) as session:
            conversations.get_visible(session, me.actor, conversation_id)  # teammates may annotate; others' are not found
            reply.add_note(session, rt.files, me.actor, conversation_id, text=text, attachments=composer_view.form_uploads(form), max_attachment_bytes=rt.settings.max_attachment_bytes)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _composer(request, me, conversation_id, field_errors(exc, me.lang), text, 422, "note")
    return _composer(request, me, conversation_id, {}, "", 200, "note")


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
        with unit_of_work(runtime(request).sessions) as session:
            changes: dict[str, Any] = {"status": str(form.get("status") or "")}
            if changes["status"] == "snoozed":
                changes["snoozed_until"] = _snooze_until(form)
            if changes["status"] == "resolved" and form.get("wrap_up_code"):
                changes["wrap_up_code"] = str(form["wrap_up_code"])
            if form.get("take") == "1":
                changes = {"assignee_id": me.actor.user_id}
            conversations.update_conversation(session, me.actor, conversation_id, **changes)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
    with unit_of_work(runtime(request).sessions) as session:
        context = conversation_context(session, me, conversation_id)
    return render(request, "_head.html", base_context(me, head_errors=errors, **context), status_code=422 if errors else 200,
                  headers={} if errors else {"HX-Trigger": "raccordo:thread, raccordo:list"})


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
    target = _transfer_target(str(form.get("target") or ""))
    note = str(form.get("note") or "").strip() or None
    try:
        if not target:
            raise InvalidInput("ui.transfer.choose", field="target")
        with unit_of_work(rt.sessions) as session:
            conversations.require_can_act(session, me.actor, conversation_id)
            routing.transfer(session, me.actor, conversation_id, note=note, files=rt.files, max_attachment_bytes=rt.settings.max_attachment_bytes, **target)
    except NotFound:
        raise
    except RaccordoError as exc:  # Forbidden too: an agent may not take someone else's conversation away
        errors = {"target": next(iter(field_errors(exc, me.lang).values()))}
    with unit_of_work(rt.sessions) as session:
        if not errors and not inbox.can_see(session, me.actor, get_owned(session, Conversation, me.actor.tenant_id, conversation_id)):
            # Handed to someone the agent does not share a team with: it leaves their sight.
            return Response(status_code=200, headers={"HX-Redirect": "/inbox", "HX-Trigger": "raccordo:list"})
        context = conversation_context(session, me, conversation_id)
    return render(request, "_head.html", base_context(me, head_errors=errors, transfer_note=(note or "") if errors else "", **context), status_code=422 if errors else 200,
                  headers={} if errors else {"HX-Trigger": "raccordo:thread, raccordo:list"})


# --- presence --------------------------------------------------------------------------------------


def presence_context(session: Any, me: Me) -> dict[str, Any]:
    mine = next((row for user, row, _ in presence.list_presence(session, me.actor.tenant_id) if user.id == me.actor.user_id), None)
    return {"presence_status": mine.status if mine else "offline", "presence_reason": mine.reason if mine else None, "away_reasons": AWAY_REASONS,
            "channel_load": desk_load.my_load(session, me.actor)}


@router.get("/presence")
def presence_widget(request: Request, me: Me = MeDep) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_presence.html", base_context(me, **presence_context(session, me)))


@router.post("/presence")
def presence_change(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    status = str(form.get("status") or "")
    reason = str(form.get("reason") or "") or None
    if status == "away" and reason is None:
        reason = AWAY_REASONS[0]
    errors: dict[str, str] = {}
    try:
        with unit_of_work(runtime(request).sessions) as session:
            presence.set_status(session, me.actor, status, reason)
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
    with unit_of_work(runtime(request).sessions) as session:
        return render(request, "_presence.html", base_context(me, presence_errors=errors, **presence_context(session, me)), status_code=422 if errors else 200)


def side_panel_context(session: Any, request: Request, me: Me, conversation_id: int) -> dict[str, Any]:
    """The side-panel apps beside a conversation and the origins the page's CSP lets it frame."""
    from raccordo.desk.services import side_panel_apps

    page_origin = f"{request.url.scheme}://{request.url.netloc}"
    apps = side_panel_apps.conversation_apps(session, runtime(request).secretbox, me.actor, conversation_id, page_origin=page_origin)
    return {"side_panel_apps": apps, "frame_origins": sorted({a.origin for a in apps})}


def install(app: FastAPI) -> None:
    """Mount the pages, the admin pages and their static files on the app."""
    from raccordo.routing.pages import admin as admin_pages
    from raccordo.desk.pages import composer as composer_pages, content as content_pages

    app.include_router(router)
    app.include_router(admin_pages.router)
    app.include_router(content_pages.router)
    from raccordo.desk.pages import scripts as script_pages

    app.include_router(script_pages.router)
    app.include_router(composer_pages.router)
    from raccordo.accounts.pages import profile as profile_pages

    app.include_router(profile_pages.router)
    from raccordo.desk.pages import setup as setup_pages

    app.include_router(setup_pages.router)
    from raccordo.desk.pages import agenda as agenda_pages

    app.include_router(agenda_pages.router)
    app.mount("/desktop/static", StaticFiles(directory=STATIC), name="desktop-static")

