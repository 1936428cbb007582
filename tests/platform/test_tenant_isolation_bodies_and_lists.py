"""Tenant isolation of request bodies, lists, channel webhooks and side-panel apps.

Another tenant's ids inside a body answer 404 and change nothing; lists never return another
tenant's rows even where both tenants share a contact email and a name.
"""

from __future__ import annotations

import uuid

from tests.support.tenant_worlds import SHARED_NAME, assert_problem


def test_foreign_ids_in_bodies_are_404_and_change_nothing(client, worlds):
    mine, theirs = worlds
    headers = mine.org.headers()
    conversation_url = f"/api/v1/conversations/{mine.conversation_id}"
    before = client.get(conversation_url, headers=headers).json()

    # Conversation assignee / team of another tenant; the status change in the same request is not applied.
    for field, value in (("assignee_id", theirs.user_id), ("team_id", theirs.team_id)):
        response = client.patch(conversation_url, json={"status": "pending", field: value}, headers=headers)
        assert_problem(response, 404)
        now = client.get(conversation_url, headers=headers).json()
        assert now["status"] == before["status"] == "open" and now[field] is None

    # Reply on another tenant's inbox.
    messages_before = client.get(f"{conversation_url}/messages", headers=headers).json()
    assert_problem(
        client.post(f"{conversation_url}/reply", json={"text": "Ciao", "inbox_id": theirs.inbox.id}, headers=headers),
        404,
    )
    assert client.get(f"{conversation_url}/messages", headers=headers).json() == messages_before
    assert (
        len(client.get(f"/api/v1/conversations/{theirs.conversation_id}/messages", headers=theirs.org.headers()).json())
        == 2  # the customer's message and the world's reply (tenant_worlds.build_world)
    )

    # Merge another tenant's contact into ours.
    ours_before = client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json()
    assert_problem(
        client.post(f"/api/v1/contacts/{mine.contact_id}/merge", json={"other_id": theirs.contact_id}, headers=headers),
        404,
    )
    assert (
        client.get(f"/api/v1/contacts/{theirs.contact_id}", headers=theirs.org.headers()).json()["merged_into_id"]
        is None
    )
    assert client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json() == ours_before

    # Team members from another tenant, at creation and on replacement.
    name = f"Team {uuid.uuid4().hex[:6]}"
    assert_problem(
        client.post(
            "/api/v1/teams",
            json={"name": name, "member_ids": [mine.org.users["agent"], theirs.user_id]},
            headers=headers,
        ),
        404,
    )
    assert name not in [t["name"] for t in client.get("/api/v1/teams", headers=headers).json()], (
        "a refused team was still created"
    )
    assert_problem(
        client.put(
            f"/api/v1/teams/{mine.team_id}/members",
            json={"user_ids": [mine.org.users["supervisor"], theirs.user_id]},
            headers=headers,
        ),
        404,
    )
    assert client.get(f"/api/v1/teams/{mine.team_id}", headers=headers).json()["member_ids"] == [
        mine.org.users["agent"]
    ]

    # Routing: transfers, queues, members, agents' queues and rules naming another tenant's rows.
    for field, value in (("user_id", theirs.user_id), ("team_id", theirs.team_id), ("queue_id", theirs.queue_id)):
        assert_problem(client.post(f"{conversation_url}/transfer", json={field: value}, headers=headers), 404)
        assert client.get(conversation_url, headers=headers).json()["assignee_id"] is None
    queue_url = f"/api/v1/queues/{mine.queue_id}"
    queue_before = client.get(queue_url, headers=headers).json()
    assert_problem(
        client.post("/api/v1/queues", json={"name": "Trabocco", "overflow_queue_id": theirs.queue_id}, headers=headers),
        404,
    )
    assert "Trabocco" not in [q["name"] for q in client.get("/api/v1/queues", headers=headers).json()]
    assert_problem(client.patch(queue_url, json={"overflow_queue_id": theirs.queue_id}, headers=headers), 404)
    assert_problem(
        client.put(
            f"{queue_url}/members", json={"user_ids": [mine.org.users["agent"], theirs.user_id]}, headers=headers
        ),
        404,
    )
    assert client.get(queue_url, headers=headers).json() == queue_before
    profile_url = f"/api/v1/users/{mine.user_id}/routing"
    profile_before = client.get(profile_url, headers=headers).json()
    assert_problem(client.put(profile_url, json={"queue_ids": [mine.queue_id, theirs.queue_id]}, headers=headers), 404)
    assert client.get(profile_url, headers=headers).json() == profile_before
    rules_before = client.get("/api/v1/routing-rules", headers=headers).json()
    assert_problem(
        client.post("/api/v1/routing-rules", json={"name": "Altrui", "queue_id": theirs.queue_id}, headers=headers), 404
    )
    assert_problem(
        client.patch(f"/api/v1/routing-rules/{mine.rule_id}", json={"queue_id": theirs.queue_id}, headers=headers), 404
    )
    assert client.get("/api/v1/routing-rules", headers=headers).json() == rules_before

    # Agenda: another tenant's conversation, inbox, queue or agent, when scheduling or changing an item.
    agenda_url = f"/api/v1/agenda/{mine.agenda_item_id}"
    agenda_before = client.get(agenda_url, headers=headers).json()
    listed_before = client.get("/api/v1/agenda", params={"scope": "all"}, headers=headers).json()
    schedule = {
        "conversation_id": mine.conversation_id,
        "kind": "callback",
        "due_at": "2099-01-02T10:00:00+00:00",
        "inbox_id": mine.inbox.id,
    }
    for field, value in (
        ("conversation_id", theirs.conversation_id),
        ("inbox_id", theirs.inbox.id),
        ("queue_id", theirs.queue_id),
        ("owner_id", theirs.user_id),
    ):
        assert_problem(client.post("/api/v1/agenda", json={**schedule, field: value}, headers=headers), 404)
        if field != "conversation_id":
            assert_problem(client.patch(agenda_url, json={field: value, "note": "cambiata"}, headers=headers), 404)
    assert client.get(agenda_url, headers=headers).json() == agenda_before
    assert client.get("/api/v1/agenda", params={"scope": "all"}, headers=headers).json() == listed_before


