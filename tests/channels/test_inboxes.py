"""Inboxes: channel validation, secrets encrypted at rest and write-only, business hours, audit."""

from __future__ import annotations

from sqlalchemy import text

from raccordo.platform.store.db import unit_of_work


def test_secrets_are_encrypted_at_rest_and_never_read_back(client, rt, org):
    created = client.post(
        "/api/v1/inboxes",
        json={"name": "App", "channel": "api", "settings": {"callback_url": "https://crm.example.com/hook"}},
        headers=org.headers("admin"),
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    secret = inbox["secrets"]["hmac_secret"]
    assert len(secret) >= 32
    with unit_of_work(rt.sessions) as session:
        stored = session.execute(
            text("SELECT secrets_encrypted FROM inboxes WHERE id = :id"), {"id": inbox["id"]}
        ).scalar_one()
    assert secret not in stored and "hmac_secret" not in stored
    read = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=org.headers("agent")).json()
    assert "secrets" not in read and read["secret_names"] == ["hmac_secret"]
    assert all(secret not in str(i) for i in client.get("/api/v1/inboxes", headers=org.headers("agent")).json())
    assert (
        client.post(f"/api/v1/inboxes/{inbox['id']}/reveal-secrets", headers=org.headers("supervisor")).status_code
        == 403
    )
    assert client.post(f"/api/v1/inboxes/{inbox['id']}/reveal-secrets", headers=org.headers("admin")).json() == {
        "hmac_secret": secret
    }
    actions = [a["action"] for a in client.get("/api/v1/audit", headers=org.headers("admin")).json()]
    assert "inbox.reveal_secrets" in actions and "inbox.create" in actions
    audit_text = str(client.get("/api/v1/audit", headers=org.headers("admin")).json())
    assert secret not in audit_text


def test_rotating_a_secret_keeps_the_others(client, org):
    inbox = client.post("/api/v1/inboxes", json={"name": "Rot", "channel": "api"}, headers=org.headers("admin")).json()
    patched = client.patch(
        f"/api/v1/inboxes/{inbox['id']}",
        json={"secrets": {"hmac_secret": "new-secret-value-0123456789abcdef"}, "name": "Rotated"},
        headers=org.headers("admin"),
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Rotated"
    assert (
        client.post(f"/api/v1/inboxes/{inbox['id']}/reveal-secrets", headers=org.headers("admin")).json()["hmac_secret"]
        == "new-secret-value-0123456789abcdef"
    )


def test_inbox_validation_names_the_field(client, org):
    unknown = client.post(
        "/api/v1/inboxes", json={"name": "X", "channel": "carrier-pigeon"}, headers=org.headers("admin")
    )
    assert (
        unknown.status_code == 422
        and unknown.json()["errors"][0]["field"] == "channel"
        and "api" in unknown.json()["detail"]
    )
    bad_url = client.post(
        "/api/v1/inboxes",
        json={"name": "X", "channel": "api", "settings": {"callback_url": "ftp://nope"}},
        headers=org.headers("admin"),
    )
    assert bad_url.status_code == 422 and bad_url.json()["errors"][0]["field"] == "settings.callback_url"
    extra = client.post(
        "/api/v1/inboxes",
        json={"name": "X", "channel": "api", "settings": {"colour": "red"}},
        headers=org.headers("admin"),
    )
    assert extra.status_code == 422 and "colour" in extra.json()["detail"]
    hours = client.post(
        "/api/v1/inboxes",
        json={
            "name": "X",
            "channel": "api",
            "business_hours": {"timezone": "Europe/Rome", "weekly": {"mon": [["9", "18:00"]]}},
        },
        headers=org.headers("admin"),
    )
    assert hours.status_code == 422 and hours.json()["errors"][0]["field"] == "business_hours.weekly.mon.0"
    good = client.post(
        "/api/v1/inboxes",
        json={
            "name": "X",
            "channel": "api",
            "business_hours": {
                "timezone": "Europe/Rome",
                "weekly": {"mon": [["09:00", "18:00"]]},
                "closed_dates": ["2026-12-25"],
            },
        },
        headers=org.headers("admin"),
    )
    assert good.status_code == 201 and good.json()["business_hours"]["weekly"]["mon"] == [["09:00", "18:00"]]


def test_disabled_inbox_refuses_inbound_and_replies(client, org):
    from tests.helpers import create_api_inbox, customer_message, post_inbound

    inbox = create_api_inbox(client, org.headers())
    assert post_inbound(client, inbox, customer_message("dis-1", email="dis@example.com")).status_code == 200
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    client.patch(f"/api/v1/inboxes/{inbox.id}", json={"active": False}, headers=org.headers("admin"))
    assert post_inbound(client, inbox, customer_message("dis-2", email="dis@example.com")).status_code == 404
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "x"}, headers=org.headers("agent")
    )
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "inbox_id"
