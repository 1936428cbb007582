"""Concurrent deliveries of inbound messages: one contact, one conversation, every message once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from raccordo.channels import signing
from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.services.inbound import receive
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, Conversation, Message
from tests.helpers import create_api_inbox, customer_message


def test_concurrent_first_messages_of_one_customer(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    # The customer is known but has no conversation yet: the racy case for "find or open".
    client.post(
        "/api/v1/contacts",
        json={"identities": [{"kind": "email", "value": "race@example.com"}]},
        headers=org.headers("agent"),
    )

    def deliver(index: int):
        # Every message is delivered twice, like a provider retrying.
        body = json.dumps(
            customer_message(f"race-{index // 2}", f"msg {index // 2}", email="race@example.com")
        ).encode()
        headers = {k.lower(): v for k, v in signing.sign(inbox.secret, body).items()}
        return receive(rt, inbox.identifier, InboundRequest.of("POST", "http://testserver/hook", headers, body), "api")

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(deliver, range(24)))
    assert all(len(o.message_ids) == 1 for o in outcomes)
    with unit_of_work(rt.sessions) as session:
        contacts = session.scalar(select(func.count()).select_from(Contact).where(Contact.tenant_id == org.tenant_id))
        conversations = session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.tenant_id == org.tenant_id)
        )
        messages = session.scalar(select(func.count()).select_from(Message).where(Message.tenant_id == org.tenant_id))
    assert (contacts, conversations, messages) == (1, 1, 12)


def test_concurrent_first_connections_of_one_agent(rt, org):
    """Several tabs (or processes) opening at once for an agent with no presence row yet:
    every connection is recorded, one presence row, online once."""
    from raccordo.accounts.domain.actor import Actor
    from raccordo.accounts.domain.roles import Role
    from raccordo.platform.store.models import Event
    from raccordo.realtime.models import AgentConnection, AgentPresence
    from raccordo.realtime.services import presence

    actor = Actor(org.tenant_id, org.users["agent"], Role.AGENT)

    def connect(index: int) -> None:
        with unit_of_work(rt.sessions) as session:
            presence.connect(session, actor, f"tab-{org.tenant_id}-{index}", "node-test")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(connect, range(12)))
    with unit_of_work(rt.sessions) as session:
        rows = list(session.scalars(select(AgentPresence).where(AgentPresence.user_id == actor.user_id)))
        connections = session.scalar(
            select(func.count()).select_from(AgentConnection).where(AgentConnection.user_id == actor.user_id)
        )
        online = session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.tenant_id == org.tenant_id, Event.kind == "presence.changed")
        )
    assert [row.status for row in rows] == ["online"]
    assert connections == 12 and online == 1
