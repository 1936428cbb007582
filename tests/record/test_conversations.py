"""Conversation workflow: status, assignment, team, labels, priority, notes, continuity across statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import create_api_inbox, customer_message, post_inbound


def _start(client, org, message_id="c-1", **identities):
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message(message_id, **(identities or {"email": f"{message_id}@example.com"})))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    return inbox, conversation


def test_status_assignment_labels_priority_are_recorded(client, org):
    _, conversation = _start(client, org)
    url = f"/api/v1/conversations/{conversation['id']}"
    team = client.post("/api/v1/teams", json={"name": "Fatturazione"}, headers=org.headers("admin")).json()
    response = client.patch(
        url,
        json={
            "assignee_id": org.users["agent"],
            "team_id": team["id"],
            "labels": ["Rimborso", "vip", "rimborso"],
            "priority": "high",
        },
        headers=org.headers("supervisor"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["assignee_id"] == org.users["agent"] and body["team_id"] == team["id"]
    assert body["labels"] == ["rimborso", "vip"] and body["priority"] == "high"
    resolved = client.patch(url, json={"status": "resolved"}, headers=org.headers("agent")).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    kinds = [e["kind"] for e in client.get(f"{url}/timeline", headers=org.headers()).json()]
    for kind in ("assigned", "team.changed", "labels.changed", "priority.changed", "status.changed"):
        assert kind in kinds
    filtered = client.get(
        "/api/v1/conversations", params={"label": "VIP", "status": "resolved"}, headers=org.headers()
    ).json()["items"]
    assert [c["id"] for c in filtered] == [conversation["id"]]


def test_invalid_transitions_and_snooze(client, org):
    _, conversation = _start(client, org, "c-snooze")
    url = f"/api/v1/conversations/{conversation['id']}"
    missing = client.patch(url, json={"status": "snoozed"}, headers=org.headers("agent"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "snoozed_until"
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert (
        client.patch(url, json={"status": "snoozed", "snoozed_until": until}, headers=org.headers("agent")).json()[
            "status"
        ]
        == "snoozed"
    )
    assert client.patch(url, json={"status": "closed"}, headers=org.headers("agent")).status_code == 200
    reopen = client.patch(url, json={"status": "open"}, headers=org.headers("agent"))
    assert reopen.status_code == 422 and "closed" in reopen.json()["detail"]


def test_customer_writing_again_reopens_recent_resolved_but_closed_starts_new(client, org):
    inbox, conversation = _start(client, org, "c-re", email="re@example.com")
    url = f"/api/v1/conversations/{conversation['id']}"
    client.patch(url, json={"status": "resolved"}, headers=org.headers("agent"))
    post_inbound(client, inbox, customer_message("c-re-2", "Ancora io", email="re@example.com"))
    again = client.get(url, headers=org.headers()).json()
    assert again["status"] == "open" and again["resolved_at"] is None
    assert "conversation.reopened" in [e["kind"] for e in client.get(f"{url}/timeline", headers=org.headers()).json()]
    client.patch(url, json={"status": "closed"}, headers=org.headers("agent"))
    post_inbound(client, inbox, customer_message("c-re-3", "Nuova domanda", email="re@example.com"))
    mine = client.get(
        "/api/v1/conversations", params={"contact_id": conversation["contact_id"]}, headers=org.headers()
    ).json()["items"]
    assert len(mine) == 2 and mine[0]["id"] != conversation["id"] and mine[0]["status"] == "open"


def test_pending_conversation_wakes_when_customer_answers(client, org):
    inbox, conversation = _start(client, org, "c-pend", email="pend@example.com")
    url = f"/api/v1/conversations/{conversation['id']}"
    client.patch(url, json={"status": "pending"}, headers=org.headers("agent"))
    post_inbound(client, inbox, customer_message("c-pend-2", "Ecco i dati", email="pend@example.com"))
    assert client.get(url, headers=org.headers()).json()["status"] == "open"


def test_notes_are_internal_and_replies_follow_channel_rules(client, org):
    _, conversation = _start(client, org, "c-note")
    url = f"/api/v1/conversations/{conversation['id']}"
    note = client.post(f"{url}/notes", json={"text": "Cliente già contattato ieri"}, headers=org.headers("agent"))
    assert note.status_code == 201 and note.json()["direction"] == "note" and note.json()["delivery_status"] == "n/a"
    empty = client.post(f"{url}/reply", json={"text": "   "}, headers=org.headers("agent"))
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "text"
    too_long = client.post(f"{url}/reply", json={"text": "x" * 100_001}, headers=org.headers("agent"))
    assert too_long.status_code == 422
    sanitized = client.post(
        f"{url}/reply",
        json={"html": "<p onclick='x()'>Ciao <script>alert(1)</script><b>Mario</b></p>"},
        headers=org.headers("agent"),
    ).json()
    assert (
        "script" not in sanitized["html"] and "onclick" not in sanitized["html"] and "<b>Mario</b>" in sanitized["html"]
    )
    assert sanitized["text"].startswith("Ciao")


def test_reply_on_another_inbox_of_the_customer(client, org):
    _inbox, conversation = _start(client, org, "c-multi", email="multi@example.com")
    other = create_api_inbox(client, org.headers(), name="Second")
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply",
        json={"text": "Le scrivo qui", "inbox_id": other.id},
        headers=org.headers("agent"),
    )
    assert response.status_code == 201
    assert response.json()["inbox_id"] == other.id and response.json()["channel"] == "api"


def test_pagination_cursor_and_filters(client, org):
    inbox = create_api_inbox(client, org.headers())
    for index in range(12):
        post_inbound(client, inbox, customer_message(f"p-{index}", email=f"p{index}@example.com"))
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/conversations", params=params, headers=org.headers()).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 12 and len({c["id"] for c in seen}) == 12
    activity = [c["last_activity_at"] for c in seen]
    assert activity == sorted(activity, reverse=True)
    assert client.get("/api/v1/conversations", params={"cursor": "garbage!"}, headers=org.headers()).status_code == 422
    assert client.get(
        "/api/v1/conversations",
        params={"unassigned": True, "inbox_id": inbox.id, "channel": "api"},
        headers=org.headers(),
    ).json()["items"]


def test_continuity_setting_off_keeps_channels_apart(client, org):
    settings = client.get("/api/v1/tenant", headers=org.headers("agent")).json()
    assert settings["continuity_across_channels"] is True
    assert (
        client.patch(
            "/api/v1/tenant", json={"continuity_across_channels": False}, headers=org.headers("agent")
        ).status_code
        == 403
    )
    patched = client.patch(
        "/api/v1/tenant",
        json={"continuity_across_channels": False, "reopen_window_hours": 1},
        headers=org.headers("admin"),
    )
    assert patched.status_code == 200 and patched.json()["continuity_across_channels"] is False
    first = create_api_inbox(client, org.headers(), name="First")
    second = create_api_inbox(client, org.headers(), name="Second")
    post_inbound(client, first, customer_message("k-1", email="apart@example.com"))
    post_inbound(client, second, customer_message("k-2", email="apart@example.com"))
    items = client.get("/api/v1/conversations", headers=org.headers()).json()["items"]
    assert len(items) == 2 and {c["last_inbox_id"] for c in items} == {first.id, second.id}
    assert len({c["contact_id"] for c in items}) == 1, "still one customer"
    bad = client.patch("/api/v1/tenant", json={"default_region": "ZZ"}, headers=org.headers("admin"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "default_region"