def test_lists_never_return_another_tenants_rows(client, worlds):
    mine, theirs = worlds
    headers = mine.org.headers()
    theirs_h = theirs.org.headers()

    def ids(url, **params):
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}

    def their_ids(url, **params):
        body = client.get(url, params=params, headers=theirs_h).json()
        return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}

    # Each list shows ours and none of theirs (and theirs is not empty, so the check means something).
    for url in (
        "/api/v1/conversations",
        "/api/v1/contacts",
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/inboxes",
        "/api/v1/contacts/merge-suggestions",
        "/api/v1/audit",
        "/api/v1/tokens",
        "/api/v1/templates",
        "/api/v1/wrap-up-codes",
        "/api/v1/scripts",
        "/api/v1/agenda",
        "/api/v1/side-panel-apps",
    ):
        params = {"limit": 100} if url in ("/api/v1/conversations", "/api/v1/contacts", "/api/v1/audit") else {}
        own, other = ids(url, **params), their_ids(url, **params)
        assert own and other, url
        assert not own & other, f"{url} returned another tenant's rows: {own & other}"
    assert ids("/api/v1/users") == set(mine.org.users.values())
    assert ids("/api/v1/inboxes") == {mine.inbox.id}
    assert ids("/api/v1/teams") == {mine.team_id}

    # Search by an email only the other tenant has finds nothing; by a shared email, only our contact.
    assert ids("/api/v1/contacts", q=theirs.only_email) == set()
    assert ids("/api/v1/contacts", q=theirs.only_email.upper()) == set()
    assert their_ids("/api/v1/contacts", q=theirs.only_email) == {theirs.contact_id}
    shared = next(
        i["value"]
        for i in client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json()["identities"]
        if i["value"].startswith("cliente-")
    )
    assert ids("/api/v1/contacts", q=shared) == {mine.contact_id}
    assert mine.contact_id != theirs.contact_id, "the same email in two tenants must be two contacts"
    # Same names in both tenants: search and suggestions pair only contacts of one tenant.
    our_contacts = ids("/api/v1/contacts", limit=100)
    same_name = ids("/api/v1/contacts", q=SHARED_NAME)
    assert len(same_name) == 2 and mine.second_contact_id in same_name and same_name <= our_contacts
    for suggestion in client.get("/api/v1/contacts/merge-suggestions", headers=headers).json():
        assert {suggestion["contact_a_id"], suggestion["contact_b_id"]} <= our_contacts
    # The timeline and messages of our conversation hold only our rows.
    their_messages = {
        m["id"] for m in client.get(f"/api/v1/conversations/{theirs.conversation_id}/messages", headers=theirs_h).json()
    }
    assert not ids(f"/api/v1/conversations/{mine.conversation_id}/messages") & their_messages
    their_events = their_ids(f"/api/v1/contacts/{theirs.contact_id}/timeline")
    assert not ids(f"/api/v1/contacts/{mine.contact_id}/timeline") & their_events
    # The audit log holds only actions of our users.
    audit = client.get("/api/v1/audit", params={"limit": 500}, headers=headers).json()
    assert {a["user_id"] for a in audit} - {None} <= set(mine.org.users.values())


