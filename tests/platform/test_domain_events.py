"""Domain events (``platform.domain_events``): in-transaction subscribers run in the service's
transaction, after-commit ones only once it committed; the record's services record the facts and
routing and SLA react through the subscriptions wired in ``bootstrap.subscriptions``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.bootstrap import subscriptions
from raccordo.channels.base import InboundEvent, InboundIdentity
from raccordo.channels.models import Inbox
from raccordo.platform import domain_events
from raccordo.platform.domain_events import AFTER_COMMIT, IN_TRANSACTION
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence
from raccordo.record.domain.events import ConversationStatusChanged, ConversationUpdated, MessageReceived, ReplySent
from raccordo.record.models import Conversation, Message
from raccordo.record.services.ingest import ingest_event
from raccordo.routing.domain.events import ConversationAssigned
from raccordo.routing.models import QueueItem, RoutingEvent
from raccordo.routing.services import routing, routing_pass
from raccordo.routing.services import subscribers as routing_subscribers
from tests.helpers import create_api_inbox, customer_message, post_inbound


@dataclass(frozen=True)
class Pinged:
    tenant_id: int
    n: int


@pytest.fixture
def subscribed():
    """Subscribe for one test; every subscription is removed afterwards."""
    undo: list[Any] = []

    def subscribe(event_type: type, handler: Any, phase: domain_events.Phase = IN_TRANSACTION) -> None:
        undo.append(domain_events.subscribe(event_type, handler, phase))

    yield subscribe
    for unsubscribe in undo:
        unsubscribe()


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _event(text: str = "Buongiorno") -> InboundEvent:
    return InboundEvent(
        f"ev-{uuid.uuid4().hex}", [InboundIdentity("email", f"ev-{uuid.uuid4().hex[:8]}@example.com", True)], text=text
    )


def test_in_transaction_now_after_commit_later_and_rollback_delivers_nothing(rt, subscribed):
    seen: list[tuple[str, Any]] = []
    subscribed(Pinged, lambda session, event: seen.append(("in", session, event.n)))
    subscribed(Pinged, lambda event: seen.append(("after", event.n)), AFTER_COMMIT)

    with unit_of_work(rt.sessions) as session:
        domain_events.record(session, Pinged(1, 1))
        assert seen == [("in", session, 1)], "in-transaction subscribers run at once, with the caller's session"
    assert seen[-1] == ("after", 1), "after-commit subscribers run once it committed"

    seen.clear()
    with pytest.raises(RuntimeError), unit_of_work(rt.sessions) as session:
        domain_events.record(session, Pinged(1, 2))
        raise RuntimeError("the use case failed")
    assert seen == [("in", session, 2)], "a rollback delivers nothing after commit"

    # A savepoint that rolls back drops only what was recorded inside it.
    seen.clear()
    with unit_of_work(rt.sessions) as session:
        domain_events.record(session, Pinged(1, 3))
        with pytest.raises(RuntimeError), session.begin_nested():
            domain_events.record(session, Pinged(1, 4))
            raise RuntimeError("an optional step failed")
    assert [entry for entry in seen if entry[0] == "after"] == [("after", 3)]


def test_subscribing_twice_is_one_subscription_and_after_commit_failures_do_not_stop_others(rt, subscribed, caplog):
    seen: list[int] = []

    def handler(event: Pinged) -> None:
        seen.append(event.n)

    def broken(event: Pinged) -> None:
        raise ValueError("subscriber bug")

    subscribed(Pinged, broken, AFTER_COMMIT)
    subscribed(Pinged, handler, AFTER_COMMIT)
    subscribed(Pinged, handler, AFTER_COMMIT)
    with unit_of_work(rt.sessions) as session:
        domain_events.record(session, Pinged(1, 7))
    assert seen == [7]
    assert "subscriber bug" in caplog.text
    subscriptions.register()  # the bootstrap wiring runs once per app, worker and fixture: still one routing handler
    assert domain_events.dispatcher.in_transaction[MessageReceived].count(routing_subscribers.route_message) == 1
    with pytest.raises(ValueError):
        domain_events.subscribe(Pinged, handler, "someday")  # type: ignore[arg-type]


def test_message_received_reaches_a_subscriber_in_the_ingest_transaction(client, rt, org, subscribed):
    inbox = create_api_inbox(client, org.headers())
    received: list[tuple[MessageReceived, bool]] = []

    def on_message(session, event: MessageReceived) -> None:
        # Same transaction: the message is there, not yet committed.
        received.append((event, session.get(Message, event.message_id) is not None and session.in_transaction()))

    committed: list[MessageReceived] = []
    subscribed(MessageReceived, on_message)
    subscribed(MessageReceived, committed.append, AFTER_COMMIT)
    with unit_of_work(rt.sessions) as session:
        row = session.get_one(Inbox, inbox.id)
        result = ingest_event(session, rt.files, row, _event(), max_attachment_bytes=1000)
        assert len(received) == 1 and received[0][1]
        assert committed == [], "not before the commit"
    event = received[0][0]
    assert (event.tenant_id, event.conversation_id, event.message_id, event.inbox_id) == (
        org.tenant_id,
        result.conversation.id,
        result.message.id,
        inbox.id,
    )
    assert event.conversation_created and not event.automated
    assert committed == [event]

    # A failed unit of work: the subscriber ran in it, nothing is delivered after commit and nothing is stored.
    received.clear()
    committed.clear()
    inbound = _event("annullato")
    with pytest.raises(RuntimeError), unit_of_work(rt.sessions) as session:
        ingest_event(session, rt.files, session.get_one(Inbox, inbox.id), inbound, max_attachment_bytes=1000)
        raise RuntimeError("the request failed after ingest")
    assert len(received) == 1 and committed == []
    with unit_of_work(rt.sessions) as session:
        assert (
            session.scalar(select(Message.id).where(Message.provider_message_id == inbound.provider_message_id)) is None
        )


def test_reply_status_and_assignment_events_and_routing_reacting_to_them(client, rt, org, subscribed):
    admin = org.headers("admin")
    queue = _ok(client.post("/api/v1/queues", json={"name": "Eventi"}, headers=admin), 201)
    _ok(client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin), 201)
    inbox = create_api_inbox(client, org.headers())
    recorded: list[Any] = []
    for event_type in (ReplySent, ConversationStatusChanged, ConversationUpdated):
        subscribed(event_type, recorded.append, AFTER_COMMIT)

    email = f"ev-{uuid.uuid4().hex[:6]}@example.com"
    _ok(post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", "Aiuto", email=email)))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(QueueItem).where(QueueItem.conversation_id == conversation["id"])).one()
        assert (item.status, item.queue_id) == (routing.WAITING, queue["id"]), (
            "routing queued the conversation on MessageReceived"
        )

    me = org.users["supervisor"]
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"assignee_id": me}, headers=org.headers("supervisor")
        )
    )
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": "Eccomi"},
            headers=org.headers("supervisor"),
        ),
        201,
    )
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": "Altro"},
            headers=org.headers("supervisor"),
        ),
        201,
    )
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}",
            json={"status": "resolved"},
            headers=org.headers("supervisor"),
        )
    )

    updated = [e for e in recorded if isinstance(e, ConversationUpdated)]
    assert next((e.previous_assignee_id, e.assignee_id, e.user_id) for e in updated) == (None, me, me)
    replies = [e for e in recorded if isinstance(e, ReplySent)]
    assert [e.first_response for e in replies] == [True, False], "only the first answer is the first response"
    status = [e for e in recorded if isinstance(e, ConversationStatusChanged)]
    assert [(e.previous, e.status, e.resolved) for e in status] == [("open", "resolved", True)]
    with unit_of_work(rt.sessions) as session:
        kinds = session.scalars(
            select(RoutingEvent.kind)
            .where(RoutingEvent.conversation_id == conversation["id"])
            .order_by(RoutingEvent.id)
        ).all()
        assert kinds == ["queued", "assigned", "first_response", "resolved"], "routing followed every event"


def test_requeue_takes_the_conversation_back_into_its_queue(client, rt, org, subscribed):
    admin = org.headers("admin")
    queue = _ok(client.post("/api/v1/queues", json={"name": "Rimessa"}, headers=admin), 201)
    _ok(client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin), 201)
    inbox = create_api_inbox(client, org.headers())
    _ok(
        post_inbound(
            client,
            inbox,
            customer_message(f"r-{uuid.uuid4().hex[:8]}", "Aiuto", email=f"rq-{uuid.uuid4().hex[:6]}@example.com"),
        )
    )
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    agent = org.users["agent"]
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}",
            json={"assignee_id": agent},
            headers=org.headers("supervisor"),
        )
    )
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        row = session.get_one(Conversation, conversation["id"])
        before = session.scalars(select(QueueItem).where(QueueItem.conversation_id == row.id)).one().priority
        assert routing.requeue(session, row, reason="sla_breached", now=now)
        assert not routing.requeue(session, row, reason="sla_breached", now=now), (
            "nobody to take it from the second time"
        )
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(QueueItem).where(QueueItem.conversation_id == conversation["id"])).one()
        assert (item.status, item.assigned_user_id, item.priority, set(item.declined)) == (
            routing.WAITING,
            None,
            before + 1,
            {str(agent)},
        )
        assert session.get_one(Conversation, conversation["id"]).assignee_id is None


def test_routing_records_conversation_assigned_when_it_assigns(client, rt, org, subscribed):
    admin = org.headers("admin")
    queue = _ok(client.post("/api/v1/queues", json={"name": "Offerte"}, headers=admin), 201)
    _ok(client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin), 201)
    _ok(
        client.put(
            f"/api/v1/users/{org.users['agent']}/routing",
            json={"capacity": {"api": 1}, "queue_ids": [queue["id"]]},
            headers=admin,
        )
    )
    with unit_of_work(rt.sessions) as session:  # online with a live connection, as an open desktop tab is
        presence.connect(
            session, Actor(org.tenant_id, org.users["agent"], Role.AGENT), f"test-{uuid.uuid4().hex}", "test-node"
        )
    assigned: list[ConversationAssigned] = []
    subscribed(ConversationAssigned, assigned.append, AFTER_COMMIT)
    inbox = create_api_inbox(client, org.headers())
    _ok(
        post_inbound(
            client,
            inbox,
            customer_message(f"a-{uuid.uuid4().hex[:8]}", "Aiuto", email=f"as-{uuid.uuid4().hex[:6]}@example.com"),
        )
    )
    routing_pass.dispatch(rt, org.tenant_id)
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    assert [(e.conversation_id, e.user_id, e.previous_user_id, e.queue_id) for e in assigned] == [
        (conversation["id"], org.users["agent"], None, queue["id"])
    ]
