"""The demo's WhatsApp inbox is live: wired as ``raccordo demo`` wires it (the demo loaded, the provider
sandbox on a free port told the inbox's number, secrets and webhook URL, the app served with its
worker), a demo customer writes through the sandbox and lands on the demo's WhatsApp inbox, on their own
contact; an agent's reply through the API is delivered by the worker to the sandbox, and ``delivered``
then ``read`` come back through the webhook. Both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import User
from raccordo.accounts.services import accounts
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.demo import seed as demo
from raccordo.demo.sandbox_link import DEFAULT_SANDBOX_URL, SandboxLink, connect_sandbox, graph_base_url
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Conversation, Message
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.sandbox import server
from tests.support.mail import wait_for
from tests.support.servers import serving_in_thread


@dataclass
class LiveDemo:
    tenant_id: int
    inbox: Inbox
    link: SandboxLink
    app_url: str
    outbox_after_load: int

    @property
    def control(self) -> str:
        return f"{self.link.sandbox_url}/_sandbox/whatsapp/numbers/{self.link.phone_numbers[0]}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[server.Running]:
    running = server.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def app_url(rt: Runtime) -> Iterator[str]:
    """The app as ``raccordo demo`` serves it: over HTTP, with its worker delivering the outbox."""
    with serving_in_thread(rt, run_delivery=True) as url:
        yield url


@pytest.fixture(scope="module")
def live(rt: Runtime, sandbox: server.Running, app_url: str) -> LiveDemo:
    # A fresh slug: the PostgreSQL test database is shared by the whole session.
    slug = f"demo-{uuid.uuid4().hex[:8]}"
    # Loaded as ``--no-serve`` loads it (against the default sandbox address), then connected to the
    # sandbox that runs elsewhere, as a later ``raccordo demo`` with another --sandbox-port does.
    demo.load_demo(rt, slug=slug)
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
        inbox = session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id, Inbox.channel == "whatsapp")).one()
        assert inbox.settings["graph_base_url"] == graph_base_url(DEFAULT_SANDBOX_URL)
        # Loading sends nothing: the history's replies are rows, not deliveries.
        outbox = session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.tenant_id == tenant_id))
    link = connect_sandbox(rt, slug, sandbox.url, public_url=app_url, status_delay=0.2)
    with unit_of_work(rt.sessions) as session:
        inbox = session.get(Inbox, inbox.id)
        session.expunge(inbox)
    return LiveDemo(tenant_id, inbox, link, app_url, outbox or 0)


def _message(rt: Runtime, **where: object) -> Message | None:
    with unit_of_work(rt.sessions) as session:
        found = session.scalars(select(Message).filter_by(**where)).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def _token(rt: Runtime, tenant_id: int, role: str) -> str:
    with unit_of_work(rt.sessions) as session:
        user = session.scalars(select(User).where(User.tenant_id == tenant_id, User.role == role).limit(1)).one()
        return accounts.create_token(session, Actor(tenant_id, user.id, Role(role)), "live demo test")[1]


def test_the_demo_whatsapp_inbox_is_a_real_inbox_on_the_sandbox(rt: Runtime, live: LiveDemo) -> None:
    assert live.outbox_after_load == 0
    assert live.inbox.settings["graph_base_url"] == graph_base_url(live.link.sandbox_url)
    assert live.link.phone_numbers == (live.inbox.settings["phone_number_id"],)
    # The sandbox plays the number with nothing sent yet, and its customer phone page offers it.
    assert httpx.get(f"{live.control}/sent").json()["data"] == []
    page = httpx.get(live.link.phone_page, params={"lang": "en"})
    assert page.status_code == 200 and live.inbox.settings["phone_number_id"] in page.text
    # The history stayed on the inbox, now live: back-dated conversations on WhatsApp.
    with unit_of_work(rt.sessions) as session:
        history = session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == live.inbox.id))
    assert history and history > 10


def test_a_demo_customer_writes_and_the_agents_reply_is_delivered_then_read(rt: Runtime, live: LiveDemo) -> None:
    # A demo customer with a WhatsApp number writes from the phone (the sandbox's control API, as the page does).
    with unit_of_work(rt.sessions) as session:
        identity = session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.tenant_id == live.tenant_id, ContactIdentity.kind == "whatsapp")
            .order_by(ContactIdentity.id)
            .limit(1)
        ).one()
        session.expunge(identity)
    wa_id = identity.value.lstrip("+")
    written = httpx.post(
        f"{live.control}/customers/{wa_id}/messages",
        json={"type": "text", "text": "Buongiorno, a che punto è il mio ordine?", "name": "Cliente demo"},
        timeout=60,
    )
    assert written.status_code == 200, written.text
    assert [d["status"] for d in written.json()["deliveries"]] == [200]
    inbound = _message(rt, provider_message_id=written.json()["id"])
    assert inbound is not None and inbound.inbox_id == live.inbox.id and inbound.tenant_id == live.tenant_id
    assert inbound.text == "Buongiorno, a che punto è il mio ordine?"
    with unit_of_work(rt.sessions) as session:
        conversation = session.get(Conversation, inbound.conversation_id)
        assert conversation is not None and conversation.contact_id == identity.contact_id

    # The agent answers through the API of the served app; its worker delivers to the sandbox.
    answer = httpx.post(
        f"{live.app_url}/api/v1/conversations/{inbound.conversation_id}/reply",
        headers={"Authorization": f"Bearer {_token(rt, live.tenant_id, 'admin')}"},
        json={"text": "Parte oggi, arriva domani."},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    reply_id = answer.json()["id"]
    # (Outside the demo's office hours the inbox's "we are closed" auto-reply is delivered too: skipped here.)
    sent = wait_for(
        lambda: [
            s
            for s in httpx.get(f"{live.control}/sent").json()["data"]
            if s["to"] == wa_id and s["payload"].get("text", {}).get("body") == "Parte oggi, arriva domani."
        ],
        timeout=30,
        what="the worker to deliver the reply to the sandbox",
    )
    assert len(sent) == 1
    # The sandbox reports ``delivered`` by itself, through the signed webhook.
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "delivered",
        timeout=30,
        what="the delivered status",
    )
    assert _message(rt, id=reply_id).provider_message_id == sent[0]["id"]  # type: ignore[union-attr]

    # The customer reads it on the phone page: ``read`` comes back.
    read = httpx.post(f"{live.control}/phone/{wa_id}/read", timeout=30)
    assert read.status_code == 200 and sent[0]["id"] in read.json()["read"]
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "read",
        timeout=30,
        what="the read status",
    )
    shown = [(m["from"], m["text"]) for m in httpx.get(f"{live.control}/phone/{wa_id}").json()["messages"]]
    assert shown[0] == ("customer", "Buongiorno, a che punto è il mio ordine?")
    assert shown[-1] == ("agent", "Parte oggi, arriva domani.")
