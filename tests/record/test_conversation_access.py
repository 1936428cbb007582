"""Who may act on and see which conversation (docs/desktop.md, "Who may act on a conversation"):
an agent acts on their own conversations and on the unassigned ones of their teams, their queues or
of no team; sees those and their teams' too; supervisors and up act on and see the whole tenant.
The matrix runs role x ownership x action over REST, the pages and the WebSocket."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import Org

# Ownership cases, from the agent's point of view.
OWN, UNASSIGNED_MY_TEAM, UNASSIGNED_NO_TEAM, UNASSIGNED_MY_QUEUE = (
    "own",
    "unassigned_my_team",
    "unassigned_no_team",
    "unassigned_my_queue",
)
TEAMMATES, OTHERS, UNASSIGNED_OTHER_TEAM = "teammates", "others", "unassigned_other_team"
ACTABLE = {OWN, UNASSIGNED_MY_TEAM, UNASSIGNED_NO_TEAM, UNASSIGNED_MY_QUEUE}
VISIBLE = ACTABLE | {TEAMMATES}
CASES = (OWN, UNASSIGNED_MY_TEAM, UNASSIGNED_NO_TEAM, UNASSIGNED_MY_QUEUE, TEAMMATES, OTHERS, UNASSIGNED_OTHER_TEAM)


@dataclass
class World:
    org: Org
    colleague: int
    conversations: dict[str, int]


def _conversation(client: TestClient, org: Org, inbox, *, assignee: int | None, team: int | None) -> int:
    marker = uuid.uuid4().hex[:10]
    assert (
        post_inbound(
            client, inbox, customer_message(f"acc-{marker}", f"text {marker}", email=f"acc-{marker}@example.com")
        ).status_code
        == 200
    )
    owner = org.headers()
    found = client.get("/api/v1/conversations", params={"q": marker}, headers=owner).json()["items"]
    assert len(found) == 1, found
    conversation_id = found[0]["id"]
    response = client.patch(
        f"/api/v1/conversations/{conversation_id}", json={"assignee_id": assignee, "team_id": team}, headers=owner
    )
    assert response.status_code == 200, response.text
    return conversation_id


def make_world(client: TestClient, org: Org) -> World:
    owner = org.headers()
    marker = uuid.uuid4().hex[:8]
    colleague = client.post(
        "/api/v1/users",
        json={
            "email": f"colleague-{marker}@example.com",
            "name": "Colleague",
            "role": "agent",
            "password": "correct horse battery",
        },
        headers=owner,
    ).json()["id"]
    mine = client.post(
        "/api/v1/teams", json={"name": f"Mine {marker}", "member_ids": [org.users["agent"], colleague]}, headers=owner
    ).json()["id"]
    theirs = client.post(
        "/api/v1/teams", json={"name": f"Theirs {marker}", "member_ids": [colleague]}, headers=owner
    ).json()["id"]
    queue = client.post("/api/v1/queues", json={"name": f"Queue {marker}"}, headers=owner).json()["id"]
    assert (
        client.put(
            f"/api/v1/queues/{queue}/members", json={"user_ids": [org.users["agent"]]}, headers=owner
        ).status_code
        == 200
    )
    inbox = create_api_inbox(client, owner, name=f"Access {marker}")
    agent = org.users["agent"]
    conversations = {
        OWN: _conversation(client, org, inbox, assignee=agent, team=None),
        UNASSIGNED_MY_TEAM: _conversation(client, org, inbox, assignee=None, team=mine),
        UNASSIGNED_NO_TEAM: _conversation(client, org, inbox, assignee=None, team=None),
        UNASSIGNED_MY_QUEUE: _conversation(client, org, inbox, assignee=None, team=theirs),
        TEAMMATES: _conversation(client, org, inbox, assignee=colleague, team=mine),
        OTHERS: _conversation(client, org, inbox, assignee=colleague, team=theirs),
        UNASSIGNED_OTHER_TEAM: _conversation(client, org, inbox, assignee=None, team=theirs),
    }
    # The queue case: waiting in a queue the agent is a member of.
    assert (
        client.post(
            f"/api/v1/conversations/{conversations[UNASSIGNED_MY_QUEUE]}/transfer",
            json={"queue_id": queue},
            headers=owner,
        ).status_code
        == 200
    )
    return World(org, colleague, conversations)


@pytest.fixture
def world(client, org) -> World:
    return make_world(client, org)


ACTIONS = {
    "priority": lambda c, cid, h: c.patch(f"/api/v1/conversations/{cid}", json={"priority": "urgent"}, headers=h),
    "status": lambda c, cid, h: c.patch(f"/api/v1/conversations/{cid}", json={"status": "resolved"}, headers=h),
    "labels": lambda c, cid, h: c.patch(f"/api/v1/conversations/{cid}", json={"labels": ["vip"]}, headers=h),
    "reply": lambda c, cid, h: c.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Salve"}, headers=h),
}


@pytest.mark.parametrize("action", ["priority", "status", "labels", "reply"])
def test_agent_acts_only_on_own_and_reachable_unassigned_conversations(client, world, action):
    headers = world.org.headers("agent")
    for case in CASES:
        conversation_id = world.conversations[case]
        response = ACTIONS[action](client, conversation_id, headers)
        if case in ACTABLE:
            assert response.status_code in (200, 201), (case, response.text)
        else:
            assert response.status_code == 403, (case, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            # Nothing changed.
            after = client.get(f"/api/v1/conversations/{conversation_id}", headers=world.org.headers()).json()
            assert after["priority"] != "urgent" and after["status"] == "open" and after["labels"] == []


@pytest.mark.parametrize("role", ["supervisor", "admin", "owner"])
def test_supervisors_and_up_act_on_every_conversation_of_the_tenant(client, world, role):
    for case in CASES:
        response = ACTIONS["priority"](client, world.conversations[case], world.org.headers(role))
        assert response.status_code == 200, (role, case, response.text)


def test_agent_takes_reachable_unassigned_only_and_transfers_only_what_they_may_act_on(client, world):
    headers = world.org.headers("agent")
    me = world.org.users["agent"]
    taken = client.patch(
        f"/api/v1/conversations/{world.conversations[UNASSIGNED_OTHER_TEAM]}", json={"assignee_id": me}, headers=headers
    )
    assert taken.status_code == 403
    assert (
        client.patch(
            f"/api/v1/conversations/{world.conversations[UNASSIGNED_MY_TEAM]}",
            json={"assignee_id": me},
            headers=headers,
        ).status_code
        == 200
    )
    team = client.get("/api/v1/teams", headers=world.org.headers()).json()[0]["id"]
    refused = client.post(
        f"/api/v1/conversations/{world.conversations[UNASSIGNED_OTHER_TEAM]}/transfer",
        json={"team_id": team},
        headers=headers,
    )
    assert refused.status_code == 403, refused.text
    allowed = client.post(
        f"/api/v1/conversations/{world.conversations[OWN]}/transfer", json={"team_id": team}, headers=headers
    )
    assert allowed.status_code == 200, allowed.text


def test_notes_on_visible_conversations_only(client, world):
    headers = world.org.headers("agent")
    for case in CASES:
        response = client.post(
            f"/api/v1/conversations/{world.conversations[case]}/notes", json={"text": "Nota"}, headers=headers
        )
        assert response.status_code == (201 if case in VISIBLE else 404), (case, response.text)


def test_agent_lists_and_reads_only_visible_conversations_whatever_the_parameters(client, world):
    headers = world.org.headers("agent")
    ids = set(world.conversations.values())
    expected = {world.conversations[case] for case in VISIBLE}
    for params in (
        {},
        {"assignee_id": world.colleague},
        {"status": "open"},
        {"view": "teams"},
        {"unassigned": "true"},
        {"q": "text"},
    ):
        listed = {
            c["id"]
            for c in client.get("/api/v1/conversations", params=params | {"limit": 100}, headers=headers).json()[
                "items"
            ]
        }
        assert listed & ids <= expected, (params, listed & ids - expected)
    everything = {
        c["id"] for c in client.get("/api/v1/conversations", params={"limit": 100}, headers=headers).json()["items"]
    }
    assert expected <= everything
    colleagues = {
        c["id"]
        for c in client.get("/api/v1/conversations", params={"assignee_id": world.colleague}, headers=headers).json()[
            "items"
        ]
    }
    assert colleagues == {world.conversations[TEAMMATES]}
    for case in CASES:
        for suffix in ("", "/messages", "/timeline"):
            response = client.get(f"/api/v1/conversations/{world.conversations[case]}{suffix}", headers=headers)
            assert response.status_code == (200 if case in VISIBLE else 404), (case, suffix, response.text)
    supervisor = {
        c["id"]
        for c in client.get(
            "/api/v1/conversations", params={"limit": 100}, headers=world.org.headers("supervisor")
        ).json()["items"]
    }
    assert ids <= supervisor


def _login(browser: TestClient, org: Org) -> str:
    page = browser.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    response = browser.post(
        "/login", data={"email": org.email("agent"), "password": org.password, "login_csrf": token, "next": "/inbox"}
    )
    assert response.status_code == 303, response.text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', browser.get("/inbox").text).group(1)


def test_pages_refuse_the_same_writes(client, world):
    browser = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = _login(browser, world.org)
    for case in (OTHERS, UNASSIGNED_OTHER_TEAM, TEAMMATES):
        conversation_id = world.conversations[case]
        status = browser.post(
            f"/conversations/{conversation_id}/status", data={"status": "resolved", "csrf_token": csrf}
        )
        reply = browser.post(f"/conversations/{conversation_id}/reply", data={"text": "Salve", "csrf_token": csrf})
        transfer = browser.post(
            f"/conversations/{conversation_id}/transfer",
            data={"target": f"user:{world.org.users['agent']}", "csrf_token": csrf},
        )
        assert status.status_code >= 400 and reply.status_code >= 400 and transfer.status_code >= 400, (
            case,
            status.status_code,
            reply.status_code,
            transfer.status_code,
        )
        after = client.get(f"/api/v1/conversations/{conversation_id}", headers=world.org.headers()).json()
        assert after["status"] == "open" and after["assignee_id"] != world.org.users["agent"], case
        messages = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=world.org.headers()).json()
        assert all(m["direction"] == "inbound" for m in messages), case
    own = browser.post(
        f"/conversations/{world.conversations[OWN]}/status", data={"status": "resolved", "csrf_token": csrf}
    )
    assert own.status_code < 400
    assert (
        client.get(f"/api/v1/conversations/{world.conversations[OWN]}", headers=world.org.headers()).json()["status"]
        == "resolved"
    )


def test_websocket_subscription_cannot_reach_others_conversations(client, world):
    """Subscribing to (or viewing) a conversation id is no way around the listing rule."""
    owner = world.org.headers()
    hidden, own = world.conversations[OTHERS], world.conversations[OWN]
    with client.websocket_connect("/ws", subprotocols=[f"raccordo.token.{world.org.tokens['agent']}"]) as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "subscribe", "conversation_ids": [hidden, own]})
        ws.send_json({"type": "viewing", "conversation_id": hidden})
        refused = ws.receive_json()
        assert refused["type"] == "error", refused
        client.post(f"/api/v1/conversations/{hidden}/notes", json={"text": "secret hidden"}, headers=owner)
        client.post(f"/api/v1/conversations/{own}/notes", json={"text": "visible own"}, headers=owner)
        seen = []
        for _ in range(50):
            message = ws.receive_json()
            if message["type"] == "event":
                seen.append(message)
                if message.get("conversation_id") == own and message["kind"] == "message.created":
                    break
        assert all(m.get("conversation_id") != hidden for m in seen), seen
