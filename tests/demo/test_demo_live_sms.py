"""The demo's SMS inbox is live: loaded as ``raccordo demo --no-serve`` loads it, connected to a
sandbox running elsewhere (as a later ``raccordo demo`` does), a customer texts from the sandbox's
SMS phone page API, the worker delivers the agent's reply to the sandbox's Twilio and its statuses
come back: delivered. Both databases."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import User
from raccordo.accounts.services import accounts
from raccordo.channels.models import Inbox
from raccordo.demo.live_sms import connect_sms_sandbox
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.sandbox import server
from tests.demo.conftest import DemoRun
from tests.support.mail import wait_for


def _message(rt: Runtime, **where: object) -> Message | None:
    with unit_of_work(rt.sessions) as session:
        found = session.scalars(select(Message).filter_by(**where)).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def test_a_demo_customer_texts_and_the_agents_reply_is_delivered(
    rt: Runtime, loaded: DemoRun, sandbox: server.Running, app_url: str
) -> None:
    slug = loaded.logins.tenant_slug
    link = connect_sms_sandbox(rt, slug, sandbox.url, public_url=app_url, status_delay=0.2)
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
        inbox = session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id, Inbox.channel == "sms")).one()
        assert inbox.settings["twilio_api_base_url"] == sandbox.url
        assert inbox.settings["status_callback_url"].startswith(app_url)
        user = session.scalars(select(User).where(User.tenant_id == tenant_id, User.role == "owner")).first()
        assert user is not None
        token = accounts.create_token(session, Actor(tenant_id, user.id, Role.OWNER), "live sms test")[1]
    assert link.numbers == (inbox.settings["sender"],)
    page = httpx.get(link.phone_page, params={"lang": "en"})
    assert page.status_code == 200 and inbox.settings["sender"] in page.text

    account = f"{sandbox.url}/_sandbox/twilio/accounts/{inbox.settings['twilio_account_sid']}"
    customer = f"+39347{uuid.uuid4().int % 10**7:07d}"
    answer = httpx.post(
        f"{account}/customers/{customer}/messages", json={"text": "Il mio ordine è partito?"}, timeout=30
    )
    assert answer.status_code == 200 and answer.json()["deliveries"][-1]["status"] == 200, answer.text
    inbound = _message(rt, provider_message_id=answer.json()["sid"])
    assert inbound is not None and inbound.inbox_id == inbox.id

    reply = httpx.post(
        f"{app_url}/api/v1/conversations/{inbound.conversation_id}/reply",
        headers={"Authorization": f"Bearer {token}"},
        json={"text": "Sì, arriva domani.", "inbox_id": inbox.id},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    reply_id = reply.json()["id"]
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "delivered",
        what="the reply delivered through the sandbox",
    )
    shown = httpx.get(
        f"{sandbox.url}/_sandbox/sms/phone/twilio/{inbox.settings['twilio_account_sid']}/{customer}"
    ).json()
    assert [m["from"] for m in shown["messages"]][:1] == ["customer"]
    assert any(m["from"] == "agent" and m["text"] == "Sì, arriva domani." for m in shown["messages"])
