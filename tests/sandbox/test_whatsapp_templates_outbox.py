"""Templates and interactive messages through the reply API and the outbox, against the sandbox over real
HTTP: outside the 24-hour window only an approved template with every variable goes, and the timeline
stores what the customer read; marketing templates need WhatsApp marketing consent; statuses that beat
the send's answer are held and applied; rate limits wait; failures carry a reason key. Both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from raccordo.channels.models import OutboxItem
from raccordo.channels.whatsapp import templates
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import HeldDeliveryReport, Message
from tests.sandbox.test_whatsapp_sandbox import _customer_writes, _message, _setup
from tests.support.widget import deliver


def _age_window(rt, control: str, conversation_id: int, wa_id: str) -> None:
    """The customer wrote 25 hours ago, on both sides (our record, Meta's clock)."""
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == "inbound")
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    httpx.post(f"{control}/control", json={"window_age": {wa_id: 25 * 3600}})


def _reply(client, org, conversation_id: int, **body):
    return client.post(f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json=body)


def _code(answer) -> str:
    assert answer.status_code == 422, answer.text
    return answer.json()["errors"][0]["code"]


def _template(name: str, language: str, *variables: str) -> dict:
    return {"content_attributes": {"template": {"name": name, "language": language, "variables": list(variables)}}}


