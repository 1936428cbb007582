"""The API channel end to end: signed inbound, idempotency, continuity, reply to a signed callback."""

from __future__ import annotations

import json

from raccordo.channels import signing
from raccordo.channels.models import RawInbound
from raccordo.channels.services.delivery import run_once
from raccordo.platform.store.db import unit_of_work
from tests.helpers import create_api_inbox, customer_message, post_inbound


def test_inbound_message_becomes_conversation_and_reply_reaches_signed_callback(client, rt, org, callback):
    inbox = create_api_inbox(client, org.headers(), callback_url=callback.url)
    response = post_inbound(
        client, inbox, customer_message("ext-1", "Il mio ordine non è arrivato", email="Mario.Rossi@Example.com")
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["message_ids"][0]

    conversations = client.get("/api/v1/conversations", headers=org.headers("agent")).json()["items"]
    assert len(conversations) == 1
    conversation = conversations[0]
    assert conversation["last_channel"] == "api" and conversation["status"] == "open"
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers("agent")).json()
    assert [m["id"] for m in messages] == [message_id]
    assert messages[0]["text"] == "Il mio ordine non è arrivato"
    contact = client.get(f"/api/v1/contacts/{conversation['contact_id']}", headers=org.headers("agent")).json()
    assert contact["identities"][0]["value"] == "mario.rossi@example.com"

    # The runtime is shared by the session: let earlier tests' due deliveries go first, so the
    # count below is this reply's alone.
    for _ in range(20):
        if run_once(rt) == 0:
            break
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply",
        json={"text": "Controllo subito"},
        headers=org.headers("agent"),
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["delivery_status"] == "queued"
    assert run_once(rt) == 1
    assert len(callback.received) == 1
    hit = callback.received[0]
    assert signing.verify(inbox.secret, hit["body"], hit["headers"]) is None
    payload = json.loads(hit["body"])
    assert payload["message"]["text"] == "Controllo subito"
    assert payload["recipient"] == {"kind": "email", "value": "mario.rossi@example.com"}
    assert hit["headers"]["idempotency-key"] == payload["idempotency_key"]
    sent = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers("agent")).json()[-1]
    assert sent["delivery_status"] == "sent" and sent["provider_message_id"] == "cb-1"
    refreshed = client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers("agent")).json()
    assert refreshed["first_response_at"] is not None


def test_same_provider_id_twice_stores_one_message(client, org):
    inbox = create_api_inbox(client, org.headers())
    first = post_inbound(client, inbox, customer_message("dup-1", email="a.b@example.com"))
    second = post_inbound(client, inbox, customer_message("dup-1", email="a.b@example.com"))
    assert first.status_code == second.status_code == 200
    assert first.json()["message_ids"] == second.json()["message_ids"]
    assert second.json()["duplicates"] == 1
    items = client.get("/api/v1/conversations", headers=org.headers()).json()["items"]
    messages = client.get(f"/api/v1/conversations/{items[0]['id']}/messages", headers=org.headers()).json()
    assert len(messages) == 1


def test_bad_signature_is_rejected_and_counted_not_stored(client, rt, org):
    from raccordo.channels.models import InboundRejection

    inbox = create_api_inbox(client, org.headers())
    response = post_inbound(client, inbox, customer_message("x-1"), secret="wrong")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signature" in response.json()["detail"].lower()
    with unit_of_work(rt.sessions) as session:
        # An unauthenticated body is not stored (tests/channels/test_inbound_hardening.py): only a compact record.
        assert session.query(RawInbound).filter_by(inbox_id=inbox.id).count() == 0
        rejection = session.query(InboundRejection).filter_by(inbox_id=inbox.id).one()
        assert rejection.reason.startswith("signature.") and rejection.size > 0 and len(rejection.sha256) == 64


def test_malformed_payload_gets_field_and_raw_is_kept(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    body = b'{"message_id": "m", "contact": {"identities": []}}'
    response = client.post(
        inbox.url, content=body, headers={"Content-Type": "application/json", **signing.sign(inbox.secret, body)}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contact.identities"
    garbage = b"\xff\xfe not json"
    response = client.post(inbox.url, content=garbage, headers=signing.sign(inbox.secret, garbage))
    assert response.status_code == 422
    with unit_of_work(rt.sessions) as session:
        bodies = [r.body for r in session.query(RawInbound).filter_by(inbox_id=inbox.id)]
    assert garbage in bodies and body in bodies
    # The process keeps serving.
    assert post_inbound(client, inbox, customer_message("ok-1")).status_code == 200


def test_stale_timestamp_is_refused(client, org):
    inbox = create_api_inbox(client, org.headers())
    response = post_inbound(client, inbox, customer_message("old-1"), timestamp=1_000_000_000)
    assert response.status_code == 401


def test_unknown_inbox_is_404(client):
    response = client.post("/api/v1/channels/api/nope/messages", content=b"{}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_message_on_another_channel_joins_open_conversation_with_switch_event(client, org):
    chat = create_api_inbox(client, org.headers(), name="Chat")
    whatsapp_like = create_api_inbox(client, org.headers(), name="WhatsApp bridge")
    post_inbound(client, chat, customer_message("c-1", "Ciao", phone="+39 347 123 4567"))
    post_inbound(client, whatsapp_like, customer_message("w-1", "Sono io", whatsapp="393471234567"))
    items = client.get("/api/v1/conversations", headers=org.headers()).json()["items"]
    assert len(items) == 1, "the second message must join the open conversation"
    conversation = items[0]
    assert conversation["last_inbox_id"] == whatsapp_like.id
    kinds = [
        e["kind"]
        for e in client.get(f"/api/v1/conversations/{conversation['id']}/timeline", headers=org.headers()).json()
    ]
    assert "channel.switch" in kinds
    contact = client.get(f"/api/v1/contacts/{conversation['contact_id']}", headers=org.headers()).json()
    assert {(i["kind"], i["value"]) for i in contact["identities"]} == {
        ("phone", "+393471234567"),
        ("whatsapp", "+393471234567"),
    }


def test_attachment_is_stored_and_downloadable(client, org):
    import base64

    inbox = create_api_inbox(client, org.headers())
    payload = customer_message("att-1")
    payload["attachments"] = [
        {
            "filename": "ricevuta.pdf",
            "content_type": "application/pdf",
            "data_base64": base64.b64encode(b"%PDF-1.4 test").decode(),
        }
    ]
    message_id = post_inbound(client, inbox, payload).json()["message_ids"][0]
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    message = next(
        m
        for m in client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
        if m["id"] == message_id
    )
    attachment = message["attachments"][0]
    assert attachment["filename"] == "ricevuta.pdf" and attachment["size"] == 13
    download = client.get(f"/api/v1/attachments/{attachment['id']}", headers=org.headers("agent"))
    assert download.status_code == 200 and download.content == b"%PDF-1.4 test"
    assert download.headers["content-disposition"].startswith("attachment")
