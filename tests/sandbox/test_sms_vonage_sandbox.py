"""SMS through the sandbox's Vonage Messages API, both sides over real HTTP: the customer's SMS arrives
signed with a JWT (stored with the raw row, so a stored request verifies again), the agent's reply is
sent with Basic auth or with an application JWT (RS256), statuses come back signed, a rejected number
fails with Vonage's reason, a 429 is retried and a 422 is permanent; the reply service refuses a
message over the inbox's maximum of segments. Both databases."""

from __future__ import annotations

import secrets
import uuid

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from raccordo.channels.models import RawInbound
from raccordo.channels.services.inbound import process_raw
from raccordo.platform.store.db import unit_of_work
from tests.sandbox.test_sms_sandbox import _inbox, _message, _redo, _reply, _texts
from tests.support.mail import wait_for
from tests.support.widget import deliver


def _number() -> str:
    return f"+39348{uuid.uuid4().int % 10**7:07d}"


def vonage_setup(client, org, sandbox, served, *, jwt_auth: bool = False, **account) -> tuple[dict, str]:
    api_key, api_secret, signature = secrets.token_hex(4), secrets.token_hex(8), secrets.token_hex(24)
    sender = _number()
    settings = {"provider": "vonage", "sender": sender, "vonage_api_key": api_key, "vonage_api_base_url": sandbox.url}
    secrets_ = {"vonage_api_secret": api_secret, "vonage_signature_secret": signature}
    registration = {"api_key": api_key, "api_secret": api_secret, "signature_secret": signature, "numbers": [sender]}
    if jwt_auth:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        application = str(uuid.uuid4())
        settings["vonage_application_id"] = application
        secrets_ = {"vonage_private_key": pem.decode(), "vonage_signature_secret": signature}
        registration.update(
            api_secret="not-used-" + secrets.token_hex(4), public_key=public.decode(), application_id=application
        )
    inbox = _inbox(client, org, settings, secrets_)
    webhook = f"{served}/api/v1/channels/sms/{inbox['identifier']}/messages"
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/vonage/accounts",
        json={**registration, "inbound_url": webhook, "status_url": webhook, **account},
    )
    assert registered.status_code == 200
    return inbox, f"{sandbox.url}/_sandbox/vonage/accounts/{api_key}"


def test_vonage_round_trip_with_signed_statuses_and_a_stored_request_verified_again(client, rt, org, sandbox, served):
    _inbox, control = vonage_setup(client, org, sandbox, served, duplicate=True, out_of_order=True)
    customer = _number()
    message_uuid = _texts(control, customer, "Buongiorno, avete il modello blu?")
    inbound = _message(rt, provider_message_id=message_uuid)  # delivered twice: stored once
    assert inbound.text == "Buongiorno, avete il modello blu?" and inbound.channel == "sms"

    # The raw row keeps Vonage's JWT: processed again from storage, it verifies and finds the same message.
    with unit_of_work(rt.sessions) as session:
        raw = session.scalars(
            select(RawInbound).where(RawInbound.message_ids.is_not(None)).order_by(RawInbound.id.desc())
        ).first()
        assert raw is not None and raw.headers.get("authorization", "").startswith("Bearer ")
        raw.status, raw_id = "pending", raw.id
    assert process_raw(rt, raw_id).message_ids == [inbound.id]

    reply_id = _reply(client, org, inbound.conversation_id, "Sì, in tutte le taglie.")
    assert deliver(rt, reply_id) == "sent"
    (accepted,) = [s for s in httpx.get(f"{control}/sent").json()["sent"] if s["text"] == "Sì, in tutte le taglie."]
    assert accepted["to"] == customer.lstrip("+") and _message(rt, id=reply_id).provider_message_id == accepted["uuid"]
    wait_for(lambda: _message(rt, id=reply_id).delivery_status == "delivered", what="the delivered status")


def test_vonage_jwt_auth_and_errors(client, rt, org, sandbox, served):
    _inbox, control = vonage_setup(client, org, sandbox, served, jwt_auth=True)
    customer = _number()
    conversation_id = _message(rt, provider_message_id=_texts(control, customer, "Salve")).conversation_id
    assert deliver(rt, _reply(client, org, conversation_id, "Buongiorno")) == "sent"  # RS256 application JWT

    httpx.post(f"{control}/control", json={"fail_next": [429]})
    limited = _reply(client, org, conversation_id, "Un momento")
    assert deliver(rt, limited) == "retrying"
    _redo(rt, limited)
    assert deliver(rt, limited) == "sent"

    httpx.post(f"{control}/control", json={"fail_next": [422]})
    invalid = _reply(client, org, conversation_id, "Ecco")
    assert deliver(rt, invalid) == "failed"
    assert _message(rt, id=invalid).content_attributes["delivery_reason"]["key"] == "sms.error.vonage_invalid"

    httpx.post(f"{control}/control", json={"unreachable": [customer]})
    lost = _reply(client, org, conversation_id, "Ci sente?")
    assert deliver(rt, lost) == "sent"
    wait_for(lambda: _message(rt, id=lost).delivery_status == "failed", what="the rejected status")
    assert "1320" in (_message(rt, id=lost).delivery_error or "")


def test_a_reply_over_the_inbox_maximum_of_segments_is_refused(client, rt, org, sandbox, served):
    inbox, control = vonage_setup(client, org, sandbox, served)
    changed = client.patch(
        f"/api/v1/inboxes/{inbox['id']}",
        headers=org.headers(),
        json={"settings": {**inbox["settings"], "max_segments": 2}},
    )
    assert changed.status_code == 200, changed.text
    conversation_id = _message(rt, provider_message_id=_texts(control, _number(), "Ciao")).conversation_id
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": "€" * 160}
    )  # 320 GSM-7 units: 3 segments
    assert answer.status_code == 422, answer.text
    assert "3" in answer.text and "2" in answer.text
    assert (
        client.post(
            f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": "€" * 150}
        ).status_code
        == 201
    )


def test_vonage_connection_check_names_the_failing_step(client, org, sandbox, served):
    inbox, _control = vonage_setup(client, org, sandbox, served)
    ok = client.post(f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers(), json={})
    assert ok.status_code == 200, ok.text
    assert [(c["step"], c["ok"]) for c in ok.json()["checks"]] == [
        ("reach", True),
        ("credentials", True),
        ("signature", True),
    ]
    wrong = client.post(
        f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers(), json={"secrets": {"vonage_api_secret": "wrong"}}
    )
    assert wrong.status_code == 422
    failing = [c for c in wrong.json()["checks"] if not c["ok"]]
    assert failing[0]["step"] == "credentials" and failing[0]["field"] == "secrets.vonage_api_secret"
    unreachable = client.post(
        f"/api/v1/inboxes/{inbox['id']}/check",
        headers=org.headers(),
        json={"settings": {**inbox["settings"], "vonage_api_base_url": "http://127.0.0.1:9"}},
    )
    assert [c["step"] for c in unreachable.json()["checks"] if not c["ok"]] == ["reach"]
