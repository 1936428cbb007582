"""The WhatsApp webhook through the product's routes: Meta's GET verification, signed POSTs, duplicates,
the app-level URL serving several numbers, and the 24-hour window in the reply service. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Message
from tests.channels.whatsapp.helpers import new_number, whatsapp_inbox
from tests.channels.whatsapp.payloads import CUSTOMER, SAMPLES, envelope, message, signed


def _counts(rt, inbox_id: int) -> tuple[int, int]:
    with unit_of_work(rt.sessions) as session:
        raws = session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox_id))
        rejected = session.scalar(
            select(func.count()).select_from(InboundRejection).where(InboundRejection.inbox_id == inbox_id)
        )
        return int(raws or 0), int(rejected or 0)


def test_meta_verifies_the_webhook_with_the_inboxs_verify_token(client, rt, org):
    inbox = whatsapp_inbox(client, org)
    assert set(inbox["secrets"]) == {"access_token", "app_secret", "verify_token"}  # the verify token generated
    assert inbox["settings"]["graph_base_url"] == "https://graph.facebook.com/v21.0"
    assert inbox["settings"]["language"] == "it"
    url = f"/api/v1/channels/whatsapp/{inbox['identifier']}/messages"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": inbox["secrets"]["verify_token"],
        "hub.challenge": "1158201444",
    }
    answer = client.get(url, params=good)
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert answer.headers["content-type"].startswith("text/plain")
    assert client.get(url, params=good | {"hub.verify_token": "guess"}).status_code == 403
    assert client.get(url, params=good | {"hub.mode": "unsubscribe"}).status_code == 403
    assert _counts(rt, inbox["id"]) == (0, 2)
    # The app-level URL accepts the verify token of any WhatsApp inbox.
    assert client.get("/api/v1/channels/whatsapp/webhook", params=good).text == "1158201444"
    assert client.get("/api/v1/channels/whatsapp/webhook", params=good | {"hub.verify_token": "x"}).status_code == 403


def test_signed_messages_are_stored_once_and_bad_signatures_refused(client, rt, org):
    inbox = whatsapp_inbox(client, org)
    number, secret = inbox["settings"]["phone_number_id"], inbox["secrets"]["app_secret"]
    url = f"/api/v1/channels/whatsapp/{inbox['identifier']}/messages"
    body, headers = signed(secret, message(number, "text", SAMPLES["text"], wamid="wamid.first"))

    first = client.post(url, content=body, headers=headers)
    assert first.status_code == 200, first.text
    (message_id,) = first.json()["message_ids"]
    again = client.post(url, content=body, headers=headers)  # Meta retries a delivery it thinks failed
    assert again.json()["message_ids"] == [message_id] and again.json()["duplicates"] == 1
    with unit_of_work(rt.sessions) as session:
        stored = session.get_one(Message, message_id)
        assert stored.text == "Does it come in another color?" and stored.provider_message_id == "wamid.first"
        kinds = session.execute(
            select(ContactIdentity.kind, ContactIdentity.value).where(ContactIdentity.tenant_id == org.tenant_id)
        ).all()
        assert ("whatsapp", f"+{CUSTOMER}") in kinds
    assert _counts(rt, inbox["id"]) == (2, 0)

    forged = client.post(url, content=body, headers=headers | {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    unsigned = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    tampered = client.post(url, content=body.replace(b"color", b"colour"), headers=headers)
    assert tampered.status_code == 401
    assert _counts(rt, inbox["id"]) == (2, 3)  # refused requests: counted, never stored


def test_one_app_webhook_serves_several_phone_numbers(client, rt, org, other_org):
    secret = "app-secret-shared-by-the-meta-app"
    first = whatsapp_inbox(client, org, app_secret=secret)
    second = whatsapp_inbox(client, other_org, app_secret=secret)
    payload = message(first["settings"]["phone_number_id"], "text", {"body": "per il primo"}, wamid="wamid.app1")
    other = message(second["settings"]["phone_number_id"], "text", {"body": "per il secondo"}, wamid="wamid.app2")
    payload["entry"].extend(other["entry"])
    body, headers = signed(secret, payload)
    answer = client.post("/api/v1/channels/whatsapp/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    with unit_of_work(rt.sessions) as session:
        texts = {
            row.inbox_id: (row.tenant_id, row.text)
            for row in session.scalars(
                select(Message).where(Message.provider_message_id.in_(["wamid.app1", "wamid.app2"]))
            )
        }
    assert texts == {
        first["id"]: (org.tenant_id, "per il primo"),
        second["id"]: (other_org.tenant_id, "per il secondo"),
    }
    # A third inbox of the same number with another (wrong) app secret is refused and counted; the others
    # still get theirs.
    third = whatsapp_inbox(client, org, number=first["settings"]["phone_number_id"], app_secret="wrong")
    again = message(first["settings"]["phone_number_id"], "text", {"body": "ancora"}, wamid="wamid.app3")
    body, headers = signed(secret, again)
    assert client.post("/api/v1/channels/whatsapp/webhook", content=body, headers=headers).status_code == 200
    with unit_of_work(rt.sessions) as session:
        assert session.scalars(select(Message.inbox_id).where(Message.provider_message_id == "wamid.app3")).all() == [
            first["id"]
        ]
    assert _counts(rt, third["id"]) == (0, 1)
    body, headers = signed("nobody's secret", again)
    assert client.post("/api/v1/channels/whatsapp/webhook", content=body, headers=headers).status_code == 401
    unknown = envelope(new_number(), {"messages": []})
    body, headers = signed(secret, unknown)
    assert client.post("/api/v1/channels/whatsapp/webhook", content=body, headers=headers).status_code == 404


def test_the_reply_window_closes_24_hours_after_the_customers_last_message(client, rt, org):
    inbox = whatsapp_inbox(client, org)
    number, secret = inbox["settings"]["phone_number_id"], inbox["secrets"]["app_secret"]
    url = f"/api/v1/channels/whatsapp/{inbox['identifier']}/messages"
    body, headers = signed(secret, message(number, "text", {"body": "ciao"}, wamid="wamid.window1"))
    (message_id,) = client.post(url, content=body, headers=headers).json()["message_ids"]
    with unit_of_work(rt.sessions) as session:
        conversation_id = session.get_one(Message, message_id).conversation_id
        session.execute(
            update(Message).where(Message.id == message_id).values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    refused = client.post(
        f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": "ciao"}
    )
    assert refused.status_code == 422 and "template" in refused.text.lower()
    # The customer writes again: the window reopens.
    body, headers = signed(secret, message(number, "text", {"body": "ci sono"}, wamid="wamid.window2"))
    assert client.post(url, content=body, headers=headers).status_code == 200
    accepted = client.post(f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": "ok"})
    assert accepted.status_code == 201, accepted.text
