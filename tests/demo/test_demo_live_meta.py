"""The demo's Messenger inbox is live: wired as ``raccordo demo`` wires it (the demo loaded, the provider
sandbox on a free port told the page, its secrets and the webhook URL, the app served with its worker), a
demo customer writes through the sandbox with their page-scoped id and lands on their own contact, an
agent's reply is delivered by the worker to the sandbox's Send API, and delivered then read come back;
the demo's Instagram account is live the same way.
Both databases."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import User
from raccordo.accounts.services import accounts
from raccordo.channels.domain.reach import Availability
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.channels.services.reach import ranked_routes
from raccordo.demo.live_meta import MetaLink, connect_meta_sandbox, graph_base_url
from raccordo.demo.sandbox_link import DEFAULT_SANDBOX_URL
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Conversation, Message
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.sandbox import server
from tests.demo.conftest import DemoRun
from tests.support.mail import wait_for


@dataclass
class LiveDemo:
    tenant_id: int
    inbox: Inbox
    link: MetaLink
    app_url: str
    outbox_after_load: int

    @property
    def control(self) -> str:
        return self.control_of(self.inbox)

    def control_of(self, inbox: Inbox) -> str:
        return f"{self.link.sandbox_url}/_sandbox/meta/pages/{inbox.settings['page_id']}"


@pytest.fixture(scope="module")
def live(rt: Runtime, loaded: DemoRun, sandbox: server.Running, app_url: str) -> LiveDemo:
    slug = loaded.logins.tenant_slug
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
        inbox = session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id, Inbox.channel == "messenger")).one()
        assert inbox.settings["graph_base_url"] == graph_base_url(DEFAULT_SANDBOX_URL)
        # Other live tests of the same demo send on their own inboxes; the load itself queued nothing here.
        outbox = session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.inbox_id == inbox.id))
    link = connect_meta_sandbox(rt, slug, sandbox.url, public_url=app_url, status_delay=0.2)
    with unit_of_work(rt.sessions) as session:
        inbox = session.get_one(Inbox, inbox.id)
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


def test_the_demo_messenger_inbox_is_a_real_inbox_on_the_sandbox(rt: Runtime, live: LiveDemo) -> None:
    assert live.outbox_after_load == 0
    assert live.inbox.settings["graph_base_url"] == graph_base_url(live.link.sandbox_url)
    assert live.link.of_kind("messenger") == (live.inbox.settings["page_id"],)
    assert httpx.get(f"{live.control}/sent").json()["data"] == []
    page = httpx.get(live.link.customer_page, params={"lang": "en"})
    assert page.status_code == 200 and live.inbox.settings["page_id"] in page.text
    with unit_of_work(rt.sessions) as session:
        history = session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == live.inbox.id))
    assert history and history > 5


def test_a_demo_customer_writes_on_messenger_and_the_reply_is_delivered_then_read(rt: Runtime, live: LiveDemo) -> None:
    with unit_of_work(rt.sessions) as session:
        identity = session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.tenant_id == live.tenant_id, ContactIdentity.kind == "messenger")
            .order_by(ContactIdentity.id)
            .limit(1)
        ).one()
        session.expunge(identity)
    page_id, psid = identity.value.split(":")
    assert page_id == live.inbox.settings["page_id"]  # the demo's ids are scoped by its page
    written = httpx.post(f"{live.control}/customers/{psid}/events", json={"text": "Ciao, avete novità?"}, timeout=60)
    assert written.status_code == 200, written.text
    inbound = _message(rt, provider_message_id=written.json()["mid"])
    assert inbound is not None and inbound.inbox_id == live.inbox.id and inbound.tenant_id == live.tenant_id
    with unit_of_work(rt.sessions) as session:
        conversation = session.get_one(Conversation, inbound.conversation_id)
        assert conversation.contact_id == identity.contact_id  # the demo customer, continued

    answer = httpx.post(
        f"{live.app_url}/api/v1/conversations/{inbound.conversation_id}/reply",
        headers={"Authorization": f"Bearer {_token(rt, live.tenant_id, 'admin')}"},
        json={"text": "Sì, da domani.", "inbox_id": live.inbox.id},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    reply_id = answer.json()["id"]
    sent = wait_for(
        lambda: [
            s
            for s in httpx.get(f"{live.control}/sent").json()["data"]
            if s["psid"] == psid and s["payload"]["message"].get("text") == "Sì, da domani."
        ],
        timeout=30,
        what="the worker to deliver the reply to the sandbox",
    )
    assert len(sent) == 1 and sent[0]["payload"]["messaging_type"] == "RESPONSE"
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "delivered",
        timeout=30,
        what="the delivery event",
    )
    read = httpx.post(f"{live.control}/phone/{psid}/read", timeout=30)
    assert read.status_code == 200 and sent[0]["mid"] in read.json()["read"]
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "read",
        timeout=30,
        what="the read event",
    )


def test_the_demo_instagram_inbox_is_live_and_its_customer_is_answered_by_default(rt: Runtime, live: LiveDemo) -> None:
    """The demo's Instagram account is played by the sandbox too; a demo customer who writes there is
    answered there by default (the reach ranking puts the inbox they wrote on first) and the reply goes
    out to the sandbox's Send API with their Instagram-scoped id."""
    with unit_of_work(rt.sessions) as session:
        inbox = session.scalars(
            select(Inbox).where(Inbox.tenant_id == live.tenant_id, Inbox.channel == "instagram")
        ).one()
        session.expunge(inbox)
        history = session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == inbox.id))
        identity = session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.tenant_id == live.tenant_id, ContactIdentity.kind == "instagram")
            .order_by(ContactIdentity.id)
            .limit(1)
        ).one()
        session.expunge(identity)
    account = inbox.settings["account_id"]
    assert inbox.settings["graph_base_url"] == graph_base_url(live.link.sandbox_url)
    assert live.link.of_kind("instagram") == (account,) and history and history > 2
    page = httpx.get(live.link.customer_page, params={"lang": "it"})
    assert page.status_code == 200 and account in page.text and live.inbox.settings["page_id"] in page.text

    scoped_account, igsid = identity.value.split(":")
    assert scoped_account == account  # the demo's ids are scoped by its Instagram account
    written = httpx.post(
        f"{live.control_of(inbox)}/customers/{igsid}/events", json={"text": "Ciao, è disponibile?"}, timeout=60
    )
    assert written.status_code == 200, written.text
    inbound = _message(rt, provider_message_id=written.json()["mid"])
    assert inbound is not None and inbound.inbox_id == inbox.id
    with unit_of_work(rt.sessions) as session:
        conversation = session.get_one(Conversation, inbound.conversation_id)
        assert conversation.contact_id == identity.contact_id
        ranked = ranked_routes(session, conversation)
    assert ranked[0].inbox_id == inbox.id and ranked[0].availability is Availability.FREE

    answer = httpx.post(
        f"{live.app_url}/api/v1/conversations/{inbound.conversation_id}/reply",
        headers={"Authorization": f"Bearer {_token(rt, live.tenant_id, 'admin')}"},
        json={"text": "Sì, in tutte le taglie."},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    sent = wait_for(
        lambda: [
            s
            for s in httpx.get(f"{live.control_of(inbox)}/sent").json()["data"]
            if s["psid"] == igsid and s["payload"]["message"].get("text") == "Sì, in tutte le taglie."
        ],
        timeout=30,
        what="the worker to deliver the Instagram reply to the sandbox",
    )
    assert len(sent) == 1
    reply_id = answer.json()["id"]
    wait_for(
        lambda: (m := _message(rt, id=reply_id)) is not None and m.delivery_status == "delivered",
        timeout=30,
        what="the Instagram delivery event",
    )