def test_channel_webhook_ignores_tenant_credentials(client, worlds):
    """The inbound webhook is addressed by inbox identifier and HMAC: a tenant's token cannot post
    into another tenant's inbox."""
    mine, theirs = worlds
    body = (
        b'{"message_id": "intruder-1", "contact": {"identities": [{"kind": "email", "value": "intruder@example.com"}]},'
        b' "text": "hi"}'
    )
    response = client.post(
        theirs.inbox.url, content=body, headers={**mine.org.headers(), "Content-Type": "application/json"}
    )
    assert_problem(response, 401)
    # Signed with our inbox's secret, on their inbox: refused too.
    from raccordo.channels import signing

    response = client.post(
        theirs.inbox.url,
        content=body,
        headers={"Content-Type": "application/json", **signing.sign(mine.inbox.secret, body)},
    )
    assert_problem(response, 401)
    assert (
        client.get("/api/v1/contacts", params={"q": "intruder@example.com"}, headers=theirs.org.headers()).json() == []
    )
    # The GET on the same URL is the provider's handshake: a tenant's token gets no more than anyone
    # (the API channel has none: 405).
    assert_problem(client.get(theirs.inbox.url, headers=mine.org.headers()), 405)


def test_foreign_ids_in_side_panel_app_bodies(client, worlds):
    """Side-panel apps limited to another tenant's inbox or queue: 404, and nothing is created or changed."""
    mine, theirs = worlds
    headers = mine.org.headers()
    app_url = f"/api/v1/side-panel-apps/{mine.app_id}"
    before = client.get(app_url, headers=headers).json()
    listed = client.get("/api/v1/side-panel-apps", headers=headers).json()
    for field, value in (("inbox_ids", theirs.inbox.id), ("queue_ids", theirs.queue_id)):
        assert_problem(
            client.post(
                "/api/v1/side-panel-apps",
                json={"name": "Altrui", "url": "https://other.example.com/", field: [value]},
                headers=headers,
            ),
            404,
        )
        assert_problem(client.patch(app_url, json={"position": 9, field: [value]}, headers=headers), 404)
    assert client.get(app_url, headers=headers).json() == before
    assert client.get("/api/v1/side-panel-apps", headers=headers).json() == listed