def test_outside_the_window_only_an_approved_complete_template_goes(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    templates.sync_templates(rt, inbox["id"])
    wa_id = f"39351{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Salve")
    ).conversation_id
    _age_window(rt, control, conversation_id, wa_id)

    assert _code(_reply(client, org, conversation_id, text="Ci siamo?")) == "composer.window_closed_template"
    assert _code(_reply(client, org, conversation_id, **_template("offerta_estate", "it", "-10%"))) == (
        "whatsapp.template_not_approved"
    )
    assert _code(_reply(client, org, conversation_id, **_template("ripresa_contatto", "it", "Giulia"))) == (
        "whatsapp.template_variable_count"
    )
    assert _code(_reply(client, org, conversation_id, **_template("ripresa_contatto", "it", "Giulia", " "))) == (
        "whatsapp.template_variable_empty"
    )
    assert _code(_reply(client, org, conversation_id, **_template("nessuno", "it"))) == "whatsapp.template_unknown"
    assert _code(_reply(client, org, conversation_id, content_attributes={"buttons": []})) == (
        "reply.content_unsupported"
    )

    answer = _reply(client, org, conversation_id, **_template("ripresa_contatto", "it", "Giulia", "R-12"))
    assert answer.status_code == 201, answer.text
    sent = answer.json()
    # The timeline shows what the customer reads: the body with its variables filled in.
    assert sent["text"] == "Buongiorno Giulia, riprendiamo la sua richiesta R-12?"
    assert deliver(rt, sent["id"]) == "sent"
    (accepted,) = [s for s in httpx.get(f"{control}/sent").json()["data"] if s["to"] == wa_id]
    assert accepted["payload"]["type"] == "template"
    assert accepted["payload"]["template"]["name"] == "ripresa_contatto"
    parameters = accepted["payload"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Giulia", "R-12"]
    assert _message(rt, id=sent["id"]).content_attributes["template"]["variables"] == ["Giulia", "R-12"]


def test_a_marketing_template_needs_whatsapp_marketing_consent(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    reviewed = httpx.post(f"{control}/templates/offerta_estate/it", json={"status": "APPROVED"})
    assert reviewed.status_code == 200, reviewed.text
    synced = {t["name"]: t for t in templates.sync_templates(rt, inbox["id"])}
    assert (synced["offerta_estate"]["status"], synced["offerta_estate"]["category"]) == ("approved", "marketing")
    wa_id = f"39352{uuid.uuid4().int % 10**7:07d}"
    first = _message(rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Offerte?"))
    _age_window(rt, control, first.conversation_id, wa_id)
    offer = _template("offerta_estate", "it", "-10% sui condizionatori")
    assert _code(_reply(client, org, first.conversation_id, **offer)) == "whatsapp.template_marketing_consent"
    contact_id = client.get(f"/api/v1/conversations/{first.conversation_id}", headers=org.headers()).json()[
        "contact_id"
    ]
    consent = client.post(
        f"/api/v1/contacts/{contact_id}/consent",
        headers=org.headers(),
        json={"purpose": "marketing_whatsapp", "granted": True, "source": "chat"},
    )
    assert consent.status_code == 200, consent.text
    answer = _reply(client, org, first.conversation_id, **offer)
    assert answer.status_code == 201, answer.text
    assert answer.json()["text"] == "Offerta estate: -10% sui condizionatori"
    assert deliver(rt, answer.json()["id"]) == "sent"


def test_interactive_buttons_and_lists_go_through_the_outbox(client, rt, org, sandbox, served):
    _inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39353{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Mi richiamate?")
    ).conversation_id
    buttons = {
        "type": "button",
        "body": "Vuole essere richiamata?",
        "options": [{"id": "si", "title": "Sì, richiamami"}, {"id": "no", "title": "No grazie"}],
    }
    answer = _reply(client, org, conversation_id, content_attributes={"interactive": buttons})
    assert answer.status_code == 201, answer.text
    assert answer.json()["text"].startswith("Vuole essere richiamata?") and "• No grazie" in answer.json()["text"]
    assert deliver(rt, answer.json()["id"]) == "sent"
    listed = {"type": "list", "body": "Scelga", "button": "Opzioni", "options": [{"id": "a", "title": "Mattina"}]}
    answer = _reply(client, org, conversation_id, content_attributes={"interactive": listed})
    assert answer.status_code == 201 and deliver(rt, answer.json()["id"]) == "sent"
    kinds = [
        s["payload"]["interactive"]["type"] for s in httpx.get(f"{control}/sent").json()["data"] if s["to"] == wa_id
    ]
    assert kinds == ["button", "list"]
    too_many = {**buttons, "options": [{"title": f"Opzione {n}"} for n in range(4)]}
    assert _code(_reply(client, org, conversation_id, content_attributes={"interactive": too_many})) == (
        "whatsapp.interactive_invalid"
    )


def test_statuses_before_the_send_is_recorded_are_held_then_applied(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": inbox["settings"]["phone_number_id"],
            "waba_id": inbox["settings"]["waba_id"],
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": inbox["secrets"]["app_secret"],
            "webhook_url": f"{served}/api/v1/channels/whatsapp/{inbox['identifier']}/messages",
            "auto_statuses": ["sent", "delivered"],
            "statuses_first": True,
        },
    )
    assert registered.status_code == 200
    wa_id = f"39354{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Ciao")
    ).conversation_id
    reply_id = _reply(client, org, conversation_id, text="Buongiorno!").json()["id"]
    # The sandbox delivered "sent" and "delivered" before answering the send: both held, applied on recording.
    assert deliver(rt, reply_id) == "sent"
    assert _message(rt, id=reply_id).delivery_status == "delivered"
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(HeldDeliveryReport).filter_by(inbox_id=inbox["id"])) == 0
    wamid = _message(rt, id=reply_id).provider_message_id
    # Repeated and out of order: read, then a late delivered and sent again: read stays.
    httpx.post(f"{control}/statuses", json={"message_id": wamid, "statuses": ["read", "delivered", "sent"]})
    assert _message(rt, id=reply_id).delivery_status == "read"


def test_rate_limits_wait_and_failures_carry_a_reason_key(client, rt, org, sandbox, served):
    _inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39355{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Salve")
    ).conversation_id
    httpx.post(f"{control}/control", json={"fail_next": [131056]})
    limited = _reply(client, org, conversation_id, text="Un momento").json()["id"]
    before = datetime.now(UTC)
    assert deliver(rt, limited) == "retrying"
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == limited)).one()
        assert item.due_at >= before + timedelta(seconds=59)  # Meta's pair rate limit: a minute, not the 5 s backoff
    reason = _message(rt, id=limited).content_attributes["delivery_reason"]
    assert reason == {"key": "whatsapp.error.131056", "params": {"code": "131056", "title": "(#131056) Queued failure"}}

    accepted = _reply(client, org, conversation_id, text="Ecco").json()["id"]
    assert deliver(rt, accepted) == "sent"
    wamid = _message(rt, id=accepted).provider_message_id
    httpx.post(f"{control}/statuses", json={"message_id": wamid, "statuses": ["failed"], "error_code": 131026})
    failed = _message(rt, id=accepted)
    assert failed.delivery_status == "failed"
    assert failed.content_attributes["delivery_reason"]["key"] == "whatsapp.error.131026"
