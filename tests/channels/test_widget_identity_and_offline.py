"""The web chat widget's visitor identity and offline paths, on SQLite and PostgreSQL: HMAC identity linking
to the existing contact (a forged one links nothing, an email claimed by another contact is a suggestion),
the offline path and business hours that continue by email, and a reply from another process reaching the
visitor over the bus."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from raccordo.bootstrap.http import create_app
from raccordo.channels.widget.channel import identity_hash
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Conversation
from tests.helpers import create_api_inbox, post_inbound
from tests.support.agent_presence import online
from tests.support.orgs import make_org
from tests.support.widget import (
    ORIGIN,
    SmtpSink,
    deliver,
    email_inbox,
    open_session,
    until,
    visitor_socket,
    widget_inbox,
)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.close()


# --- identity --------------------------------------------------------------------------------------


def test_hmac_identity_links_to_the_existing_contact_and_a_forged_one_links_nothing(live):
    rt, client = live
    org = make_org(rt)
    inbox = widget_inbox(client, org)
    identifier, secret = inbox["identifier"], inbox["secrets"]["hmac_secret"]
    # The customer is known from the CRM integration (API channel) with external id "crm-77".
    api = create_api_inbox(client, org.headers())
    posted = post_inbound(
        client,
        api,
        {
            "message_id": "api-1",
            "contact": {"name": "Lucia Verdi", "identities": [{"kind": "external", "value": "crm-77"}]},
            "text": "Ordine",
        },
    )
    assert posted.status_code == 200
    contact_id = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]["contact_id"]
    anonymous = open_session(client, identifier).json()["visitor_token"]

    with unit_of_work(rt.sessions) as session:
        identities_before = session.scalar(
            select(func.count()).select_from(ContactIdentity).where(ContactIdentity.tenant_id == org.tenant_id)
        )
    forged = open_session(
        client, identifier, token=anonymous, user={"id": "crm-77", "hash": identity_hash("wrong secret", "crm-77")}
    )
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("application/problem+json")
    assert "HMAC" in forged.json()["detail"]
    with unit_of_work(rt.sessions) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(ContactIdentity).where(ContactIdentity.tenant_id == org.tenant_id)
            )
            == identities_before
        )

    verified = open_session(
        client,
        identifier,
        token=anonymous,
        user={"id": "crm-77", "hash": identity_hash(secret, "crm-77"), "name": "Lucia Verdi"},
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["verified"] is True
    token = body["visitor_token"]
    with visitor_socket(client, identifier, token) as ws:
        hello = until(ws, lambda f: f["type"] == "hello")
        assert [m["text"] for m in hello["messages"]] == [], "only conversations that went through the widget are shown"
        ws.send_json({"type": "message", "client_id": "v-1", "text": "Sono io, dal sito"})
        message = until(ws, lambda f: f["type"] == "message")["message"]
    contact = client.get(f"/api/v1/contacts/{contact_id}", headers=org.headers()).json()
    kinds = {(i["kind"], i["verified"]) for i in contact["identities"]}
    assert ("external", True) in kinds and ("web_visitor", True) in kinds
    # The same conversation: the customer's, across channels.
    conversation = client.get(f"/api/v1/conversations/{message['conversation_id']}", headers=org.headers()).json()
    assert conversation["contact_id"] == contact_id and conversation["last_channel"] == "widget"
    assert len(client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()) == 2


# --- no agent available: the conversation goes on by email ---------------------------------------


def test_offline_path_continues_by_email(live, smtp):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    without_email = open_session(client, identifier).json()
    assert without_email["availability"] == {"available": False, "reason": "no_agents", "email_fallback": False}
    mail_inbox = email_inbox(client, org, smtp)
    token = open_session(client, identifier).json()["visitor_token"]
    address = f"visitatore-{uuid.uuid4().hex[:6]}@example.com"
    with visitor_socket(client, identifier, token) as ws:
        hello = until(ws, lambda f: f["type"] == "hello")
        assert hello["availability"] == {"available": False, "reason": "no_agents", "email_fallback": True}
        ws.send_json({"type": "message", "client_id": "o-1", "text": "C'è nessuno?"})
        conversation_id = until(ws, lambda f: f["type"] == "message")["message"]["conversation_id"]
        ws.send_json({"type": "details", "email": "non-un-indirizzo"})
        assert until(ws, lambda f: f["type"] in ("error", "details"))["field"] == "email"
        ws.send_json({"type": "details", "email": address})
        details = until(ws, lambda f: f["type"] == "details")
        assert details["email"] == address and details["linked"] is True
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=org.headers()).json()
    assert conversation["last_inbox_id"] == mail_inbox["id"] and conversation["last_channel"] == "email"
    timeline = client.get(f"/api/v1/conversations/{conversation_id}/timeline", headers=org.headers()).json()
    assert any(e["kind"] == "channel.switch" and e["data"]["to_channel"] == "email" for e in timeline)
    # The agent answers later, with the default inbox: it goes by email to the visitor.
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        json={"text": "Eccoci, ti rispondiamo per email."},
        headers=org.headers("agent"),
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["channel"] == "email"
    assert deliver(rt, reply.json()["id"]) == "sent"
    for _ in range(100):
        if smtp.received:
            break
        time.sleep(0.05)
    recipients, raw = smtp.received[0]
    assert recipients == [address] and b"Eccoci, ti rispondiamo per email." in raw
    # Back on the site, the visitor sees the email reply in the same conversation.
    with visitor_socket(client, identifier, token) as ws:
        hello = until(ws, lambda f: f["type"] == "hello")
        assert [(m["from"], m["channel"]) for m in hello["messages"]] == [("visitor", "widget"), ("agent", "email")]


def test_outside_business_hours(live):
    rt, client = live
    org = make_org(rt)
    closed = {"timezone": "Europe/Rome", "weekly": {}, "closed_dates": []}
    inbox = client.post(
        "/api/v1/inboxes",
        json={"name": "W", "channel": "widget", "settings": {"allowed_origins": [ORIGIN]}, "business_hours": closed},
        headers=org.headers(),
    )
    assert inbox.status_code == 201, inbox.text
    assert open_session(client, inbox.json()["identifier"]).json()["availability"]["reason"] == "outside_hours"
    always = {
        "timezone": "Europe/Rome",
        "weekly": {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
    client.patch(f"/api/v1/inboxes/{inbox.json()['id']}", json={"business_hours": always}, headers=org.headers())
    now_rome = datetime.now(UTC).astimezone(ZoneInfo("Europe/Rome"))
    expected = "outside_hours" if now_rome.strftime("%H:%M") >= "23:59" else None
    with online(client, org):
        assert open_session(client, inbox.json()["identifier"]).json()["availability"]["reason"] == expected


def test_email_claimed_by_another_contact_is_a_suggestion_not_a_link(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    owner = client.post(
        "/api/v1/contacts",
        json={"name": "Mario Rossi", "identities": [{"kind": "email", "value": "mario@example.com"}]},
        headers=org.headers(),
    )
    assert owner.status_code == 201, owner.text
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token) as ws:
        until(ws, lambda f: f["type"] == "hello")
        ws.send_json({"type": "details", "name": "Mario?", "email": "MARIO@example.com"})
        details = until(ws, lambda f: f["type"] == "details")
        assert details["linked"] is False
    suggestions = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": owner.json()["id"]}, headers=org.headers()
    ).json()
    assert len(suggestions) == 1
    with unit_of_work(rt.sessions) as session:
        owners = set(
            session.scalars(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.tenant_id == org.tenant_id, ContactIdentity.value == "mario@example.com"
                )
            )
        )
        assert owners == {owner.json()["id"]}
        assert (
            session.scalar(
                select(func.count()).select_from(Conversation).where(Conversation.tenant_id == org.tenant_id)
            )
            == 0
        )


REDIS_URL = os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_a_reply_sent_by_another_process_reaches_the_visitor_over_the_bus(database_url, tmp_path):
    """Two app processes' worth of runtime on one database and a Redis bus: the visitor's socket is on
    the first, the reply is sent (outbox) by the second; the bus wakes the first, which reads it from
    the database. The rate limits share Redis too."""
    apps = []
    for name in ("node-a", "node-b"):
        settings = Settings(
            data_dir=tmp_path / name,
            database_url=database_url,
            secret_key="test-secret-key",
            bus_url=REDIS_URL,
            ws_heartbeat_seconds=0.5,
            embedded_worker=False,
        )
        runtime = Runtime.build(settings)
        apps.append((runtime, TestClient(create_app(runtime), raise_server_exceptions=False)))
    (rt_a, client_a), (rt_b, client_b) = apps
    try:
        with client_a, client_b:
            if client_a.get("/readyz").json()["bus"] != "ok":
                pytest.fail(
                    f"Redis at {REDIS_URL} is not reachable: start it with redis-server --daemonize yes"
                    " (or set RACCORDO_TEST_REDIS_URL)",
                    pytrace=False,
                )
            org = make_org(rt_a)
            identifier = widget_inbox(client_a, org, visitor_messages_per_minute=2)["identifier"]
            token = open_session(client_a, identifier).json()["visitor_token"]
            with visitor_socket(client_a, identifier, token) as ws:
                until(ws, lambda f: f["type"] == "hello")
                ws.send_json({"type": "message", "client_id": "n-1", "text": "Ciao dal nodo A"})
                conversation_id = until(ws, lambda f: f["type"] == "message")["message"]["conversation_id"]
                reply = client_b.post(
                    f"/api/v1/conversations/{conversation_id}/reply",
                    json={"text": "Risposta dal nodo B"},
                    headers=org.headers("agent"),
                )
                assert reply.status_code == 201, reply.text
                assert deliver(rt_b, reply.json()["id"]) == "sent"
                shown = until(ws, lambda f: f["type"] == "message" and f["message"]["from"] == "agent")
                assert shown["message"]["text"] == "Risposta dal nodo B"
                # The visitor's limit holds across both processes (counted in Redis).
                ws.send_json({"type": "message", "client_id": "n-2", "text": "Secondo"})
                until(ws, lambda f: f["type"] == "ack")
            with visitor_socket(client_b, identifier, token) as ws:
                until(ws, lambda f: f["type"] == "hello")
                ws.send_json({"type": "message", "client_id": "n-3", "text": "Terzo, dal nodo B"})
                assert until(ws, lambda f: f["type"] in ("ack", "error"))["status"] == 429
    finally:
        for runtime, _ in apps:
            runtime.close()
