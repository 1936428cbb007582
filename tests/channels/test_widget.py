"""The web chat widget at the API and WebSocket level, on SQLite and PostgreSQL: settings, the script,
sessions and origins, the visitor's socket (messages both ways through the outbox, idempotency, typing,
read receipts, attachments, rate limits, bad frames)."""

from __future__ import annotations

import base64
import gzip
import time

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from raccordo.channels.models import RawInbound
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Message
from tests.support.agent_presence import online
from tests.support.orgs import Org, make_org
from tests.support.widget import ORIGIN, deliver, open_session, until, visitor_socket, widget_inbox

# --- settings, script, sessions ------------------------------------------------------------------


def test_widget_inbox_settings_are_checked(live):
    rt, client = live
    org = make_org(rt)
    missing = client.post(
        "/api/v1/inboxes", json={"name": "W", "channel": "widget", "settings": {}}, headers=org.headers()
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "settings.allowed_origins"
    bad_origin = client.post(
        "/api/v1/inboxes",
        json={"name": "W", "channel": "widget", "settings": {"allowed_origins": ["https://x.example.com/path"]}},
        headers=org.headers(),
    )
    assert bad_origin.status_code == 422 and "https://x.example.com/path" in bad_origin.json()["detail"]
    bad_color = client.post(
        "/api/v1/inboxes",
        json={"name": "W", "channel": "widget", "settings": {"allowed_origins": ["*"], "colors": {"primary": "red"}}},
        headers=org.headers(),
    )
    assert bad_color.status_code == 422 and bad_color.json()["errors"][0]["field"] == "settings.colors.primary"
    no_label = client.post(
        "/api/v1/inboxes",
        json={
            "name": "W",
            "channel": "widget",
            "settings": {"allowed_origins": ["*"], "prechat_fields": [{"name": "order"}]},
        },
        headers=org.headers(),
    )
    assert no_label.status_code == 422 and no_label.json()["errors"][0]["field"] == "settings.prechat_fields.0.label"
    inbox = widget_inbox(client, org, colors={"primary": "#AA0000"}, greeting={"it": "Ciao!", "en": "Hello!"})
    assert set(inbox["secrets"]) == {"hmac_secret", "visitor_secret"}
    assert inbox["settings"]["allowed_origins"] == [ORIGIN] and inbox["settings"]["colors"]["primary"] == "#aa0000"
    # The widget never receives on the webhook URL.
    assert client.post(f"/api/v1/channels/widget/{inbox['identifier']}/messages", content=b"{}").status_code == 405


def test_the_script_is_small_gzipped_and_cacheable(live):
    _, client = live
    plain = client.get("/widget/widget.js", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/javascript")
    assert plain.text.startswith("/*!\n * Raccordo web chat widget"), "the script starts with its comment header"
    size = len(gzip.compress(plain.content, 9))
    print(f"widget.js: {len(plain.content)} bytes, {size} bytes gzipped")
    assert size < 30 * 1024
    zipped = client.get("/widget/widget.js", headers={"accept-encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip" and zipped.content == plain.content  # httpx decodes it
    assert client.get("/widget/widget.js", headers={"if-none-match": plain.headers["etag"]}).status_code == 304
    assert "innerHTML" not in plain.text and "insertAdjacentHTML" not in plain.text, "messages are rendered as text"


def test_session_checks_origin_and_inbox(live):
    rt, client = live
    org = make_org(rt)
    inbox = widget_inbox(client, org)
    identifier = inbox["identifier"]
    assert open_session(client, "no-such-inbox").status_code == 404
    missing = open_session(client, identifier, origin=None)
    assert missing.status_code == 403 and "Origin" in missing.json()["detail"]
    evil = open_session(client, identifier, origin="https://evil.example.com")
    assert evil.status_code == 403 and "https://evil.example.com" in evil.json()["detail"]
    assert (
        evil.headers["access-control-allow-origin"] == "https://evil.example.com"
    )  # readable by the widget, still refused
    preflight = client.options(
        f"/widget/{identifier}/session",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == ORIGIN
    italian = open_session(client, identifier, language="it")
    assert italian.status_code == 200, italian.text
    body = italian.json()
    assert body["strings"]["send"] == "Invia" and body["strings"]["title"] == "Sito"
    assert body["availability"] == {"available": False, "reason": "no_agents", "email_fallback": False}
    again = open_session(client, identifier, token=body["visitor_token"]).json()
    assert again["visitor_id"] == body["visitor_id"] and again["strings"]["send"] == "Send"
    forged = open_session(client, identifier, token=body["visitor_id"] + ".deadbeef").json()
    assert forged["visitor_id"] != body["visitor_id"], "a forged token gets a new visitor, not the one it names"
    # Nothing was created for a visitor who has not written yet.
    with unit_of_work(rt.sessions) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(ContactIdentity).where(ContactIdentity.tenant_id == org.tenant_id)
            )
            == 0
        )


def test_socket_refuses_bad_origin_and_token(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    for origin, candidate in (("https://evil.example.com", token), (ORIGIN, token[:-2] + "00"), (ORIGIN, "")):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            visitor_socket(client, identifier, candidate, origin=origin) as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008


# --- the conversation ------------------------------------------------------------------------------


def test_visitor_and_agent_talk_through_the_common_paths(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    with online(client, org):
        session = open_session(client, identifier).json()
    assert session["availability"]["available"] is True
    token = session["visitor_token"]
    with visitor_socket(client, identifier, token) as ws:
        hello = until(ws, lambda f: f["type"] == "hello")
        assert hello["messages"] == [] and hello["visitor_id"] == session["visitor_id"]
        ws.send_json(
            {
                "type": "message",
                "client_id": "c-1",
                "text": "<b>Buongiorno</b>, il mio ordine?",
                "page_url": "https://shop.example.com/ordini/42",
                "referrer": "https://www.google.com/",
                "attributes": {"plan": "gold", "cart_items": 3},
            }
        )
        ack = until(ws, lambda f: f["type"] == "ack")
        assert ack["client_id"] == "c-1" and ack["duplicate"] is False
        echo = until(ws, lambda f: f["type"] == "message")
        assert (
            echo["message"]["id"] == ack["message_id"]
            and echo["message"]["from"] == "visitor"
            and echo["message"]["client_id"] == "c-1"
        )
        # Idempotent by the client's id: a resend after a lost ack stores nothing new.
        ws.send_json({"type": "message", "client_id": "c-1", "text": "<b>Buongiorno</b>, il mio ordine?"})
        again = until(ws, lambda f: f["type"] == "ack")
        assert again["message_id"] == ack["message_id"] and again["duplicate"] is True

        # The agent side: the same conversation API as every channel, with what the host page set.
        conversations = client.get("/api/v1/conversations", headers=org.headers("agent")).json()["items"]
        assert len(conversations) == 1
        conversation = conversations[0]
        assert conversation["last_channel"] == "widget"
        detail = client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers("agent")).json()
        assert detail["custom_attributes"] == {
            "plan": "gold",
            "cart_items": 3,
            "page_url": "https://shop.example.com/ordini/42",
            "referrer": "https://www.google.com/",
        }
        messages = client.get(
            f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers("agent")
        ).json()
        assert [m["text"] for m in messages] == ["<b>Buongiorno</b>, il mio ordine?"] and messages[0]["html"] is None
        with unit_of_work(rt.sessions) as db:
            raws = list(
                db.scalars(select(RawInbound).where(RawInbound.tenant_id == org.tenant_id).order_by(RawInbound.id))
            )
            assert len(raws) == 2 and {r.status for r in raws} == {"processed"}, (
                "each message is stored raw before it is ingested"
            )

        # The agent replies: queued in the outbox, visible to the visitor once the widget channel sent it.
        reply = client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": "Arriva domani!"},
            headers=org.headers("agent"),
        )
        assert reply.status_code == 201, reply.text
        reply_id = reply.json()["id"]
        assert deliver(rt, reply_id) == "sent"
        shown = until(ws, lambda f: f["type"] == "message" and f["message"]["id"] == reply_id)
        assert (
            shown["message"]["from"] == "agent"
            and shown["message"]["text"] == "Arriva domani!"
            and shown["message"]["sender_name"] == "Agent User"
        )
        # Delivered to the visitor's browser, then read when the visitor looks.
        _wait_status(client, org, conversation["id"], reply_id, "delivered")
        ws.send_json({"type": "read", "message_id": reply_id})
        _wait_status(client, org, conversation["id"], reply_id, "read")
        # The agent read the conversation: the visitor sees "seen".
        assert (
            client.post(f"/api/v1/conversations/{conversation['id']}/seen", headers=org.headers("agent")).status_code
            == 200
        )
        assert until(ws, lambda f: f["type"] == "seen")["at"]

    # A reload (same token) keeps the history, in order.
    with visitor_socket(client, identifier, token) as ws:
        hello = until(ws, lambda f: f["type"] == "hello")
        assert [(m["from"], m["text"]) for m in hello["messages"]] == [
            ("visitor", "<b>Buongiorno</b>, il mio ordine?"),
            ("agent", "Arriva domani!"),
        ]
        assert hello["agent_seen_at"]
    # Another visitor sees none of it.
    stranger = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, stranger) as ws:
        assert until(ws, lambda f: f["type"] == "hello")["messages"] == []


def _wait_status(client: TestClient, org: Org, conversation_id: int, message_id: int, status: str) -> None:
    for _ in range(100):
        messages = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers("agent")).json()
        if next(m for m in messages if m["id"] == message_id)["delivery_status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} never became {status}")


def test_typing_goes_both_ways(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token) as visitor:
        until(visitor, lambda f: f["type"] == "hello")
        visitor.send_json({"type": "message", "client_id": "t-1", "text": "Ciao"})
        conversation_id = until(visitor, lambda f: f["type"] == "message")["message"]["conversation_id"]
        with client.websocket_connect("/ws", subprotocols=[f"raccordo.token.{org.tokens['supervisor']}"]) as agent:
            until(agent, lambda f: f["type"] == "hello")
            visitor.send_json({"type": "typing", "state": True})
            seen = until(agent, lambda f: f["type"] == "typing")
            assert seen == {"type": "typing", "conversation_id": conversation_id, "user_id": None, "state": True}
            agent.send_json({"type": "typing", "conversation_id": conversation_id, "state": True})
            assert until(visitor, lambda f: f["type"] == "typing")["state"] is True


def test_attachments_limits_and_download(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(
        client, org, max_attachment_bytes=1000, attachment_types=["image/png", "application/pdf"]
    )["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    with visitor_socket(client, identifier, token) as ws:
        until(ws, lambda f: f["type"] == "hello")
        ws.send_json(
            {
                "type": "message",
                "client_id": "a-1",
                "text": "",
                "attachments": [
                    {
                        "filename": "x.html",
                        "content_type": "text/html",
                        "data_base64": base64.b64encode(b"<script>").decode(),
                    }
                ],
            }
        )
        refused = until(ws, lambda f: f["type"] == "error")
        assert refused["status"] == 415 and refused["client_id"] == "a-1" and "text/html" in refused["message"]
        ws.send_json(
            {
                "type": "message",
                "client_id": "a-2",
                "attachments": [
                    {
                        "filename": "big.pdf",
                        "content_type": "application/pdf",
                        "data_base64": base64.b64encode(b"%" * 1001).decode(),
                    }
                ],
            }
        )
        too_big = until(ws, lambda f: f["type"] == "error")
        assert too_big["status"] == 413 and "1000" in too_big["message"]
        ws.send_json(
            {
                "type": "message",
                "client_id": "a-3",
                "text": "Foto",
                "attachments": [
                    {"filename": "foto.png", "content_type": "image/png", "data_base64": base64.b64encode(png).decode()}
                ],
            }
        )
        message = until(ws, lambda f: f["type"] == "message")["message"]
    attachment = message["attachments"][0]
    assert attachment["filename"] == "foto.png" and attachment["size"] == len(png)
    url = f"/widget/{identifier}/attachments/{attachment['id']}"
    got = client.get(url, headers={"origin": ORIGIN, "x-raccordo-visitor": token})
    assert got.status_code == 200 and got.content == png and got.headers["content-type"] == "image/png"
    other = open_session(client, identifier).json()["visitor_token"]
    assert client.get(url, headers={"origin": ORIGIN, "x-raccordo-visitor": other}).status_code == 404
    assert client.get(url, headers={"origin": ORIGIN}).status_code == 401
    with unit_of_work(rt.sessions) as session:
        statuses = sorted(session.scalars(select(RawInbound.status).where(RawInbound.tenant_id == org.tenant_id)))
    assert statuses == ["failed", "failed", "processed"], "refused payloads are kept with their error"


def test_rate_limit_per_visitor(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org, visitor_messages_per_minute=3)["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token) as ws:
        until(ws, lambda f: f["type"] == "hello")
        for index in range(3):
            ws.send_json({"type": "message", "client_id": f"r-{index}", "text": f"Messaggio {index}"})
            until(ws, lambda f: f["type"] == "ack")
        ws.send_json({"type": "message", "client_id": "r-3", "text": "Uno di troppo"})
        limited = until(ws, lambda f: f["type"] == "error")
        assert limited["status"] == 429 and limited["retry_after"] >= 1 and limited["client_id"] == "r-3"
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.tenant_id == org.tenant_id)) == 3


def test_bad_frames_get_clear_errors(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token, lang="it") as ws:
        until(ws, lambda f: f["type"] == "hello")
        ws.send_text("not json")
        assert until(ws, lambda f: f["type"] == "error")["message"] == "I messaggi devono essere oggetti JSON."
        ws.send_json({"type": "message", "text": "senza id"})
        assert until(ws, lambda f: f["type"] == "error")["field"] == "client_id"
        ws.send_json({"type": "message", "client_id": "e-1", "text": "x", "attributes": {"nested": {"a": 1}}})
        assert until(ws, lambda f: f["type"] == "error")["code"] == "widget.attributes_invalid"
        ws.send_json({"type": "boh"})
        assert until(ws, lambda f: f["type"] == "error")["code"] == "widget.frame_unknown"
