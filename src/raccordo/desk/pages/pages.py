"""Server-rendered pages: login, logout, the agent desktop (inbox, conversation, customer panel,
presence). Entrypoint layer: parse the form, call the existing services, render a template.

Auth is the API's session cookie; every POST carries the login session's CSRF token (htmx sends
it as ``X-CSRF-Token``, plain forms as the ``csrf_token`` field). Pages answer HTML: a missing
session redirects to ``/login``, a role that may not gets a 403 page, another tenant's id a 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import accounts
from raccordo.channels.base import get_channel
from raccordo.channels.services import inboxes
from raccordo.desk.pages import composer_view
from raccordo.desk.services import desk_load, inbox, search, wrapup
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Contact, Conversation, Inbox, Team
from raccordo.platform.web.forms import FormDep, field_errors, form_id
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import register_templates, render
from raccordo.realtime.services import presence
from raccordo.record.services import contacts, conversations, reply
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import routing

LOGIN_CSRF_COOKIE = "raccordo_login_csrf"
_SAFE = {"GET", "HEAD", "OPTIONS"}
STATUSES = ("open", "pending", "snoozed", "resolved", "closed")
AWAY_REASONS = ("break", "lunch", "meeting", "training", "after_call_work")

DESK = Path(__file__).parent.parent
STATIC = DESK / "static"
register_templates(DESK / "templates")


router = APIRouter(route_class=PageRoute, include_in_schema=False)


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
