"""Routing end to end over the REST API, on SQLite and PostgreSQL: rules put conversations into
queues, passes offer or assign them by skills and capacity, agents accept and decline, offers
expire, capacity frees on resolve, transfers, overflow, preferred agents, and the events
analytics needs. Passes are run explicitly (the app under test has no worker thread)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from raccordo.platform.store.db import unit_of_work
from raccordo.routing.models import QueueItem, RoutingEvent
from raccordo.routing.services import routing_pass
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.routing import agent_online as _online
from tests.support.routing import ok as _ok


def _setup(client, org, *, offer_timeout=30, capacity=1, relax=None, preferred=0):
    admin = org.headers("admin")
    for name in ("italiano", "fatturazione"):
        _ok(client.post("/api/v1/skills", json={"name": name}, headers=admin), 201)
    support = _ok(
        client.post(
            "/api/v1/queues",
            json={
                "name": "Supporto",
                "offer_timeout_seconds": offer_timeout,
                "relax": relax or [],
                "preferred_agent_seconds": preferred,
            },
            headers=admin,
        ),
        201,
    )
    vip = _ok(client.post("/api/v1/queues", json={"name": "VIP", "strategy": "best_skill"}, headers=admin), 201)
    _ok(
        client.post(
            "/api/v1/routing-rules",
            json={
                "name": "VIP",
                "position": 1,
                "conditions": [{"field": "contact.vip", "op": "eq", "value": True}],
                "queue_id": vip["id"],
                "priority": 10,
            },
            headers=admin,
        ),
        201,
    )
    _ok(
        client.post(
            "/api/v1/routing-rules",
            json={
                "name": "Tutto",
                "position": 2,
                "conditions": [{"field": "channel", "op": "eq", "value": "api"}],
                "queue_id": support["id"],
                "required_skills": {"italiano": 2},
            },
            headers=admin,
        ),
        201,
    )
    _ok(
        client.put(
            f"/api/v1/users/{org.users['agent']}/routing",
            json={"skills": {"italiano": 3}, "capacity": {"api": capacity}, "queue_ids": [support["id"]]},
            headers=admin,
        )
    )
    _ok(
        client.put(
            f"/api/v1/users/{org.users['supervisor']}/routing",
            json={
                "skills": {"italiano": 1, "fatturazione": 5},
                "capacity": {"api": 5},
                "queue_ids": [support["id"], vip["id"]],
            },
            headers=admin,
        )
    )
    for role in ("agent", "supervisor"):
        _online(client, org, role)
    return support, vip


def _conversation_of(client, org, email):
    contacts = client.get("/api/v1/contacts", params={"q": email}, headers=org.headers()).json()
    conversations = client.get(f"/api/v1/contacts/{contacts[0]['id']}/conversations", headers=org.headers()).json()
    return conversations[0]


def _post(client, inbox, org, name):
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    _ok(post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", "Buongiorno", email=email)))
    return _conversation_of(client, org, email)


def _events(rt, conversation_id):
    with unit_of_work(rt.sessions) as session:
        return [
            (e.kind, e.user_id)
            for e in session.scalars(
                select(RoutingEvent).where(RoutingEvent.conversation_id == conversation_id).order_by(RoutingEvent.id)
            )
        ]


def _item(rt, conversation_id):
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(QueueItem).where(QueueItem.conversation_id == conversation_id)).one()
        session.expunge(item)
        return item


def test_offer_accept_capacity_decline_timeout_and_resolve(client, rt, org):
    support, _ = _setup(client, org)
    inbox = create_api_inbox(client, org.headers())
    agent, supervisor = org.users["agent"], org.users["supervisor"]

    first = _post(client, inbox, org, "primo")
    assert _events(rt, first["id"]) == [("queued", None)]
    routing_pass.dispatch(rt, org.tenant_id)
    assert _events(rt, first["id"])[-1] == ("offered", agent), "only the agent has italiano >= 2"
    offers = _ok(client.get("/api/v1/routing/offers", headers=org.headers("agent")))
    assert [o["conversation_id"] for o in offers] == [first["id"]] and offers[0]["queue_id"] == support["id"]
    # The supervisor cannot accept someone else's offer.
    assert (
        client.post(f"/api/v1/conversations/{first['id']}/offer/accept", headers=org.headers("supervisor")).status_code
        == 409
    )

    second = _post(client, inbox, org, "secondo")
    routing_pass.dispatch(rt, org.tenant_id)
    assert _item(rt, second["id"]).status == "waiting", "the agent's one api slot is taken by the pending offer"

    accepted = _ok(client.post(f"/api/v1/conversations/{first['id']}/offer/accept", headers=org.headers("agent")))
    assert accepted["assignee_id"] == agent
    assert (
        client.post(f"/api/v1/conversations/{first['id']}/offer/accept", headers=org.headers("agent")).status_code
        == 409
    ), "accepted once"

    # Resolving frees the slot: the next pass offers the second conversation.
    _ok(client.patch(f"/api/v1/conversations/{first['id']}", json={"status": "resolved"}, headers=org.headers("agent")))
    routing_pass.dispatch(rt, org.tenant_id)
    assert _item(rt, second["id"]).offered_user_id == agent

    # Decline: the agent is cooled down, nobody else qualifies, the item waits.
    _ok(
        client.post(
            f"/api/v1/conversations/{second['id']}/offer/decline",
            json={"reason": "in pausa"},
            headers=org.headers("agent"),
        ),
        204,
    )
    routing_pass.dispatch(rt, org.tenant_id)
    assert _item(rt, second["id"]).status == "waiting"
    # After the cool-down (300 s) the agent gets it again; unanswered, the offer expires after 30 s.
    later = datetime.now(UTC) + timedelta(seconds=301)
    routing_pass.dispatch(rt, org.tenant_id, now=later)
    assert _item(rt, second["id"]).offered_user_id == agent
    result = routing_pass.dispatch(rt, org.tenant_id, now=later + timedelta(seconds=31))
    assert result.expired == 1 and _item(rt, second["id"]).status == "waiting"
    assert [kind for kind, _ in _events(rt, second["id"])] == [
        "queued",
        "offered",
        "declined",
        "offered",
        "offer_expired",
    ]
    assert [kind for kind, _ in _events(rt, first["id"])] == ["queued", "offered", "accepted", "resolved"]
    assert supervisor not in {user for _, user in _events(rt, second["id"])}


def test_rules_direct_assignment_transfer_abandon_and_live_view(client, rt, org):
    support, vip = _setup(client, org)
    inbox = create_api_inbox(client, org.headers())
    email = f"vip-{uuid.uuid4().hex[:6]}@example.com"
    contact = _ok(
        client.post(
            "/api/v1/contacts",
            json={"identities": [{"kind": "email", "value": email}], "custom_attributes": {"vip": True}},
            headers=org.headers(),
        ),
        201,
    )
    _ok(post_inbound(client, inbox, customer_message(f"vip-{uuid.uuid4().hex[:6]}", "Sono VIP", email=email)))
    vip_conversation = _conversation_of(client, org, email)
    assert _item(rt, vip_conversation["id"]).queue_id == vip["id"] and _item(rt, vip_conversation["id"]).priority == 10
    routing_pass.dispatch(rt, org.tenant_id)
    routed = client.get(f"/api/v1/conversations/{vip_conversation['id']}", headers=org.headers()).json()
    assert routed["assignee_id"] == org.users["supervisor"], "VIP assigns directly to its only member"
    timeline = client.get(f"/api/v1/contacts/{contact['id']}/timeline", headers=org.headers()).json()
    assert {"queued", "assigned"} <= {entry["kind"] for entry in timeline}

    # Transfer to the support queue with a note: unassigned, waiting there, the note kept.
    transferred = _ok(
        client.post(
            f"/api/v1/conversations/{vip_conversation['id']}/transfer",
            json={"queue_id": support["id"], "note": "Serve l'italiano"},
            headers=org.headers("supervisor"),
        )
    )
    assert transferred["assignee_id"] is None
    assert _item(rt, vip_conversation["id"]).queue_id == support["id"]
    notes = [
        m
        for m in client.get(f"/api/v1/conversations/{vip_conversation['id']}/messages", headers=org.headers()).json()
        if m["direction"] == "note"
    ]
    assert notes and notes[-1]["text"] == "Serve l'italiano"
    # An agent may not transfer a colleague's conversation.
    other = _post(client, inbox, org, "altro")
    _ok(
        client.post(
            f"/api/v1/conversations/{other['id']}/transfer",
            json={"user_id": org.users["supervisor"]},
            headers=org.headers("supervisor"),
        )
    )
    forbidden = client.post(
        f"/api/v1/conversations/{other['id']}/transfer", json={"queue_id": support["id"]}, headers=org.headers("agent")
    )
    assert forbidden.status_code == 403
    two_targets = client.post(
        f"/api/v1/conversations/{other['id']}/transfer",
        json={"queue_id": support["id"], "user_id": 1},
        headers=org.headers("supervisor"),
    )
    assert two_targets.status_code == 422

    # The live view counts waiting conversations and agents by state; agents may not see it.
    live = _ok(client.get("/api/v1/routing/live", headers=org.headers("supervisor")))
    by_name = {q["name"]: q for q in live["queues"]}
    assert (
        by_name["Supporto"]["waiting"] + by_name["Supporto"]["offered"] >= 1
        and by_name["Supporto"]["agents"]["online"] == 2
    )
    assert client.get("/api/v1/routing/live", headers=org.headers("agent")).status_code == 403

    # Resolved while still waiting and never answered: abandoned.
    waiting = _post(client, inbox, org, "abbandono")
    _ok(
        client.patch(
            f"/api/v1/conversations/{waiting['id']}", json={"status": "resolved"}, headers=org.headers("supervisor")
        )
    )
    assert _events(rt, waiting["id"])[-1][0] == "abandoned"
    assert _item(rt, waiting["id"]).status == "done"


def test_first_response_overflow_and_relaxation(client, rt, org):
    admin = org.headers("admin")
    support, vip = _setup(client, org, relax=[{"after_seconds": 60, "drop_levels": None}])
    _ok(
        client.patch(
            f"/api/v1/queues/{support['id']}",
            json={"overflow_after_seconds": 600, "overflow_queue_id": vip["id"]},
            headers=admin,
        )
    )
    _ok(
        client.put(f"/api/v1/users/{org.users['agent']}/routing", json={"capacity": {"api": 0}}, headers=admin)
    )  # the only italiano >= 2 is full
    inbox = create_api_inbox(client, org.headers())
    conversation = _post(client, inbox, org, "attesa")
    now = datetime.now(UTC)
    result = routing_pass.dispatch(rt, org.tenant_id, now=now)
    assert (
        result.waiting == 1 and result.next_run_at is not None and result.next_run_at <= now + timedelta(seconds=61)
    ), "wakes up for the relaxation"
    routing_pass.dispatch(rt, org.tenant_id, now=now + timedelta(seconds=61))
    assert _item(rt, conversation["id"]).offered_user_id == org.users["supervisor"], "after 60 s anyone in the queue"
    _ok(client.post(f"/api/v1/conversations/{conversation['id']}/offer/accept", headers=org.headers("supervisor")))
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": "Eccomi"},
            headers=org.headers("supervisor"),
        ),
        201,
    )
    assert ("first_response", org.users["supervisor"]) in _events(rt, conversation["id"])

    # Overflow: nobody in Supporto can take it (supervisor busy is not the case here: make both full).
    _ok(client.put(f"/api/v1/users/{org.users['supervisor']}/routing", json={"capacity": {"api": 1}}, headers=admin))
    late = _post(client, inbox, org, "trabocco")
    routing_pass.dispatch(rt, org.tenant_id, now=now + timedelta(seconds=62))
    assert _item(rt, late["id"]).queue_id == support["id"]
    routing_pass.dispatch(rt, org.tenant_id, now=datetime.now(UTC) + timedelta(seconds=601))
    assert _item(rt, late["id"]).queue_id == vip["id"] and "overflowed" in [k for k, _ in _events(rt, late["id"])]


def test_preferred_agent_gets_the_returning_customer(client, rt, org):
    _support, _ = _setup(client, org, offer_timeout=None, capacity=5, preferred=120)
    admin = org.headers("admin")
    _ok(client.put(f"/api/v1/users/{org.users['supervisor']}/routing", json={"skills": {"italiano": 5}}, headers=admin))
    inbox = create_api_inbox(client, org.headers())
    email = f"ritorno-{uuid.uuid4().hex[:6]}@example.com"
    _ok(post_inbound(client, inbox, customer_message(f"r1-{uuid.uuid4().hex[:6]}", "Prima volta", email=email)))
    first = _conversation_of(client, org, email)
    _ok(
        client.post(
            f"/api/v1/conversations/{first['id']}/transfer",
            json={"user_id": org.users["agent"]},
            headers=org.headers("supervisor"),
        )
    )
    _ok(client.patch(f"/api/v1/conversations/{first['id']}", json={"status": "resolved"}, headers=org.headers("agent")))
    _ok(client.patch("/api/v1/tenant", json={"reopen_window_hours": 0}, headers=org.headers("owner")))
    _ok(post_inbound(client, inbox, customer_message(f"r2-{uuid.uuid4().hex[:6]}", "Sono tornato", email=email)))
    conversations = client.get("/api/v1/conversations", params={"status": "open"}, headers=org.headers()).json()[
        "items"
    ]
    returning = next(c for c in conversations if c["contact_id"] == first["contact_id"] and c["id"] != first["id"])
    assert _item(rt, returning["id"]).preferred_user_id == org.users["agent"]
    routing_pass.dispatch(rt, org.tenant_id)
    assert (
        client.get(f"/api/v1/conversations/{returning['id']}", headers=org.headers()).json()["assignee_id"]
        == org.users["agent"]
    ), "the supervisor has been idle longer, but the customer goes back to their agent"


def test_configuration_is_validated_and_guarded(client, rt, org, other_org):
    admin = org.headers("admin")
    assert client.post("/api/v1/queues", json={"name": "X"}, headers=org.headers("agent")).status_code == 403
    assert client.post("/api/v1/skills", json={"name": "x"}, headers=org.headers("supervisor")).status_code == 403
    queue = _ok(client.post("/api/v1/queues", json={"name": "Coda"}, headers=admin), 201)
    assert client.post("/api/v1/queues", json={"name": "Coda"}, headers=admin).status_code == 409
    bad_skill = client.post(
        "/api/v1/routing-rules",
        json={"name": "r", "queue_id": queue["id"], "required_skills": {"klingon": 3}},
        headers=admin,
    )
    assert bad_skill.status_code == 422 and "klingon" in bad_skill.text
    bad_field = client.post(
        "/api/v1/routing-rules",
        json={"name": "r", "queue_id": queue["id"], "conditions": [{"field": "mood", "op": "eq", "value": 1}]},
        headers=admin,
    )
    assert bad_field.status_code == 422 and "conditions.0.field" in bad_field.text
    bad_level = client.put(
        f"/api/v1/users/{org.users['agent']}/routing", json={"skills": {}, "capacity": {"fax": 2}}, headers=admin
    )
    assert bad_level.status_code == 422 and "capacity.fax" in bad_level.text
    bad_hours = client.patch(
        f"/api/v1/queues/{queue['id']}", json={"business_hours": {"timezone": "Mars/Olympus"}}, headers=admin
    )
    assert bad_hours.status_code == 422
    assert (
        client.patch(
            f"/api/v1/queues/{queue['id']}", json={"overflow_queue_id": queue["id"]}, headers=admin
        ).status_code
        == 422
    )
    # Another tenant's ids are unknown here.
    foreign = _ok(client.post("/api/v1/queues", json={"name": "Altrui"}, headers=other_org.headers("admin")), 201)
    assert client.get(f"/api/v1/queues/{foreign['id']}", headers=admin).status_code == 404
    assert (
        client.put(f"/api/v1/queues/{foreign['id']}/members", json={"user_ids": []}, headers=admin).status_code == 404
    )
    assert (
        client.put(
            f"/api/v1/users/{other_org.users['agent']}/routing", json={"queue_ids": []}, headers=admin
        ).status_code
        == 404
    )
    assert (
        client.post("/api/v1/routing-rules", json={"name": "r", "queue_id": foreign["id"]}, headers=admin).status_code
        == 404
    )


def test_closed_queue_keeps_the_conversation_and_tells_the_customer(client, rt, org, callback):
    admin = org.headers("admin")
    never_open = {"timezone": "Europe/Rome", "weekly": {}}
    queue = _ok(
        client.post(
            "/api/v1/queues",
            json={"name": "Notte", "business_hours": never_open, "out_of_hours_action": "callback"},
            headers=admin,
        ),
        201,
    )
    _ok(client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin), 201)
    _ok(client.put(f"/api/v1/users/{org.users['agent']}/routing", json={"queue_ids": [queue["id"]]}, headers=admin))
    _online(client, org, "agent")
    inbox = create_api_inbox(client, org.headers(), callback_url=callback.url)
    conversation = _post(client, inbox, org, "notte")
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
    notice = [m for m in messages if m["direction"] == "outbound"]
    assert len(notice) == 1 and "richiameremo" in notice[0]["text"], "an Italian customer gets the Italian notice"
    refreshed = client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()).json()
    assert "callback" in refreshed["labels"] and refreshed["first_response_at"] is None, "the notice is not an answer"
    result = routing_pass.dispatch(rt, org.tenant_id)
    assert result.assigned == result.offered == 0 and _item(rt, conversation["id"]).status == "waiting", (
        "a closed queue routes nothing"
    )
    assert result.next_run_at is not None, "it looks again later, in case the queue opens"
    assert [k for k, _ in _events(rt, conversation["id"])] == ["queued", "out_of_hours"]
    # Open the queue: the conversation goes to the agent.
    _ok(
        client.patch(
            f"/api/v1/queues/{queue['id']}",
            json={
                "business_hours": {
                    "timezone": "UTC",
                    "weekly": {d: [["00:00", "23:59:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                }
            },
            headers=admin,
        )
    )
    routing_pass.dispatch(rt, org.tenant_id)
    assert (
        client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()).json()["assignee_id"]
        == org.users["agent"]
    )
