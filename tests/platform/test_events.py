"""Domain events: written in the causing transaction, in commit order, published only after commit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from raccordo.accounts.domain.roles import Role
from raccordo.platform.events import emit
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.realtime.domain.visibility import Subscriber, visible
from tests.helpers import create_api_inbox, customer_message, post_inbound


def test_inbound_and_reply_write_events_in_order(client, rt, org):
    published: list[dict] = []
    previous, rt.publisher = rt.publisher, published.extend
    try:
        inbox = create_api_inbox(client, org.headers())
        post_inbound(client, inbox, customer_message("ev-1", email="ev@example.com"))
        conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
        client.post(
            f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "Ok"}, headers=org.headers("agent")
        )
    finally:
        rt.publisher = previous
    with unit_of_work(rt.sessions) as session:
        rows = list(session.scalars(select(Event).where(Event.tenant_id == org.tenant_id).order_by(Event.id)))
    kinds = [r.kind for r in rows]
    assert kinds[:2] == ["conversation.created", "message.created"]
    assert "outbox.queued" in kinds and kinds.count("message.created") == 2
    assert [m["id"] for m in published if m["tenant_id"] == org.tenant_id] == [r.id for r in rows]
    assert all(r.conversation_id == conversation["id"] for r in rows if r.kind != "outbox.queued")


def test_rolled_back_work_publishes_nothing(rt, org):
    published: list[dict] = []
    previous, rt.publisher = rt.publisher, published.extend
    try:
        with pytest.raises(RuntimeError), unit_of_work(rt.sessions) as session:
            emit(session, org.tenant_id, "test.never", {})
            raise RuntimeError("boom")
    finally:
        rt.publisher = previous
    assert published == []
    with unit_of_work(rt.sessions) as session:
        assert session.scalars(select(Event).where(Event.kind == "test.never")).first() is None


def test_a_rolled_back_savepoint_drops_only_its_own_events(rt, org):
    """Routing, jobs and imports use savepoints; the work around a failed one still commits with its events."""
    published: list[dict] = []
    previous, rt.publisher = rt.publisher, published.extend
    try:
        with unit_of_work(rt.sessions) as session:
            emit(session, org.tenant_id, "test.before", {})
            savepoint = session.begin_nested()
            emit(session, org.tenant_id, "test.inside", {})
            savepoint.rollback()
            with session.begin_nested():
                emit(session, org.tenant_id, "test.kept_savepoint", {})
            emit(session, org.tenant_id, "test.after", {})
    finally:
        rt.publisher = previous
    assert [e["kind"] for e in published if e["kind"].startswith("test.")] == [
        "test.before",
        "test.kept_savepoint",
        "test.after",
    ]
    with unit_of_work(rt.sessions) as session:
        kinds = list(
            session.scalars(
                select(Event.kind).where(Event.tenant_id == org.tenant_id, Event.kind.like("test.%")).order_by(Event.id)
            )
        )
    assert kinds == ["test.before", "test.kept_savepoint", "test.after"]


def test_visibility_rule():
    agent = Subscriber(tenant_id=1, user_id=10, role=Role.AGENT, team_ids=frozenset({5}), conversation_ids={99})
    supervisor = Subscriber(tenant_id=1, user_id=20, role=Role.SUPERVISOR)
    mine = {
        "tenant_id": 1,
        "kind": "message.created",
        "user_id": 10,
        "team_id": None,
        "conversation_id": 1,
        "payload": {},
    }
    others = {
        "tenant_id": 1,
        "kind": "message.created",
        "user_id": 11,
        "team_id": 6,
        "conversation_id": 2,
        "payload": {},
    }
    unassigned = {
        "tenant_id": 1,
        "kind": "conversation.created",
        "user_id": None,
        "team_id": None,
        "conversation_id": 3,
        "payload": {},
    }
    taken_from_me = {**others, "kind": "conversation.updated", "payload": {"previous_user_id": 10}}
    viewed = {**others, "conversation_id": 99}
    other_tenant = {**mine, "tenant_id": 2}
    assert (
        visible(mine, agent) and visible(unassigned, agent) and visible(taken_from_me, agent) and visible(viewed, agent)
    )
    assert not visible(others, agent) and not visible(other_tenant, agent) and not visible(other_tenant, supervisor)
    assert visible(others, supervisor)
    assert visible({**others, "team_id": 5}, agent)
