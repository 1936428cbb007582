"""Messenger and Instagram round trips through the provider sandbox, both sides over real HTTP: the customer
writes (delivered twice: one message), a photo is downloaded from the CDN URL, the agent's reply goes through
the outbox to the Send API, delivery and read events come back; quick replies and files are sent; rate limits
and temporary errors retry, a closed window and an unavailable person fail with a reason the agent reads, and
HUMAN_AGENT carries a late reply. Both databases."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from raccordo.channels.base import InboxConfig, get_channel
from raccordo.channels.messenger import media
from raccordo.channels.messenger.inbound import MEDIA_PENDING
from raccordo.channels.models import OutboxItem
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment, Message
from tests.channels.messenger.helpers import account, meta_inbox
from tests.channels.messenger.payloads import envelope, event, signed
from tests.support.mail import wait_for
from tests.support.widget import deliver

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _setup(client, org, sandbox, served, kind="messenger", **page) -> tuple[dict, str]:
    inbox = meta_inbox(
        client, org, kind, base_url=f"{sandbox.url}/messenger/v21.0", human_agent=page.pop("human_agent", False)
    )
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/meta/pages",
        json={
            "kind": kind,
            "page_id": inbox["settings"]["page_id"],
            "account_id": account(inbox),
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": inbox["secrets"]["app_secret"],
            "webhook_url": f"{served}/api/v1/channels/{kind}/{inbox['identifier']}/messages",
            **page,
        },
    )
    assert registered.status_code == 200, registered.text
    return inbox, f"{sandbox.url}/_sandbox/meta/pages/{inbox['settings']['page_id']}"


def _psid() -> str:
    return str(uuid.uuid4().int % 10**16)


def _customer(control: str, psid: str, **data) -> str:
    answer = httpx.post(f"{control}/customers/{psid}/events", json=data, timeout=30)
    assert answer.status_code == 200, answer.text
    assert all(d["status"] == 200 for d in answer.json()["deliveries"]), answer.json()
    return answer.json()["mid"]


def _message(rt, **where) -> Message:
    with unit_of_work(rt.sessions) as session:
        found = session.scalars(select(Message).filter_by(**where)).one()
        session.expunge(found)
        return found


def _reply(client, org, conversation_id: int, inbox_id: int, text: str, **extra) -> int:
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        headers=org.headers(),
        json={"text": text, "inbox_id": inbox_id, **extra},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _redo(rt, message_id: int) -> None:
    """Make a retrying send due now (the backoff would wait seconds)."""
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
        item.due_at = datetime.now(UTC)


def _sent(control: str) -> list[dict]:
    return httpx.get(f"{control}/sent").json()["data"]


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_round_trip_customer_to_agent_and_back_with_statuses(client, rt, org, sandbox, served, kind):
    inbox, control = _setup(client, org, sandbox, served, kind, auto_statuses=["delivered", "read"], status_delay=0.1)
    psid = _psid()
    mid = _customer(control, psid, type="text", text="Buongiorno, il mio ordine?", duplicate=True)
    first = _message(rt, provider_message_id=mid)
    assert first.text == "Buongiorno, il mio ordine?" and first.channel == kind

    # A photo: stored at once with its CDN URL, then downloaded by the channel's background pass.
    file = {"filename": "scontrino.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
    photo_mid = _customer(control, psid, type="attachment", attachment_type="image", file=file)
    photo = _message(rt, provider_message_id=photo_mid)
    assert photo.content_attributes[MEDIA_PENDING] is True and photo.conversation_id == first.conversation_id
    assert media.download_pending(rt, kind) >= 1
    with unit_of_work(rt.sessions) as session:
        (attachment,) = session.scalars(select(Attachment).where(Attachment.message_id == photo.id)).all()
        assert attachment.content_type == "image/png" and rt.files.path(attachment.storage_path).read_bytes() == PNG
    assert _message(rt, id=photo.id).content_attributes[MEDIA_PENDING] is False

    # The agent answers with quick replies: through the outbox to the Send API, RESPONSE inside the window.
    reply_id = _reply(client, org, first.conversation_id, inbox["id"], "Arriva domani. Va bene?")
    with unit_of_work(rt.sessions) as session:  # what an API caller or the composer sets on the message
        stored = session.get_one(Message, reply_id)
        stored.content_attributes = {**stored.content_attributes, "quick_replies": ["Sì", "No"]}
    assert deliver(rt, reply_id) == "sent"
    (accepted,) = [s for s in _sent(control) if s["payload"]["message"].get("text") == "Arriva domani. Va bene?"]
    assert accepted["psid"] == psid and accepted["payload"]["messaging_type"] == "RESPONSE"
    assert [r["title"] for r in accepted["payload"]["message"]["quick_replies"]] == ["Sì", "No"]
    assert _message(rt, id=reply_id).provider_message_id == accepted["mid"]
    # The sandbox reports delivery then read by itself, as the customer's app does.
    wait_for(lambda: _message(rt, id=reply_id).delivery_status == "read", what="the read event")

    # A reaction to the agent's message, then the customer deletes their first message: both recorded.
    _customer(control, psid, type="reaction", message_id=accepted["mid"], emoji="👍")
    _customer(control, psid, type="deleted", message_id=mid)
    deleted = _message(rt, provider_message_id=f"{mid}:deleted")
    assert deleted.content_attributes["meta"]["type"] == "deleted"
    with unit_of_work(rt.sessions) as session:
        reactions = [
            m.content_attributes["meta"]["reaction"]
            for m in session.scalars(select(Message).where(Message.conversation_id == first.conversation_id))
            if (m.content_attributes.get("meta") or {}).get("type") == "reaction"
        ]
    assert reactions == [{"mid": accepted["mid"], "action": "react", "emoji": "👍"}]


def test_a_file_goes_through_the_attachment_upload(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    psid = _psid()
    conversation_id = _message(
        rt, provider_message_id=_customer(control, psid, text="Mi manda il modulo?")
    ).conversation_id
    upload = {"filename": "modulo.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        headers=org.headers(),
        json={"text": "Ecco il modulo", "inbox_id": inbox["id"], "attachments": [upload]},
    )
    assert answer.status_code == 201, answer.text
    assert deliver(rt, answer.json()["id"]) == "sent"
    parts = [s["payload"]["message"] for s in _sent(control) if s["psid"] == psid]
    assert parts[0] == {"text": "Ecco il modulo"} and parts[1]["attachment"]["type"] == "image"
    assert (
        _message(rt, id=answer.json()["id"]).provider_message_id
        == [s for s in _sent(control) if s["psid"] == psid][-1]["mid"]
    )


def test_provider_errors_retry_or_fail_with_a_reason_and_human_agent_carries_late_replies(
    client, rt, org, sandbox, served
):
    inbox, control = _setup(client, org, sandbox, served)
    psid = _psid()
    conversation_id = _message(rt, provider_message_id=_customer(control, psid, text="Salve")).conversation_id

    # 613: rate limited, retried after Meta's wait, then sent; 1200: temporary, retried.
    for code in (613, 1200):
        httpx.post(f"{control}/control", json={"fail_next": [code]})
        limited = _reply(client, org, conversation_id, inbox["id"], f"Un momento {code}")
        assert deliver(rt, limited) == "retrying"
        assert str(code) in (_message(rt, id=limited).delivery_error or "")
        with unit_of_work(rt.sessions) as session:
            item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == limited)).one()
            waited = (item.due_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        assert waited > 30 if code == 613 else waited >= 0  # Meta's rate limit wait honoured
        _redo(rt, limited)
        assert deliver(rt, limited) == "sent"

    # Meta's window closed (its clock ahead of ours): failed for good, the reason says why.
    httpx.post(f"{control}/control", json={"window_age": {psid: 25 * 3600}})
    late = _reply(client, org, conversation_id, inbox["id"], "Ci siamo?")
    assert deliver(rt, late) == "failed"
    failed = _message(rt, id=late)
    assert failed.delivery_status == "failed" and "2018278" in (failed.delivery_error or "")
    assert failed.content_attributes["delivery_reason"]["key"] == "meta.error.outside_window"

    # 551: the person is unavailable.
    _customer(control, psid, text="Eccomi")
    httpx.post(f"{control}/control", json={"unavailable": [psid]})
    lost = _reply(client, org, conversation_id, inbox["id"], "Risposta")
    assert deliver(rt, lost) == "failed"
    assert _message(rt, id=lost).content_attributes["delivery_reason"]["key"] == "meta.error.user_unavailable"

    # With HUMAN_AGENT allowed, a reply 3 days after the customer's message goes with the tag.
    tagged_inbox, tagged_control = _setup(client, org, sandbox, served, human_agent=True)
    other = _psid()
    conversation = _message(rt, provider_message_id=_customer(tagged_control, other, text="Ciao")).conversation_id
    httpx.post(f"{tagged_control}/control", json={"window_age": {other: 3 * 24 * 3600}})
    reply = _reply(client, org, conversation, tagged_inbox["id"], "Scusi il ritardo")
    assert deliver(rt, reply) == "sent"
    (sent,) = [s for s in _sent(tagged_control) if s["psid"] == other]
    assert sent["payload"]["messaging_type"] == "MESSAGE_TAG" and sent["payload"]["tag"] == "HUMAN_AGENT"


def test_the_connection_check_names_the_failing_step(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    channel = get_channel("messenger")
    config = InboxConfig(inbox["id"], inbox["identifier"], inbox["settings"], inbox["secrets"])
    assert [(r.step, r.ok) for r in channel.check(config)] == [
        ("reach", True),
        ("page", True),
        ("subscribed_apps", True),
    ]
    wrong_token = InboxConfig(config.id, config.identifier, config.settings, {**config.secrets, "access_token": "bad"})
    assert [(r.step, r.ok, r.setting) for r in channel.check(wrong_token)][-1] == (
        "page",
        False,
        "secrets.access_token",
    )
    httpx.post(f"{control}/control", json={"subscribed": False})
    assert [(r.step, r.ok, r.key) for r in channel.check(config)][-1] == (
        "subscribed_apps",
        False,
        "meta.check.not_subscribed",
    )
    nowhere = InboxConfig(
        config.id, config.identifier, {**config.settings, "graph_base_url": "http://127.0.0.1:9/v21.0"}, config.secrets
    )
    assert [(r.step, r.ok, r.setting) for r in channel.check(nowhere)] == [("reach", False, "settings.graph_base_url")]


def test_a_file_meta_no_longer_serves_is_given_up_with_a_note(client, rt, org, sandbox, served):
    inbox, control = _setup(client, org, sandbox, served)
    psid, page = _psid(), inbox["settings"]["page_id"]
    _customer(control, psid, text="Le mando la foto")
    gone = {"type": "image", "payload": {"url": f"{sandbox.url}/_sandbox/meta/media/expired"}}
    payload = envelope("messenger", page, event(page, psid, message={"mid": f"m_gone_{psid}", "attachments": [gone]}))
    body, headers = signed(inbox["secrets"]["app_secret"], payload)
    posted = client.post(f"/api/v1/channels/messenger/{inbox['identifier']}/messages", content=body, headers=headers)
    assert posted.status_code == 200, posted.text
    message = _message(rt, provider_message_id=f"m_gone_{psid}")
    media.download_pending(rt, "messenger")
    after = _message(rt, id=message.id)
    assert after.content_attributes[MEDIA_PENDING] is False
    assert after.content_attributes["meta"]["media"][0]["status"] == "failed"
    note = _message(rt, conversation_id=message.conversation_id, direction="system")
    assert "non è stato possibile scaricare il file" in note.text and "404" in note.text
