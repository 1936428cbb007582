"""The agent desktop's read models: the inbox list, one conversation (head, thread, composer,
customer panel, side-panel apps) and the whole conversation page. Each ``*_view`` opens its own
unit of work and returns everything its template shows, read there: the rows it returns were
loaded in full (nothing loads after the session closes) and each list is read once per request
however many parts of the page show it (users, inboxes, queues)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.accounts.models import Team
from raccordo.accounts.services import accounts
from raccordo.channels.domain.composer import window_closes_at, window_open
from raccordo.channels.domain.reach import first_reachable
from raccordo.channels.models import Inbox
from raccordo.channels.services import inboxes
from raccordo.channels.services import reach as reach_service
from raccordo.desk.services import composer, customer_panel, delivery_alerts, inbox, search, side_panel_apps, wrapup
from raccordo.platform.errors import NotFound
from raccordo.platform.secretbox import SecretBox
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.models import Contact, Conversation, Message
from raccordo.record.services import contacts, conversations
from raccordo.record.services.contacts import CONSENT_PURPOSES
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import get_owned, queues_went_through
from raccordo.routing.services import admin as routing_admin

Sessions = sessionmaker[Session]
Data = dict[str, Any]
STATUSES = tuple(ConversationStatus)
THREAD_LIMIT = 500


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
        values = {
            "view": self.view,
            "status": self.status,
            "channel": self.channel,
            "priority": self.priority,
            "label": self.label,
            "queue": self.queue,
            "q": self.q,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


class _Lists:
    """The tenant's users, inboxes and active queues, read at most once per request."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor
        self._users: list[Any] | None = None
        self._inboxes: list[Inbox] | None = None
        self._queues: list[Any] | None = None
        self._went_through: dict[int, set[int]] = {}

    @property
    def users(self) -> list[Any]:
        if self._users is None:
            self._users = accounts.list_users(self.session, self.actor)
        return self._users

    @property
    def inboxes(self) -> list[Inbox]:
        if self._inboxes is None:
            self._inboxes = inboxes.list_inboxes(self.session, self.actor)
        return self._inboxes

    def went_through(self, conversation_id: int) -> set[int]:
        """The queues the conversation was routed through (the wrap-up rule and the side-panel apps ask)."""
        if conversation_id not in self._went_through:
            self._went_through[conversation_id] = queues_went_through(self.session, conversation_id)
        return self._went_through[conversation_id]

    @property
    def queues(self) -> list[Any]:
        if self._queues is None:
            self._queues = [q for q in routing_admin.list_queues(self.session, self.actor) if q.active]
        return self._queues

    def frame(self) -> Data:
        """What the inbox frame around every desk page shows: the channels and queues to filter by."""
        return {"channels": sorted({i.channel for i in self.inboxes}), "queues": self.queues}


# --- the inbox list --------------------------------------------------------------------------------


def _inbox_list(
    session: Session, actor: Actor, lists: _Lists, filters: InboxFilters, cursor: str | None, selected_id: int | None
) -> Data:
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
    names = (
        dict(
            session.execute(
                select(Contact.id, Contact.name).where(
                    Contact.tenant_id == actor.tenant_id, Contact.id.in_(contact_ids)
                )
            ).all()
        )
        if contact_ids
        else {}
    )
    users = {u.id: u.name for u in lists.users}
    return {
        "items": rows,
        "names": names,
        "users": users,
        "next_cursor": next_cursor,
        "filters": filters,
        "selected_id": selected_id,
        "cursor": cursor,
        "contact_hits": contact_hits,
    }


def inbox_page_view(sessions: Sessions, actor: Actor, filters: InboxFilters) -> Data:
    with unit_of_work(sessions) as session:
        lists = _Lists(session, actor)
        return _inbox_list(session, actor, lists, filters, None, None) | lists.frame()


def inbox_list_view(
    sessions: Sessions, actor: Actor, filters: InboxFilters, cursor: str | None, selected_id: int | None
) -> Data:
    with unit_of_work(sessions) as session:
        return _inbox_list(session, actor, _Lists(session, actor), filters, cursor, selected_id)


# --- one conversation ------------------------------------------------------------------------------


def _conversation(session: Session, actor: Actor, lists: _Lists, conversation_id: int) -> Data:
    """The head and the composer: the conversation, its contact, who and where it can go to."""
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    users = {u.id: u.name for u in lists.users}
    agents = [u for u in lists.users if u.active and u.id != actor.user_id]
    teams = list(session.scalars(select(Team).where(Team.tenant_id == actor.tenant_id).order_by(Team.name)))
    every_code = wrapup.list_codes(session, actor)
    identities = list(contact.identities)
    return {
        "conversation": conversation,
        "contact": contact,
        "identities": identities,
        "users": users,
        "transfer_targets": {"user": agents, "team": teams, "queue": lists.queues},
        "users_json": json.dumps({str(k): v for k, v in users.items()}, ensure_ascii=False),
        "wrap_up_codes": [c for c in every_code if c.active],
        "wrap_up_labels": {c.code: c.label for c in every_code},
        "wrap_up_required": wrapup.requiring_queue(session, conversation, lists.went_through(conversation.id))
        is not None,
        "inbox_names": {i.id: i.name for i in lists.inboxes},
        "statuses": STATUSES,
    }


