"""Agent desktop additions: transfer from the conversation view, the collision indicator, wrap-up codes
required by a queue on resolve, and @mentions in internal notes. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid

from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation, Message
from raccordo.routing.models import RoutingEvent
from tests.support.pages import a_conversation, login

HX = "HX-Request"


def _hx(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, HX: "true"}


# --- transfer and collision -------------------------------------------------------------------------


def test_transfer_from_the_conversation_view(fresh, org, other_org, client, rt):
    conversation_id, _ = a_conversation(client, org)
    queue = client.post(
        "/api/v1/queues", json={"name": f"Secondo livello {uuid.uuid4().hex[:4]}"}, headers=org.headers("admin")
    )
    assert queue.status_code == 201, queue.text
    browser = fresh()
    csrf = login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    # The form offers colleagues (not oneself), teams and queues.
    assert f'value="user:{org.users["supervisor"]}"' in page and f'value="user:{org.users["agent"]}"' not in page
    assert f'value="queue:{queue.json()["id"]}"' in page and 'label="Queues"' in page
    # Collision indicator: present, hidden until someone else shows up, with the names to show.
    box = re.search(r'<p id="collision"[^>]*>', page).group(0)
    assert "hidden" in box and 'data-viewing="Also viewing: {names}"' in box
    names = json.loads(re.search(r'data-users="([^"]*)"', box).group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert names[str(org.users["supervisor"])] == "Supervisor User"

    empty = browser.post(f"/conversations/{conversation_id}/transfer", data={"target": ""}, headers=_hx(csrf))
    assert empty.status_code == 422 and translate("ui.transfer.choose", "en") in empty.text
    done = browser.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"user:{org.users['supervisor']}", "note": "Chiede un rimborso"},
        headers=_hx(csrf),
    )
    # Handed to a colleague outside the agent's teams: it leaves the agent's sight (docs/desktop.md).
    assert done.status_code == 200 and done.headers["hx-redirect"] == "/inbox"
    with unit_of_work(rt.sessions) as session:
        assert session.get(Conversation, conversation_id).assignee_id == org.users["supervisor"]
        notes = (
            session.query(Message).filter(Message.conversation_id == conversation_id, Message.direction == "note").all()
        )
        assert [n.text for n in notes] == ["Chiede un rimborso"]
        kinds = [e.kind for e in session.query(RoutingEvent).filter(RoutingEvent.conversation_id == conversation_id)]
        assert "transferred" in kinds
    # Now it is the supervisor's: the agent may not take it away, and is told why.
    refused = browser.post(
        f"/conversations/{conversation_id}/transfer", data={"target": f"queue:{queue.json()['id']}"}, headers=_hx(csrf)
    )
    assert refused.status_code == 422 and translate("conversation.not_yours", "en") in refused.text
    # A supervisor moves it to the queue.
    boss = fresh()
    boss_csrf = login(boss, org, "supervisor")
    moved = boss.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"queue:{queue.json()['id']}"},
        headers=_hx(boss_csrf),
    )
    assert moved.status_code == 200
    assert client.get(f"/api/v1/conversations/{conversation_id}", headers=org.headers()).json()["assignee_id"] is None
    # Another tenant's queue is not found, and nothing changes.
    theirs = client.post("/api/v1/queues", json={"name": "Loro"}, headers=other_org.headers("admin")).json()["id"]
    assert (
        boss.post(
            f"/conversations/{conversation_id}/transfer", data={"target": f"queue:{theirs}"}, headers=_hx(boss_csrf)
        ).status_code
        == 404
    )
    assert (
        browser.post(
            f"/conversations/{conversation_id}/transfer", data={"target": f"user:{org.users['agent']}"}
        ).status_code
        == 403
    )  # no CSRF token


# --- wrap-up codes ------------------------------------------------------------------------------------


def _queued_conversation(client, org, queue_requires: bool = True) -> tuple[int, int, int]:
    """A conversation routed through a queue (that requires a wrap-up code), answered once by the agent."""
    admin = org.headers("admin")
    queue = client.post(
        "/api/v1/queues",
        json={"name": f"Vendite {uuid.uuid4().hex[:4]}", "requires_wrap_up": queue_requires},
        headers=admin,
    )
    assert queue.status_code == 201 and queue.json()["requires_wrap_up"] is queue_requires, queue.text
    conversation_id, inbox_id = a_conversation(client, org)
    moved = client.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        json={"queue_id": queue.json()["id"]},
        headers=org.headers("supervisor"),
    )
    assert moved.status_code == 200, moved.text
    assert (
        client.patch(
            f"/api/v1/conversations/{conversation_id}",
            json={"assignee_id": org.users["agent"]},
            headers=org.headers("supervisor"),
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/conversations/{conversation_id}/reply",
            json={"text": "Eccomi", "inbox_id": inbox_id},
            headers=org.headers("agent"),
        ).status_code
        == 201
    )
    return conversation_id, inbox_id, queue.json()["id"]


def test_wrap_up_codes_api_and_required_on_resolve(client, org):
    admin, agent = org.headers("admin"), org.headers("agent")
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita"}, headers=agent).status_code
        == 403
    )
    sale = client.post("/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita"}, headers=admin)
    assert sale.status_code == 201, sale.text
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "VENDITA", "label": "Doppia"}, headers=admin).status_code
        == 409
    )
    assert (
        client.post("/api/v1/wrap-up-codes", json={"code": "con spazio", "label": "X"}, headers=admin).status_code
        == 422
    )
    old = client.post(
        "/api/v1/wrap-up-codes", json={"code": "vecchio", "label": "Vecchio", "active": False}, headers=admin
    ).json()
    assert {c["code"] for c in client.get("/api/v1/wrap-up-codes", headers=agent).json()} == {"vendita", "vecchio"}

    conversation_id, _, queue_id = _queued_conversation(client, org)
    url = f"/api/v1/conversations/{conversation_id}"
    missing = client.patch(url, json={"status": "resolved"}, headers=agent)
    assert missing.status_code == 422, missing.text
    problem = missing.json()
    assert (
        problem["errors"][0]["field"] == "wrap_up_code"
        and "wrap_up_code" in problem["detail"]
        and "Vendite" in problem["detail"]
    )
    assert client.get(url, headers=agent).json()["status"] == "open"
    for wrong in ("nessuno", "vecchio"):  # unknown, or deactivated
        response = client.patch(url, json={"status": "resolved", "wrap_up_code": wrong}, headers=agent)
        assert response.status_code == 422 and wrong in response.json()["detail"]
    resolved = client.patch(url, json={"status": "resolved", "wrap_up_code": "vendita"}, headers=agent)
    assert (
        resolved.status_code == 200
        and resolved.json()["wrap_up_code"] == "vendita"
        and resolved.json()["status"] == "resolved"
    )
    events = client.get(f"{url}/routing-events", headers=agent).json()
    assert [e["data"].get("wrap_up_code") for e in events if e["kind"] == "resolved"] == ["vendita"]
    # Reopening clears the outcome: the next resolve needs its own.
    reopened = client.patch(url, json={"status": "open"}, headers=agent)
    assert reopened.status_code == 200 and reopened.json()["wrap_up_code"] is None
    assert client.patch(url, json={"status": "resolved"}, headers=agent).status_code == 422
    # A queue that does not require one: resolving without a code works.
    other_id, _, _ = _queued_conversation(client, org, queue_requires=False)
    assert (
        client.patch(f"/api/v1/conversations/{other_id}", json={"status": "resolved"}, headers=agent).status_code == 200
    )
    # Codes: edit and delete are admins' (the conversation keeps its code as text).
    assert client.patch(f"/api/v1/wrap-up-codes/{old['id']}", json={"active": True}, headers=agent).status_code == 403
    assert (
        client.patch(f"/api/v1/wrap-up-codes/{old['id']}", json={"label": "Vecchio esito"}, headers=admin).json()[
            "label"
        ]
        == "Vecchio esito"
    )
    assert client.delete(f"/api/v1/wrap-up-codes/{sale.json()['id']}", headers=admin).status_code == 204
    assert (
        client.patch(f"/api/v1/queues/{queue_id}", json={"requires_wrap_up": False}, headers=admin).json()[
            "requires_wrap_up"
        ]
        is False
    )


def test_wrap_up_in_the_conversation_view_and_admin_pages(fresh, org, client, rt):
    from tests.support.pages import set_language

    set_language(rt, org.users["admin"], "it")
    admin = fresh()
    csrf = login(admin, org, "admin")
    assert admin.get("/admin/wrap-up-codes").status_code == 200
    bad = admin.post(
        "/admin/wrap-up-codes", data={"csrf_token": csrf, "code": "a b", "label": "Informazioni", "active": "1"}
    )
    assert bad.status_code == 422 and 'id="code-error"' in bad.text and "non è valido" in bad.text
    created = admin.post(
        "/admin/wrap-up-codes", data={"csrf_token": csrf, "code": "info", "label": "Informazioni", "active": "1"}
    )
    assert created.status_code == 303
    conversation_id, _, queue_id = _queued_conversation(client, org, queue_requires=False)
    # The queue page sets the requirement.
    queue = client.get(f"/api/v1/queues/{queue_id}", headers=org.headers()).json()
    saved = admin.post(
        f"/admin/queues/{queue_id}",
        data={
            "csrf_token": csrf,
            "name": queue["name"],
            "strategy": "longest_idle",
            "active": "1",
            "requires_wrap_up": "1",
        },
    )
    assert saved.status_code == 303
    assert client.get(f"/api/v1/queues/{queue_id}", headers=org.headers()).json()["requires_wrap_up"] is True
    assert 'name="requires_wrap_up" value="1" checked' in admin.get(f"/admin/queues/{queue_id}").text
    page = admin.get("/admin/wrap-up-codes").text
    assert "Obbligatori per le code: " + queue["name"] in page

    set_language(rt, org.users["agent"], "it")
    agent = fresh()
    agent_csrf = login(agent, org, "agent")
    view = agent.get(f"/conversations/{conversation_id}").text
    assert 'name="wrap_up_code" required' in view and '<option value="info"' in view and "obbligatorio" in view
    refused = agent.post(
        f"/conversations/{conversation_id}/status", data={"status": "resolved"}, headers=_hx(agent_csrf)
    )
    assert (
        refused.status_code == 422
        and translate("wrapup.required", "it", queue=queue["name"]).replace('"', "&#34;") in refused.text
    )
    done = agent.post(
        f"/conversations/{conversation_id}/status",
        data={"status": "resolved", "wrap_up_code": "info"},
        headers=_hx(agent_csrf),
    )
    assert done.status_code == 200 and "Esito: Informazioni" in done.text
    with unit_of_work(rt.sessions) as session:
        assert session.get(Conversation, conversation_id).wrap_up_code == "info"


# --- @mentions in internal notes -------------------------------------------------------------------


def test_find_mentions():
    from raccordo.desk.domain.mentions import find_mentions

    people = [
        (1, "Mario Rossi", "mario@x.it"),
        (2, "Mariolina Bianchi", "mb@x.it"),
        (3, "Anna Verdi", "anna.v@x.it"),
        (4, "Anna Neri", "neri@x.it"),
    ]
    assert find_mentions("@Mario puoi vedere?", people) == [1]  # not Mariolina
    assert find_mentions("per @mariolina bianchi e @anna.v", people) == [2, 3]
    assert find_mentions("@Anna chi?", people) == []  # two Annas: the first name alone is ambiguous
    assert find_mentions("scrivi a mario@x.it", people) == [] and find_mentions("nessuno", people) == []
    assert find_mentions("@Anna Neri, @neri", people) == [4]


def test_mention_in_a_note_notifies_the_user(org, client, rt):
    from raccordo.accounts.domain.roles import Role
    from raccordo.platform.store.models import Event
    from raccordo.realtime.domain.visibility import Subscriber, visible
    from tests.support.realtime import connect_desktop, until_message

    conversation_id, _ = a_conversation(client, org)
    with connect_desktop(client, org.tokens["agent"]) as agent_ws:
        until_message(agent_ws, lambda m: m["type"] == "hello")
        note = client.post(
            f"/api/v1/conversations/{conversation_id}/notes",
            json={"text": "@Agent User puoi richiamare? cc @admin"},
            headers=org.headers("supervisor"),
        )
        assert note.status_code == 201, note.text
        assert note.json()["content_attributes"]["mentions"] == sorted([org.users["agent"], org.users["admin"]])
        event = until_message(agent_ws, lambda m: m["type"] == "event" and m["kind"] == "mention.created")
    assert event["user_id"] == org.users["agent"]
    assert {
        "conversation_id": conversation_id,
        "by_name": "Supervisor User",
        "message_id": note.json()["id"],
    }.items() <= event["payload"].items()
    with unit_of_work(rt.sessions) as session:
        rows = session.query(Event).filter(Event.tenant_id == org.tenant_id, Event.kind == "mention.created").all()
        assert sorted(r.user_id for r in rows) == sorted([org.users["agent"], org.users["admin"]])
        # Addressed: another agent, not mentioned and not watching the conversation, does not get it.
        message = {
            "tenant_id": org.tenant_id,
            "kind": "mention.created",
            "user_id": org.users["agent"],
            "conversation_id": conversation_id,
            "payload": {},
        }
        assert not visible(message, Subscriber(org.tenant_id, 10**9, Role.AGENT))
    # Mentioning oneself notifies nobody.
    client.post(
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"text": "promemoria per @supervisor"},
        headers=org.headers("supervisor"),
    )
    with unit_of_work(rt.sessions) as session:
        assert (
            session.query(Event).filter(Event.tenant_id == org.tenant_id, Event.kind == "mention.created").count() == 2
        )
