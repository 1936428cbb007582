"""SMS round trips through the provider sandbox's Twilio and Vonage, both sides over real HTTP: the
customer texts (delivered twice: one message), an MMS photo is downloaded with the account's auth,
STOP and START change the contact's SMS marketing consent, the agent's reply goes out through the
outbox and its statuses come back signed and out of order; provider errors retry (429) or fail for
good with a reason the agent reads (21211, 21610, an undelivered status). Both databases."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from raccordo.channels.models import InboundRejection, OutboxItem, RawInbound
from raccordo.channels.sms import media
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Contact, Conversation, Message
from tests.support.mail import wait_for
from tests.support.widget import deliver

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _number() -> str:
    return f"+39347{uuid.uuid4().int % 10**7:07d}"


def _inbox(client, org, settings: dict, secrets_: dict) -> dict:
    answer = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={"name": "SMS", "channel": "sms", "settings": settings, "secrets": secrets_},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def twilio_setup(client, org, sandbox, served, **account) -> tuple[dict, str]:
    sid, token, sender = "AC" + secrets.token_hex(16), secrets.token_hex(16), _number()
    inbox = _inbox(
        client,
        org,
        {"provider": "twilio", "sender": sender, "twilio_account_sid": sid, "twilio_api_base_url": sandbox.url},
        {"twilio_auth_token": token},
    )
    webhook = f"{served}/api/v1/channels/sms/{inbox['identifier']}/messages"
    # The status callback is the inbox's own webhook URL, as the docs tell the admin to set it.
    updated = client.patch(
        f"/api/v1/inboxes/{inbox['id']}",
        headers=org.headers(),
        json={"settings": {**inbox["settings"], "status_callback_url": webhook}},
    )
    assert updated.status_code == 200, updated.text
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/twilio/accounts",
        json={"account_sid": sid, "auth_token": token, "numbers": [sender], "webhook_url": webhook, **account},
    )
    assert registered.status_code == 200
    return inbox, f"{sandbox.url}/_sandbox/twilio/accounts/{sid}"


def _texts(control: str, number: str, text: str, **extra) -> str:
    answer = httpx.post(f"{control}/customers/{number}/messages", json={"text": text, **extra}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert all(d["status"] == 200 for d in answer.json()["deliveries"]), answer.json()
    return answer.json().get("sid") or answer.json()["message_uuid"]


def _message(rt, **where) -> Message:
    with unit_of_work(rt.sessions) as session:
        found = session.scalars(select(Message).filter_by(**where)).one()
        session.expunge(found)
        return found


def _reply(client, org, conversation_id: int, text: str) -> int:
    answer = client.post(f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": text})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _redo(rt, message_id: int) -> None:
    """Make a retrying send due now (the backoff would wait seconds)."""
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
        item.due_at = datetime.now(UTC)


def _consent(rt, contact_id: int) -> dict:
    with unit_of_work(rt.sessions) as session:
        return dict(session.get_one(Contact, contact_id).consent)


def test_twilio_round_trip_with_duplicates_mms_and_statuses_out_of_order(client, rt, org, sandbox, served):
    _inbox, control = twilio_setup(
        client, org, sandbox, served, duplicate=True, out_of_order=True, auto_statuses=["sent", "delivered"]
    )
    customer = _number()
    sid = _texts(control, customer, "Buongiorno, il mio ordine?")
    inbound = _message(rt, provider_message_id=sid)  # delivered twice by the sandbox: stored once
    assert inbound.text == "Buongiorno, il mio ordine?" and inbound.channel == "sms"

    photo = _texts(
        control, customer, "", media=[{"content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}]
    )
    pending = _message(rt, provider_message_id=photo)
    assert pending.content_attributes[media.MEDIA_PENDING] is True
    assert media.download_pending(rt) >= 1
    with unit_of_work(rt.sessions) as session:
        (attachment,) = session.scalars(select(Attachment).where(Attachment.message_id == pending.id)).all()
        assert attachment.content_type == "image/png" and rt.files.path(attachment.storage_path).read_bytes() == PNG
    assert _message(rt, id=pending.id).content_attributes[media.MEDIA_PENDING] is False

    reply_id = _reply(client, org, inbound.conversation_id, "Arriva domani.")
    assert deliver(rt, reply_id) == "sent"
    (accepted,) = [s for s in httpx.get(f"{control}/sent").json()["sent"] if s["body"] == "Arriva domani."]
    assert accepted["to"] == customer and _message(rt, id=reply_id).provider_message_id == accepted["sid"]
    # delivered comes before sent (out of order) and twice: the message ends delivered.
    wait_for(lambda: _message(rt, id=reply_id).delivery_status == "delivered", what="the delivered status")
    deliveries = httpx.get(f"{control}/sent").json()["deliveries"]
    wait_for(
        lambda: len([d for d in httpx.get(f"{control}/sent").json()["deliveries"] if d["copy"] == 1]) >= 4,
        what="every copy",
    )
    assert all(d["status"] == 200 for d in deliveries)
    assert _message(rt, id=reply_id).delivery_status == "delivered"


def test_stop_and_start_change_sms_marketing_consent_and_stop_marketing_sends(client, rt, org, sandbox, served):
    _inbox, control = twilio_setup(client, org, sandbox, served, auto_statuses=[])
    customer = _number()
    stop = _message(rt, provider_message_id=_texts(control, customer, "Stop"))
    with unit_of_work(rt.sessions) as session:
        contact_id = session.get_one(Conversation, stop.conversation_id).contact_id
    decision = _consent(rt, contact_id)["marketing_sms"]
    assert decision["granted"] is False and decision["source"] == "sms_keyword" and decision["note"] == "SMS STOP"

    # A marketing message to the contact who answered STOP is refused for good, with the reason.
    marketing = _reply(client, org, stop.conversation_id, "Saldi del 30%!")
    with unit_of_work(rt.sessions) as session:
        row = session.get_one(Message, marketing)
        row.content_attributes = {**row.content_attributes, "marketing": True}
    assert deliver(rt, marketing) == "failed"
    refused = _message(rt, id=marketing)
    assert refused.content_attributes["delivery_reason"]["key"] == "sms.error.opted_out"
    # A service answer still goes out.
    assert deliver(rt, _reply(client, org, stop.conversation_id, "La sua pratica è chiusa.")) == "sent"

    _texts(control, customer, "ISCRIVI")
    assert _consent(rt, contact_id)["marketing_sms"]["granted"] is True


def test_twilio_errors_retry_or_fail_with_a_reason(client, rt, org, sandbox, served):
    _inbox, control = twilio_setup(client, org, sandbox, served, auto_statuses=["delivered"])
    customer = _number()
    conversation_id = _message(rt, provider_message_id=_texts(control, customer, "Salve")).conversation_id

    httpx.post(f"{control}/control", json={"fail_next": [20429]})
    limited = _reply(client, org, conversation_id, "Un momento")
    assert deliver(rt, limited) == "retrying"
    assert "20429" in (_message(rt, id=limited).delivery_error or "")
    _redo(rt, limited)
    assert deliver(rt, limited) == "sent"

    httpx.post(f"{control}/control", json={"opted_out": [customer]})
    blocked = _reply(client, org, conversation_id, "Ci siamo?")
    assert deliver(rt, blocked) == "failed"
    failed = _message(rt, id=blocked)
    assert (
        "21610" in (failed.delivery_error or "")
        and failed.content_attributes["delivery_reason"]["key"] == "sms.error.21610"
    )

    httpx.post(f"{control}/control", json={"opted_out": [], "unreachable": [customer]})
    lost = _reply(client, org, conversation_id, "Risposta")
    assert deliver(rt, lost) == "sent"  # accepted; the carrier's answer comes as an undelivered status
    wait_for(lambda: _message(rt, id=lost).delivery_status == "failed", what="the undelivered status")
    assert "30003" in (_message(rt, id=lost).delivery_error or "")


def test_the_sandbox_retries_a_twilio_webhook_refused_for_its_signature(client, rt, org, sandbox, served):
    inbox, control = twilio_setup(client, org, sandbox, served)
    sid = control.rsplit("/", 1)[1]
    webhook = f"{served}/api/v1/channels/sms/{inbox['identifier']}/messages"
    httpx.post(
        f"{sandbox.url}/_sandbox/twilio/accounts",
        json={
            "account_sid": sid,
            "auth_token": "0" * 32,
            "numbers": [inbox["settings"]["sender"]],
            "webhook_url": webhook,
        },
    )
    answer = httpx.post(f"{control}/customers/{_number()}/messages", json={"text": "ciao"}, timeout=30)
    assert [d["status"] for d in answer.json()["deliveries"]] == [401] * 4
    # Refused requests are counted (reason, size, hash), never stored.
    with unit_of_work(rt.sessions) as session:
        reasons = session.scalars(select(InboundRejection.reason).where(InboundRejection.inbox_id == inbox["id"])).all()
        stored = session.scalars(select(RawInbound.id).where(RawInbound.inbox_id == inbox["id"])).all()
    assert reasons == ["sms.twilio.signature_mismatch"] * 4 and stored == []


def test_twilio_connection_check_names_the_failing_step(client, org, sandbox, served):
    inbox, _control = twilio_setup(client, org, sandbox, served)
    ok = client.post(f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers(), json={})
    assert ok.status_code == 200, ok.text
    assert [(c["step"], c["ok"]) for c in ok.json()["checks"]] == [
        ("reach", True),
        ("credentials", True),
        ("sender", True),
    ]
    wrong = client.post(
        f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers(), json={"secrets": {"twilio_auth_token": "f" * 32}}
    )
    assert wrong.status_code == 422
    failing = [c for c in wrong.json()["checks"] if not c["ok"]]
    assert failing[0]["step"] == "credentials" and failing[0]["field"] == "secrets.twilio_auth_token"


def test_mms_media_outside_the_twilio_api_is_not_fetched_with_the_credentials(client, rt, org, sandbox, served):
    inbox, _control = twilio_setup(client, org, sandbox, served)
    token = client.post(f"/api/v1/inboxes/{inbox['id']}/reveal-secrets", headers=org.headers()).json()
    url = f"{served}/api/v1/channels/sms/{inbox['identifier']}/messages"
    params = {
        "MessageSid": "MM" + uuid.uuid4().hex,
        "AccountSid": inbox["settings"]["twilio_account_sid"],
        "From": _number(),
        "To": inbox["settings"]["sender"],
        "Body": "foto",
        "NumMedia": "1",
        "MediaUrl0": "https://elsewhere.example/steal",
        "MediaContentType0": "image/png",
    }
    signature = RequestValidator(token["twilio_auth_token"]).compute_signature(url, params)
    answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert answer.status_code == 200, answer.text
    stored = _message(rt, provider_message_id=params["MessageSid"])
    assert media.download_pending(rt) == 0
    after = _message(rt, id=stored.id)
    assert after.content_attributes[media.MEDIA_PENDING] is False
    assert after.content_attributes["sms"]["media"][0]["status"] == "failed"
