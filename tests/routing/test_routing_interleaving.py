"""The interleaving behind "item waiting but offered to None, assigned to None, conversation assignee 9".

A customer writes again while their conversation is offered. Ingest reads the conversation
(unassigned), the agent accepts the offer and commits, then ingest stores the message and asks
routing to queue the conversation: routing decided on ingest's stale copy ("open and
unassigned"), found the item no longer active (assigned) and queued it again as waiting, while
the conversation kept its assignee. test_routing_stress.py met it by chance under load; here the
same order is forced: ingest's session holds the conversation as it read it before the accept
(the identity map keeps that copy, as READ COMMITTED does between ingest's statements).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from raccordo.channels.base import InboundEvent, InboundIdentity
from raccordo.channels.models import Inbox
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation
from raccordo.record.services.ingest import ingest_event
from raccordo.routing.models import QueueItem
from raccordo.routing.services import routing_pass
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.routing import agent_online as _online
from tests.support.routing import ok as _ok


def _offered_conversation(client, rt, org):
    admin = org.headers("admin")
    offering = {"name": "Offerte", "offer_timeout_seconds": 60}
    queue = _ok(client.post("/api/v1/queues", json=offering, headers=admin), 201)
    rule = {"name": "Tutto", "position": 1, "conditions": [], "queue_id": queue["id"]}
    _ok(client.post("/api/v1/routing-rules", json=rule, headers=admin), 201)
    profile = {"skills": {}, "capacity": {"api": 3}, "queue_ids": [queue["id"]]}
    _ok(client.put(f"/api/v1/users/{org.users['agent']}/routing", json=profile, headers=admin))
    _online(client, org, "agent")
    inbox = create_api_inbox(client, org.headers())
    email = f"again-{uuid.uuid4().hex[:8]}@example.com"
    _ok(post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex}", "Buongiorno", email=email)))
    routing_pass.dispatch(rt, org.tenant_id)
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(QueueItem).where(QueueItem.tenant_id == org.tenant_id)).one()
        assert item.status == "offered" and item.offered_user_id == org.users["agent"]
        return item.conversation_id, inbox.id, email


def _accept(client, org, conversation_id):
    return _ok(client.post(f"/api/v1/conversations/{conversation_id}/offer/accept", headers=org.headers("agent")))


def _state(rt, conversation_id):
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(QueueItem).where(QueueItem.conversation_id == conversation_id)).one()
        conversation = session.get_one(Conversation, conversation_id)
        return item.status, item.offered_user_id, item.assigned_user_id, conversation.assignee_id, conversation.status


def test_a_message_arriving_while_the_agent_accepts_keeps_the_item_assigned(client, rt, org):
    conversation_id, inbox_id, email = _offered_conversation(client, rt, org)
    agent = org.users["agent"]

    ingest = rt.sessions()
    try:
        stale = ingest.get_one(Conversation, conversation_id)  # ingest has read it: open, unassigned
        ingest.commit()  # (its copy stays as read; no lock is held, as under READ COMMITTED)

        accepted = _accept(client, org, conversation_id)
        assert accepted["assignee_id"] == agent

        event = InboundEvent(f"m-{uuid.uuid4().hex}", [InboundIdentity("email", email)], text="Ci siete?")
        result = ingest_event(ingest, rt.files, ingest.get_one(Inbox, inbox_id), event, max_attachment_bytes=1_000_000)
        assert result.conversation is stale and not result.duplicate, "ingest went on with the copy it had read"
        ingest.commit()
    finally:
        ingest.close()

    assert _state(rt, conversation_id) == ("assigned", None, agent, agent, "open")
    routing_pass.dispatch(rt, org.tenant_id)
    assert _state(rt, conversation_id) == ("assigned", None, agent, agent, "open"), "nothing for a pass to offer again"


def test_a_message_arriving_while_the_agent_resolves_does_not_queue_a_resolved_conversation(client, rt, org):
    conversation_id, inbox_id, email = _offered_conversation(client, rt, org)
    agent = org.users["agent"]

    ingest = rt.sessions()
    try:
        stale = ingest.get_one(Conversation, conversation_id)
        ingest.commit()
        _accept(client, org, conversation_id)
        resolved = {"status": "resolved"}
        _ok(client.patch(f"/api/v1/conversations/{conversation_id}", json=resolved, headers=org.headers("agent")))
        event = InboundEvent(f"m-{uuid.uuid4().hex}", [InboundIdentity("email", email)], text="Ancora io")
        result = ingest_event(ingest, rt.files, ingest.get_one(Inbox, inbox_id), event, max_attachment_bytes=1_000_000)
        assert result.conversation is stale
        ingest.commit()
    finally:
        ingest.close()

    assert _state(rt, conversation_id) == ("done", None, agent, agent, "resolved"), "never waiting when resolved"