def _messages(session: Session, actor: Actor, conversation: Conversation) -> list[Message]:
    """The thread (as ``conversations.list_messages``, on the conversation already read)."""
    if not inbox.can_see(session, actor, conversation):
        raise NotFound("conversation.not_found")
    query = select(Message).where(Message.tenant_id == actor.tenant_id, Message.conversation_id == conversation.id)
    return list(session.scalars(query.order_by(Message.id).limit(THREAD_LIMIT)))


def _composer(session: Session, actor: Actor, lists: _Lists, context: Data, max_attachment_bytes: int) -> Data:
    """The composer's *Answer on*: every inbox, the ones that reach the customer first and the others with
    why not (``channels/domain/reach.py``), the default (the first that reaches them), and ``inbox_rules``:
    {inbox id: JSON of its rules and message window} for each inbox that can send, reachable or not."""
    actor.require(Permission.READ)
    identities = [(identity.kind, identity.value) for identity in context["identities"]]
    thread = context.get("messages")
    # The whole thread already read (the page) tells the customer's last message per inbox: no query.
    last = reach_service.last_inbound_by_inbox(thread) if thread is not None and len(thread) < THREAD_LIMIT else None
    reach = reach_service.ranked_routes(
        session, context["conversation"], lists.inboxes, identities=identities, last_inbound=last
    )
    by_id = {i.id: i for i in lists.inboxes}
    now = datetime.now(UTC)
    rules = {}
    for option in reach:
        route = option.route
        if route.active and route.delivers:
            row = composer.InboxRules(
                by_id[option.inbox_id],
                route.rules.limited(max_attachment_bytes),
                window_open(route.rules, route.last_inbound_at, now),
                window_closes_at(route.rules, route.last_inbound_at),
            )
            rules[option.inbox_id] = json.dumps(row.as_data(), separators=(",", ":"))
    default = first_reachable(reach, templates=True)
    return {
        "reach": reach,
        "reply_inboxes": [by_id[option.inbox_id] for option in reach if option.available],
        "default_reply_inbox_id": default.inbox_id if default is not None else None,
        "inbox_rules": rules,
    }


def _customer(session: Session, actor: Actor, contact: Contact) -> Data:
    """The customer panel: earlier conversations, the timeline, consent and merge suggestions."""
    consent = contact.consent or {}
    return {
        "previous": contacts.contact_conversations(session, actor, contact.id),
        "timeline": contacts.contact_timeline(session, actor, contact.id, 30),
        "consent_rows": [customer_panel.consent_row(purpose, consent.get(purpose)) for purpose in CONSENT_PURPOSES],
        "consent_sources": customer_panel.CONSENT_SOURCES,
        "merge_candidates": customer_panel.merge_candidates(session, actor, contact.id),
        "can_merge": can(actor.role, Permission.MERGE_CONTACTS),
    }


def _side_panel(
    session: Session, box: SecretBox, actor: Actor, lists: _Lists, conversation_id: int, page_origin: str
) -> Data:
    """The side-panel apps beside a conversation and the origins the page's CSP lets it frame."""
    apps = side_panel_apps.conversation_apps(
        session, box, actor, conversation_id, page_origin=page_origin, went_through=lists.went_through(conversation_id)
    )
    return {"side_panel_apps": apps, "frame_origins": sorted({a.origin for a in apps})}


def conversation_page_view(
    sessions: Sessions,
    box: SecretBox,
    actor: Actor,
    conversation_id: int,
    filters: InboxFilters,
    *,
    page_origin: str,
    max_attachment_bytes: int,
) -> Data:
    """The whole page: the inbox list beside the conversation, its thread, composer and panels."""
    with unit_of_work(sessions) as session:
        lists = _Lists(session, actor)
        context = _conversation(session, actor, lists, conversation_id)
        context["messages"] = _messages(session, actor, context["conversation"])
        context |= _customer(session, actor, context["contact"])
        context |= _inbox_list(session, actor, lists, filters, None, conversation_id)
        context |= _side_panel(session, box, actor, lists, conversation_id, page_origin)
        context |= _composer(session, actor, lists, context, max_attachment_bytes)
        context["delivery_alerts"] = delivery_alerts.alerts(
            session, context["conversation"], context["reach"], context["messages"]
        )
        return context | lists.frame()


def head_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    with unit_of_work(sessions) as session:
        return _conversation(session, actor, _Lists(session, actor), conversation_id)


def thread_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    with unit_of_work(sessions) as session:
        context = _conversation(session, actor, _Lists(session, actor), conversation_id)
        context["messages"] = conversations.list_messages(session, actor, conversation_id, THREAD_LIMIT)
        return context


def composer_view(sessions: Sessions, actor: Actor, conversation_id: int, max_attachment_bytes: int) -> Data:
    with unit_of_work(sessions) as session:
        lists = _Lists(session, actor)
        context = _conversation(session, actor, lists, conversation_id)
        return context | _composer(session, actor, lists, context, max_attachment_bytes)


def customer_view(sessions: Sessions, actor: Actor, conversation_id: int) -> Data:
    with unit_of_work(sessions) as session:
        context = _conversation(session, actor, _Lists(session, actor), conversation_id)
        return context | _customer(session, actor, context["contact"])


def can_see(sessions: Sessions, actor: Actor, conversation_id: int) -> bool:
    """Whether the actor still sees the conversation (after handing it to someone else)."""
    with unit_of_work(sessions) as session:
        return inbox.can_see(session, actor, get_owned(session, Conversation, actor.tenant_id, conversation_id))
