"""A WhatsApp round trip through the provider sandbox, both sides over real HTTP: the customer writes,
the message is in the record (once, though delivered twice), its image is downloaded, the agent's reply
goes through the outbox to the sandbox, statuses come back out of order and the message shows read;
rate limits retry, a closed window and an unreachable number fail with a reason the agent reads.
Both databases."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from raccordo.channels.base import DeliveryError, InboxConfig, get_channel
from raccordo.channels.models import OutboxItem
from raccordo.channels.whatsapp import media, outbound
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Message
from raccordo.sandbox.server import free_port
from tests.channels.whatsapp.helpers import whatsapp_inbox
from tests.support.mail import wait_for
from tests.support.servers import reachable
from tests.support.widget import deliver

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _setup(client, org, sandbox, served) -> tuple[dict, str]:
    inbox = whatsapp_inbox(client, org, base_url=f"{sandbox.url}/v21.0")
    number = inbox["settings"]["phone_number_id"]
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": number,
            "waba_id": inbox["settings"]["waba_id"],
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": inbox["secrets"]["app_secret"],
            "webhook_url": f"{served}/api/v1/channels/whatsapp/{inbox['identifier']}/messages",
        },
    )
    assert registered.status_code == 200
    return inbox, f"{sandbox.url}/_sandbox/whatsapp/numbers/{number}"


def _customer_writes(control: str, wa_id: str, **message) -> str:
    answer = httpx.post(f"{control}/customers/{wa_id}/messages", json={"name": "Giulia Bianchi", **message}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert all(d["status"] == 200 for d in answer.json()["deliveries"]), answer.json()
    return answer.json()["id"]


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


def test_round_trip_customer_to_agent_and_back_with_statuses(client, rt, org, sandbox, served):
    _inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39347{uuid.uuid4().int % 10**7:07d}"

    # The customer writes; the sandbox delivers the webhook twice (as Meta's retries can): one message.
    wamid = _customer_writes(control, wa_id, type="text", text="Buongiorno, il mio ordine?", duplicate=True)
    inbound_message = _message(rt, provider_message_id=wamid)
    assert inbound_message.text == "Buongiorno, il mio ordine?"
    conversation_id = inbound_message.conversation_id

    # An image: stored first, downloaded through its media id with the access token by the channel's downloader.
    photo = _customer_writes(
        control,
        wa_id,
        type="image",
        image={"caption": "lo scontrino"},
        file={"filename": "scontrino.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()},
    )
    pending = _message(rt, provider_message_id=photo)
    assert pending.text == "lo scontrino" and pending.content_attributes[media.PENDING_FLAG] is True
    assert media.download_pending(rt) >= 1
    with unit_of_work(rt.sessions) as session:
        (attachment,) = session.scalars(select(Attachment).where(Attachment.message_id == pending.id)).all()
        assert attachment.content_type == "image/png" and attachment.size == len(PNG)
        assert rt.files.path(attachment.storage_path).read_bytes() == PNG
    assert _message(rt, id=pending.id).content_attributes[media.PENDING_FLAG] is False

    # The agent answers: through the outbox to the sandbox's Cloud API.
    reply_id = _reply(client, org, conversation_id, "Arriva domani.")
    assert deliver(rt, reply_id) == "sent"
    sent = httpx.get(f"{control}/sent").json()["data"]
    (accepted,) = [s for s in sent if s["payload"].get("text", {}).get("body") == "Arriva domani."]
    assert accepted["to"] == wa_id and accepted["payload"]["messaging_product"] == "whatsapp"
    assert _message(rt, id=reply_id).provider_message_id == accepted["id"]

    # Statuses out of order: read, then delivered; read stays.
    answer = httpx.post(f"{control}/statuses", json={"message_id": accepted["id"], "statuses": ["read", "delivered"]})
    assert answer.status_code == 200
    assert _message(rt, id=reply_id).delivery_status == "read"
    # And the conversation's API shows it to the agent.
    shown = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers()).json()
    rows = shown["items"] if isinstance(shown, dict) else shown
    assert any(m["id"] == reply_id and m["delivery_status"] == "read" for m in rows)


def test_provider_errors_retry_or_fail_with_a_reason(client, rt, org, sandbox, served):
    _inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39348{uuid.uuid4().int % 10**7:07d}"
    wamid = _customer_writes(control, wa_id, type="text", text="Salve")
    conversation_id = _message(rt, provider_message_id=wamid).conversation_id

    # 130429: rate limited, retried with backoff, then sent.
    httpx.post(f"{control}/control", json={"fail_next": [130429]})
    limited = _reply(client, org, conversation_id, "Un momento")
    assert deliver(rt, limited) == "retrying"
    assert "130429" in (_message(rt, id=limited).delivery_error or "")
    _redo(rt, limited)
    assert deliver(rt, limited) == "sent"

    # 131047: Meta's window closed (its clock ahead of ours): failed for good, the agent told to use a template.
    httpx.post(f"{control}/control", json={"window_age": {wa_id: 25 * 3600}})
    late = _reply(client, org, conversation_id, "Ci siamo?")
    assert deliver(rt, late) == "failed"
    failed = _message(rt, id=late)
    assert failed.delivery_status == "failed" and "modello approvato" in (failed.delivery_error or "")
    assert "131047" in failed.delivery_error

    # 131026: the number cannot receive WhatsApp messages.
    _customer_writes(control, wa_id, type="text", text="Eccomi")
    httpx.post(f"{control}/control", json={"unreachable": [wa_id]})
    lost = _reply(client, org, conversation_id, "Risposta")
    assert deliver(rt, lost) == "failed" and "131026" in (_message(rt, id=lost).delivery_error or "")

    # A failed status on the webhook, after the send was accepted.
    fresh_wa = f"39349{uuid.uuid4().int % 10**7:07d}"
    conversation = _message(rt, provider_message_id=_customer_writes(control, fresh_wa, type="text", text="x"))
    accepted = _reply(client, org, conversation.conversation_id, "y")
    assert deliver(rt, accepted) == "sent"
    wamid_out = _message(rt, id=accepted).provider_message_id
    httpx.post(f"{control}/statuses", json={"message_id": wamid_out, "statuses": ["failed"], "error_code": 131026})
    assert _message(rt, id=accepted).delivery_status == "failed"


def test_templates_interactive_messages_and_the_connection_check(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39340{uuid.uuid4().int % 10**7:07d}"
    channel = get_channel("whatsapp")
    config = InboxConfig(inbox["id"], inbox["identifier"], inbox["settings"], inbox["secrets"])

    # Outside any window, an approved template goes; a pending one and wrong variables are refused.
    assert channel.send_payload(config, outbound.template(wa_id, "ripresa_contatto", "it", ["Giulia", "R-12"]))
    for payload, code in (
        (outbound.template(wa_id, "offerta_estate", "it", ["-10%"]), "132001"),
        (outbound.template(wa_id, "ripresa_contatto", "it", ["Giulia"]), "132000"),
        (outbound.text(wa_id, "fuori finestra"), "131047"),
    ):
        try:
            channel.send_payload(config, payload)
        except DeliveryError as exc:
            assert exc.permanent and code in str(exc)
        else:
            raise AssertionError(f"the sandbox accepted {payload}")
    _customer_writes(control, wa_id, type="text", text="ok")
    options = [outbound.Option("si", "Sì, richiamami"), outbound.Option("no", "No grazie")]
    assert channel.send_payload(config, outbound.buttons(wa_id, "Vuole essere richiamata?", options))
    assert channel.send_payload(config, outbound.list_message(wa_id, "Scelga", "Opzioni", options))

    # The customer taps a button: the reply comes back as the button's title, its id kept.
    tapped = _customer_writes(
        control,
        wa_id,
        type="interactive",
        interactive={"type": "button_reply", "button_reply": {"id": "si", "title": "Sì, richiamami"}},
    )
    assert _message(rt, provider_message_id=tapped).content_attributes["whatsapp"]["interactive"]["id"] == "si"

    assert [(r.step, r.ok) for r in channel.check(config)] == [
        ("reach", True),
        ("phone_number", True),
        ("templates", True),
    ]
    wrong_token = InboxConfig(config.id, config.identifier, config.settings, {**config.secrets, "access_token": "bad"})
    assert [(r.step, r.ok, r.setting) for r in channel.check(wrong_token)][-1] == (
        "phone_number",
        False,
        "secrets.access_token",
    )
    nowhere = InboxConfig(
        config.id,
        config.identifier,
        {**config.settings, "graph_base_url": f"http://127.0.0.1:{free_port()}/v21.0"},
        config.secrets,
    )
    assert [(r.step, r.ok, r.setting) for r in channel.check(nowhere)] == [("reach", False, "settings.graph_base_url")]


def test_the_sandbox_retries_a_webhook_that_is_refused(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    # Registered again with another app secret: the product refuses every delivery (401), the sandbox retries.
    httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": inbox["settings"]["phone_number_id"],
            "waba_id": inbox["settings"]["waba_id"],
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": "not-the-inbox-secret",
            "webhook_url": f"{served}/api/v1/channels/whatsapp/{inbox['identifier']}/messages",
        },
    )
    answer = httpx.post(f"{control}/customers/393400000001/messages", json={"type": "text", "text": "ciao"}, timeout=30)
    statuses = [d["status"] for d in answer.json()["deliveries"]]
    assert statuses == [401] * 5


def test_raccordo_sandbox_command_serves_the_cloud_api():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "raccordo.cli", "sandbox", "--port", str(port)])
    try:
        wait_for(lambda: reachable("127.0.0.1", port), what="raccordo sandbox to listen")
        answer = httpx.post(f"http://127.0.0.1:{port}/v21.0/123/messages", json={})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == 100  # unknown number, Meta's shape
    finally:
        process.terminate()
        process.wait(10)


def test_the_sandbox_reports_statuses_by_itself_out_of_order(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": inbox["settings"]["phone_number_id"],
            "waba_id": inbox["settings"]["waba_id"],
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": inbox["secrets"]["app_secret"],
            "webhook_url": f"{served}/api/v1/channels/whatsapp/{inbox['identifier']}/messages",
            "auto_statuses": ["sent", "delivered", "read"],
            "out_of_order": True,
        },
    )
    assert registered.status_code == 200
    wa_id = f"39342{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Ciao")
    ).conversation_id
    reply_id = _reply(client, org, conversation_id, "Buongiorno!")
    assert deliver(rt, reply_id) == "sent"
    wait_for(lambda: _message(rt, id=reply_id).delivery_status == "read", what="the read status")
    # read, delivered, sent arrived in that order: read stays.
    wait_for(lambda: len(httpx.get(f"{control}/sent").json()["deliveries"]) >= 4, what="every status delivered")
    assert _message(rt, id=reply_id).delivery_status == "read"


def test_the_customer_phone_page_writes_shows_answers_and_reads_them(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39343{uuid.uuid4().int % 10**7:07d}"
    page = httpx.get(f"{sandbox.url}/_sandbox/whatsapp/phone", params={"lang": "en"})
    assert page.status_code == 200 and "Customer phone (WhatsApp sandbox)" in page.text
    assert inbox["settings"]["phone_number_id"] in page.text
    assert "Telefono del cliente" in httpx.get(f"{sandbox.url}/_sandbox/whatsapp/phone").text
    wamid = _customer_writes(control, wa_id, type="text", text="Ho una domanda")
    reply_id = _reply(client, org, _message(rt, provider_message_id=wamid).conversation_id, "Mi dica")
    assert deliver(rt, reply_id) == "sent"
    shown = httpx.get(f"{control}/phone/{wa_id}").json()["messages"]
    assert [(m["from"], m["text"]) for m in shown] == [("customer", "Ho una domanda"), ("agent", "Mi dica")]
    read = httpx.post(f"{control}/phone/{wa_id}/read", timeout=30).json()["read"]
    assert read == [_message(rt, id=reply_id).provider_message_id]
    assert _message(rt, id=reply_id).delivery_status == "read"
    assert httpx.get(f"{control}/phone/{wa_id}").json()["messages"][-1]["status"] == "read"


def test_an_agents_file_is_uploaded_and_sent_as_a_media_message(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39344{uuid.uuid4().int % 10**7:07d}"
    conversation_id = _message(
        rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="La foto?")
    ).conversation_id
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        headers=org.headers(),
        json={
            "text": "Eccola",
            "attachments": [
                {"filename": "foto.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    assert deliver(rt, answer.json()["id"]) == "sent"
    (sent,) = [s for s in httpx.get(f"{control}/sent").json()["data"] if s["to"] == wa_id]
    assert sent["payload"]["type"] == "image" and sent["payload"]["image"]["caption"] == "Eccola"
    # The uploaded media is the agent's file, byte for byte (read back as Meta serves it, with the token).
    media_id = sent["payload"]["image"]["id"]
    token = {"Authorization": f"Bearer {inbox['secrets']['access_token']}"}
    url = httpx.get(f"{sandbox.url}/v21.0/{media_id}", headers=token).json()["url"]
    assert httpx.get(url, headers=token).content == PNG
    assert _message(rt, id=answer.json()["id"]).provider_message_id == sent["id"]
    # Two files in one reply: refused by the channel's composer rules (one wamid per message).
    twice = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        headers=org.headers(),
        json={
            "text": "",
            "attachments": [
                {"filename": f"{n}.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
                for n in (1, 2)
            ],
        },
    )
    assert twice.status_code == 422
