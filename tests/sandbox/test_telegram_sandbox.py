"""A Telegram round trip through the provider sandbox, both sides over real HTTP: saving the inbox sets the
webhook with its secret token (deactivating deletes it), the customer's update arrives (once, though sent
twice), a photo is downloaded through getFile, a button press is answered, the agent's reply and a file go
out; 429 waits retry_after, a blocked bot fails for good with a reason the agent reads. Both databases."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from raccordo.channels.base import get_channel
from raccordo.channels.models import OutboxItem
from raccordo.channels.services.inboxes import webhook_url
from raccordo.channels.telegram import media
from raccordo.platform import jobs
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Message
from tests.channels.telegram.helpers import telegram_inbox
from tests.channels.telegram.payloads import new_token
from tests.support.widget import deliver

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _bot(sandbox, token: str) -> str:
    answer = httpx.post(f"{sandbox.url}/_sandbox/telegram/bots", json={"token": token, "username": "acme_bot"})
    assert answer.status_code == 200
    return f"{sandbox.url}/_sandbox/telegram/bots/{answer.json()['id']}"


def _config(rt, inbox_id: int):
    from raccordo.channels.models import Inbox
    from raccordo.channels.services.inbound import inbox_config

    with unit_of_work(rt.sessions) as session:
        return inbox_config(rt, session.get_one(Inbox, inbox_id))


def _writes(control: str, user_id: int, **data) -> dict:
    answer = httpx.post(f"{control}/users/{user_id}/messages", json={"first_name": "Giulia", **data}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert all(d["status"] == 200 for d in answer.json()["deliveries"]), answer.json()
    return answer.json()


def _message(rt, **where) -> Message:
    with unit_of_work(rt.sessions) as session:
        found = session.scalars(select(Message).filter_by(**where)).one()
        session.expunge(found)
        return found


def _reply(client, org, conversation_id: int, text: str, **extra) -> int:
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply", headers=org.headers(), json={"text": text, **extra}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _webhook_setup(client, rt, org, sandbox, served) -> tuple[dict, str]:
    token = new_token()
    control = _bot(sandbox, token)
    inbox = telegram_inbox(client, org, base_url=sandbox.url, token=token)
    # Saving the inbox scheduled setWebhook with the installation's public URL and the inbox's secret.
    assert jobs.run_due(rt, kinds=["channels.provision"]) >= 1
    state = httpx.get(control).json()
    assert state["webhook_url"] == webhook_url(rt.settings.resolved_public_url, "telegram", inbox["identifier"])
    assert state["secret_token_set"] and "setWebhook" in state["calls"]
    # The tests' product listens elsewhere: the webhook is set again at its address.
    get_channel("telegram").provision(
        _config(rt, inbox["id"]), f"{served}/api/v1/channels/telegram/{inbox['identifier']}/messages"
    )
    return inbox, control


def test_webhook_round_trip_media_buttons_and_replies(client, rt, org, sandbox, served):
    inbox, control = _webhook_setup(client, rt, org, sandbox, served)
    user_id = 700000000 + int(inbox["id"])
    sent = _writes(control, user_id, text="Buongiorno, e il mio ordine?", duplicate=True)
    assert len(sent["deliveries"]) == 2  # the update delivered twice: one message
    inbound = _message(rt, inbox_id=inbox["id"], provider_message_id=f"{user_id}:{sent['message_id']}")
    conversation_id = inbound.conversation_id

    photo = _writes(
        control,
        user_id,
        type="photo",
        caption="lo scontrino",
        file={"content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()},
    )
    pending = _message(rt, inbox_id=inbox["id"], provider_message_id=f"{user_id}:{photo['message_id']}")
    assert pending.text == "lo scontrino" and pending.content_attributes["telegram_media_pending"] is True
    assert media.download_pending(rt) >= 1
    with unit_of_work(rt.sessions) as session:
        (attachment,) = session.scalars(select(Attachment).where(Attachment.message_id == pending.id)).all()
        # Telegram re-encodes every photo as JPEG: the largest size is stored as one.
        assert attachment.content_type == "image/jpeg" and rt.files.path(attachment.storage_path).read_bytes() == PNG
    assert _message(rt, id=pending.id).content_attributes["telegram_media_pending"] is False

    # The agent answers with buttons; the customer presses one; the query is answered in the webhook's reply.
    keyboard = {"telegram": {"inline_keyboard": [[{"text": "Sì, grazie", "callback_data": "yes"}]]}}
    reply_id = _reply(client, org, conversation_id, "Arriva domani. Va bene?")
    with unit_of_work(rt.sessions) as session:  # (the reply API sets no attributes yet: the composer's part)
        row = session.get_one(Message, reply_id)
        row.content_attributes = {**row.content_attributes, **keyboard}
    assert deliver(rt, reply_id) == "sent"
    state = httpx.get(control).json()
    (answer,) = [s for s in state["sent"] if s["text"] == "Arriva domani. Va bene?"]
    assert answer["chat_id"] == user_id and answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "yes"
    assert _message(rt, id=reply_id).provider_message_id == f"{user_id}:{answer['message_id']}"
    _writes(control, user_id, type="callback", message_id=answer["message_id"], data="yes")
    assert len(httpx.get(control).json()["answered_callbacks"]) == 1
    with unit_of_work(rt.sessions) as session:
        pressed = session.scalars(
            select(Message).where(Message.inbox_id == inbox["id"], Message.provider_message_id.like("callback:%"))
        ).one()
        assert pressed.text == "Sì, grazie" and pressed.conversation_id == conversation_id

    # A file from the agent goes as a multipart sendPhoto.
    file_reply = _reply(
        client,
        org,
        conversation_id,
        "La mappa",
        attachments=[
            {"filename": "mappa.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
        ],
    )
    assert deliver(rt, file_reply) == "sent"
    (photo_sent,) = [s for s in httpx.get(control).json()["sent"] if s["text"] == "La mappa"]
    assert "photo" in photo_sent["message"] and photo_sent["message"]["caption"] == "La mappa"

    # Deactivating the inbox deletes the webhook.
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers()).status_code == 200
    )
    assert jobs.run_due(rt, kinds=["channels.provision"]) >= 1
    assert httpx.get(control).json()["webhook_url"] == ""


def _redo(rt, message_id: int) -> datetime:
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
        due = item.due_at
        item.due_at = datetime.now(UTC)
        return due


def test_rate_limits_wait_retry_after_and_a_blocked_bot_fails_for_good(client, rt, org, sandbox, served):
    inbox, control = _webhook_setup(client, rt, org, sandbox, served)
    user_id = 710000000 + int(inbox["id"])
    sent = _writes(control, user_id, text="Salve")
    conversation_id = _message(
        rt, inbox_id=inbox["id"], provider_message_id=f"{user_id}:{sent['message_id']}"
    ).conversation_id

    httpx.post(f"{control}/control", json={"fail_next": [{"error_code": 429, "retry_after": 120}]})
    limited = _reply(client, org, conversation_id, "Un momento")
    before = datetime.now(UTC)
    assert deliver(rt, limited) == "retrying"
    due = _redo(rt, limited)
    assert (due.replace(tzinfo=due.tzinfo or UTC) - before).total_seconds() >= 115  # Telegram's retry_after honoured
    assert deliver(rt, limited) == "sent"

    httpx.post(f"{control}/control", json={"blocked": [user_id]})
    refused = _reply(client, org, conversation_id, "Ci siamo?")
    assert deliver(rt, refused) == "failed"
    failed = _message(rt, id=refused)
    assert failed.delivery_status == "failed" and "403" in (failed.delivery_error or "")
    assert failed.content_attributes["delivery_reason"]["key"] == "telegram.error.blocked"


def test_check_settings_names_the_failing_step(client, rt, org, sandbox):
    token = new_token()
    control = _bot(sandbox, token)
    inbox = telegram_inbox(client, org, base_url=sandbox.url, token=token)

    def check(**body) -> list[dict]:
        answer = client.post(f"/api/v1/inboxes/{inbox['id']}/check", headers=org.headers(), json=body)
        return answer.json()["checks"]

    # Saved but the webhook job has not run: the token works, no webhook is set.
    steps = check()
    assert [(s["step"], s["ok"]) for s in steps] == [("reach", True), ("token", True), ("webhook", False)]
    assert steps[2]["field"] == "settings.mode" and "BotFather" not in (steps[2]["message"] or "x")
    assert jobs.run_due(rt, kinds=["channels.provision"]) >= 1
    assert all(s["ok"] for s in check())
    # Polling with a webhook set: Telegram would refuse getUpdates.
    polling = check(settings={"mode": "polling", "api_base_url": sandbox.url})
    assert polling[-1]["step"] == "webhook" and not polling[-1]["ok"]
    wrong = check(secrets={"bot_token": new_token()})
    assert [(s["step"], s["ok"]) for s in wrong] == [("reach", True), ("token", False)]
    assert wrong[1]["field"] == "secrets.bot_token" and "BotFather" in wrong[1]["message"]
    away = check(settings={"mode": "webhook", "api_base_url": "http://127.0.0.1:9"})
    assert [(s["step"], s["ok"]) for s in away] == [("reach", False)]
    assert httpx.get(control).json()["calls"].count("getMe") >= 3
