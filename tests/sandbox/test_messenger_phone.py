"""The sandbox's Messenger/Instagram customer page: it lists the registered pages, shows the customer's
messages and the agent's answers, and reading them sends delivery and read events that reach the
agent's message. Both databases."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from tests.channels.messenger.helpers import account, meta_inbox
from tests.support.mail import wait_for
from tests.support.widget import deliver


def _status(rt, message_id: int) -> str:
    with unit_of_work(rt.sessions) as session:
        return session.get_one(Message, message_id).delivery_status


def test_the_customer_page_writes_shows_answers_and_reads_them(client, rt, org, sandbox, served):
    inbox = meta_inbox(client, org, "instagram", base_url=f"{sandbox.url}/messenger/v21.0")
    page_id = inbox["settings"]["page_id"]
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/meta/pages",
        json={
            "kind": "instagram",
            "page_id": page_id,
            "account_id": account(inbox),
            "access_token": inbox["secrets"]["access_token"],
            "app_secret": inbox["secrets"]["app_secret"],
            "webhook_url": f"{served}/api/v1/channels/instagram/{inbox['identifier']}/messages",
            "name": "Bottega Rossi",
        },
    )
    assert registered.status_code == 200
    for lang, title in (("it", "Cliente su Messenger e Instagram"), ("en", "Customer on Messenger and Instagram")):
        shown = httpx.get(f"{sandbox.url}/_sandbox/meta/phone", params={"lang": lang}).text
        assert title in shown and f'<option value="{page_id}">Instagram: Bottega Rossi' in shown
    # Linked from the WhatsApp customer phone, and back.
    assert "/_sandbox/meta/phone?lang=en" in httpx.get(f"{sandbox.url}/_sandbox/whatsapp/phone?lang=en").text
    assert "/_sandbox/whatsapp/phone?lang=en" in shown

    psid = str(uuid.uuid4().int % 10**16)
    written = httpx.post(f"{sandbox.url}/_sandbox/meta/pages/{page_id}/customers/{psid}/events", json={"text": "Ciao!"})
    assert written.status_code == 200
    with unit_of_work(rt.sessions) as session:
        inbound = session.scalars(select(Message).where(Message.provider_message_id == written.json()["mid"])).one()
        conversation_id = inbound.conversation_id
    answer = client.post(
        f"/api/v1/conversations/{conversation_id}/reply",
        headers=org.headers(),
        json={"text": "Buongiorno, come possiamo aiutarla?", "inbox_id": inbox["id"]},
    )
    assert answer.status_code == 201, answer.text
    assert deliver(rt, answer.json()["id"]) == "sent"
    chat = httpx.get(f"{sandbox.url}/_sandbox/meta/pages/{page_id}/phone/{psid}").json()["messages"]
    assert [(m["from"], m["text"]) for m in chat] == [
        ("customer", "Ciao!"),
        ("agent", "Buongiorno, come possiamo aiutarla?"),
    ]
    read = httpx.post(f"{sandbox.url}/_sandbox/meta/pages/{page_id}/phone/{psid}/read", timeout=30)
    assert read.status_code == 200 and len(read.json()["read"]) == 1
    wait_for(lambda: _status(rt, answer.json()["id"]) == "read", what="the read event")
