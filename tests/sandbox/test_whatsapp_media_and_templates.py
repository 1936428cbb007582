"""What the WhatsApp channel's background service does, against the sandbox over real HTTP: template
sync with status and category, and a media download that fails (a note the agent sees, a retry later).
Both databases."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from raccordo.channels.whatsapp import media, templates
from raccordo.channels.whatsapp.background import WhatsAppService
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Message
from raccordo.sandbox.server import free_port
from tests.sandbox.test_whatsapp_sandbox import PNG, _customer_writes, _message, _setup


def test_templates_are_synced_with_status_and_category(client, rt, org, sandbox, served):
    inbox, _control = _setup(client, org, sandbox, served)
    WhatsAppService(rt).run_once()
    shown = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=org.headers()).json()["settings"]
    synced = {(t["name"], t["language"]): (t["status"], t["category"], t["variables"]) for t in shown["templates"]}
    assert synced[("ripresa_contatto", "it")] == ("approved", "utility", 2)
    assert synced[("offerta_estate", "it")] == ("pending", "marketing", 1)
    assert templates.approved(shown, "ripresa_contatto", "it") is not None
    assert templates.approved(shown, "offerta_estate", "it") is None
    assert inbox["id"] not in templates.due_inboxes(rt, datetime.now(UTC))  # synced: not due for an hour
    assert inbox["id"] in templates.due_inboxes(rt, datetime.now(UTC) + templates.EVERY)
    # The synced list does not stop the inbox's settings from being edited.
    edited = client.patch(
        f"/api/v1/inboxes/{inbox['id']}", headers=org.headers(), json={"settings": {**shown, "language": "en"}}
    )
    assert edited.status_code == 200, edited.text


def test_a_failed_media_download_is_noted_and_retried(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    wa_id = f"39341{uuid.uuid4().int % 10**7:07d}"
    photo = _customer_writes(
        control,
        wa_id,
        type="image",
        file={"filename": "foto.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()},
    )
    message = _message(rt, provider_message_id=photo)
    assert message.text == "[Immagine]"  # the inbox's language (Italian by default), until the file is here

    # Meta unreachable (the inbox pointed at a closed port): the agent reads why, and it is tried again.
    real = inbox["settings"]["graph_base_url"]
    closed = {**inbox["settings"], "graph_base_url": f"http://127.0.0.1:{free_port()}/v21.0"}
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", headers=org.headers(), json={"settings": closed}).status_code
        == 200
    )
    now = datetime.now(UTC)
    assert media.download_message(rt, message.id, now) == 0
    (item,) = _message(rt, id=message.id).content_attributes["whatsapp"]["media"]
    assert item["status"] == "pending" and item["attempts"] == 1 and item["next_at"]
    with unit_of_work(rt.sessions) as session:
        (note,) = session.scalars(
            select(Message).where(Message.conversation_id == message.conversation_id, Message.direction == "system")
        ).all()
        assert "Raccordo riprova" in note.text
    assert media.download_message(rt, message.id, now) == 0  # not due yet: no second attempt, no second note

    # Meta reachable again: the retry, when due, stores the file.
    fixed = {**closed, "graph_base_url": real}
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", headers=org.headers(), json={"settings": fixed}).status_code
        == 200
    )
    assert media.download_message(rt, message.id, now + timedelta(seconds=media.BACKOFF[0] + 1)) == 1
    with unit_of_work(rt.sessions) as session:
        assert session.scalars(select(Attachment.size).where(Attachment.message_id == message.id)).all() == [len(PNG)]

    # A media id Meta does not know: given up at once, and the agent is told to ask for the file again.
    lost = _customer_writes(control, wa_id, type="document", document={"id": "404404404", "filename": "x.pdf"})
    lost_message = _message(rt, provider_message_id=lost)
    media.download_message(rt, lost_message.id, datetime.now(UTC))
    (item,) = _message(rt, id=lost_message.id).content_attributes["whatsapp"]["media"]
    assert item["status"] == "failed"
    assert _message(rt, id=lost_message.id).content_attributes[media.PENDING_FLAG] is False
    with unit_of_work(rt.sessions) as session:
        notes = session.scalars(
            select(Message.text).where(
                Message.conversation_id == lost_message.conversation_id, Message.direction == "system"
            )
        ).all()
    assert any("Chiedi al cliente di inviarlo di nuovo" in text for text in notes)
