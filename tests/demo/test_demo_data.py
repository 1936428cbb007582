"""The demo data as a service on both databases: the promised organization, its real history, logins and
routing; then its WhatsApp inbox live, wired as ``raccordo demo`` wires it (the provider sandbox on a free
port told the inbox's number, secrets and webhook URL, the app served with its worker): a demo customer
writes through the sandbox and lands on the demo's WhatsApp inbox, on their own contact; an agent's reply
through the API is delivered by the worker to the sandbox, and ``delivered`` then ``read`` come back
through the webhook.

One demo load per database serves every test here (a load is ~39k statements, the suite's costliest
fixture). The live tests come last in this module on purpose: they add a conversation, messages and an
outbox row that the checks above count exactly, and pytest runs a module's tests in the order written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import Team, User
from raccordo.accounts.services import accounts
from raccordo.channels.base import InboundEvent, InboundIdentity, get_channel, register, unregister
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.demo import seed as demo
from raccordo.demo.content import load_content
from raccordo.demo.domain.planner import CONVERSATION_COUNT, plan_demo
from raccordo.demo.sandbox_link import DEFAULT_SANDBOX_URL, SandboxLink, connect_sandbox, graph_base_url
from raccordo.platform.errors import InvalidInput
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import (
    AuditEntry,
    Contact,
    ContactIdentity,
    Conversation,
    MergeSuggestion,
    Message,
    TimelineEvent,
)
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.record.services.ingest import ingest_event
from raccordo.record.services.reply import send_reply
from raccordo.sandbox import server
from tests.demo.conftest import DemoRun
from tests.support.mail import wait_for
from tests.support.record_counts import count_rows

# --- demo ------------------------------------------------------------------------------------------


def test_demo_loads_the_promised_organization(rt: Runtime, loaded: DemoRun) -> None:
    # The load's cost is bounded by its statements, not by a wall time a busy CI machine would
    # stretch (about 56k on SQLite and 48k on PostgreSQL for 500 conversations when measured).
    assert loaded.statements < 80_000
    with unit_of_work(rt.sessions) as session:
        tid = loaded.tenant_id
        teams = list(session.scalars(select(Team).where(Team.tenant_id == tid)))
        assert sorted(t.name for t in teams) == ["Assistenza clienti", "Fatturazione", "Supporto tecnico"]
        assert all(team.members for team in teams)
        agents = list(session.scalars(select(User).where(User.tenant_id == tid, User.role == "agent")))
        assert len(agents) == 8 and {a.language for a in agents} == {"it", "en"}
        assert {u.role for u in session.scalars(select(User).where(User.tenant_id == tid))} == {
            "owner",
            "admin",
            "supervisor",
            "agent",
        }
        assert count_rows(session, Contact, tid) == 200
        assert count_rows(session, Conversation, tid) == 500
        channels = set(session.scalars(select(Inbox.channel).where(Inbox.tenant_id == tid)))
        assert {"api", "email", "whatsapp", "sms", "widget", "telegram", "messenger", "instagram"} <= channels
        kinds = set(session.scalars(select(ContactIdentity.kind).where(ContactIdentity.tenant_id == tid)))
        assert {"email", "phone", "whatsapp", "telegram", "messenger", "instagram", "web_visitor", "external"} <= kinds
        assert (
            count_rows(
                session, ContactIdentity, tid, ContactIdentity.kind == "phone", ContactIdentity.value.like("+393%")
            )
            > 50
        )
        assert count_rows(session, Contact, tid, Contact.custom_attributes != {}) > 50
        assert count_rows(session, MergeSuggestion, tid, MergeSuggestion.status == "open") >= 5
    assert [role for role, _, _ in loaded.logins.users] == ["owner", "admin", "supervisor"] + ["agent"] * 8
    assert {password for _, _, password in loaded.logins.users} == {demo.DEMO_PASSWORD}


def test_demo_history_is_real_and_switches_channels(rt: Runtime, loaded: DemoRun) -> None:
    with unit_of_work(rt.sessions) as session:
        tid = loaded.tenant_id
        switched = session.scalar(
            select(func.count(func.distinct(TimelineEvent.conversation_id))).where(
                TimelineEvent.tenant_id == tid, TimelineEvent.kind == "channel.switch"
            )
        )
        assert switched and switched >= 100
        # WhatsApp messages from a known phone number were linked to the contact automatically.
        assert count_rows(session, TimelineEvent, tid, TimelineEvent.kind == "identity.linked") > 10
        assert count_rows(session, TimelineEvent, tid, TimelineEvent.kind == "conversation.reopened") > 0
        statuses = dict(
            session.execute(
                select(Conversation.status, func.count())
                .where(Conversation.tenant_id == tid)
                .group_by(Conversation.status)
            ).all()
        )
        assert {"open", "pending", "snoozed", "resolved"} <= set(statuses)
        assert statuses["resolved"] + statuses.get("closed", 0) > 400
        assert count_rows(session, Conversation, tid, Conversation.assignee_id.is_not(None)) > 450
        assert count_rows(session, Conversation, tid, Conversation.priority != "none") > 100
        assert count_rows(session, Conversation, tid, Conversation.labels != []) == 500
        oldest = session.scalar(select(func.min(Message.created_at)).where(Message.tenant_id == tid))
        newest = session.scalar(select(func.max(Message.created_at)).where(Message.tenant_id == tid))
        assert loaded.now - timedelta(days=90) <= oldest and newest <= loaded.now
        # History carries the time it happened, not the time it was loaded.
        first_events = session.scalar(
            select(func.min(TimelineEvent.created_at)).where(
                TimelineEvent.tenant_id == tid, TimelineEvent.kind == "channel.switch"
            )
        )
        assert first_events < loaded.now - timedelta(days=30)
        snoozed = list(
            session.scalars(select(Conversation).where(Conversation.tenant_id == tid, Conversation.status == "snoozed"))
        )
        assert all(c.snoozed_until and c.snoozed_until > loaded.now for c in snoozed)
        texts = set(
            session.scalars(
                select(Message.text).where(Message.tenant_id == tid, Message.direction == "inbound").limit(2000)
            )
        )
        assert any("ordine" in t for t in texts) and any("order" in t for t in texts)


def test_demo_messages_are_all_stored(rt: Runtime, loaded: DemoRun) -> None:
    with unit_of_work(rt.sessions) as session:
        tid = loaded.tenant_id
        inbound = count_rows(session, Message, tid, Message.direction == "inbound")
        outbound = count_rows(session, Message, tid, Message.direction == "outbound")
        notes = count_rows(session, Message, tid, Message.direction == "note")
        assert inbound >= 1000 and outbound >= 1000 and notes > 50
        # Every message has its timeline event: nothing was dropped as a duplicate or lost.
        assert count_rows(session, TimelineEvent, tid, TimelineEvent.kind == "message") == inbound + outbound
        assert count_rows(session, TimelineEvent, tid, TimelineEvent.kind == "note") == notes
        without_inbound = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.tenant_id == tid,
                ~Conversation.id.in_(select(Message.conversation_id).where(Message.direction == "inbound")),
            )
        )
        assert without_inbound == 0
        # History replies are already sent: nothing is queued, nothing will be delivered.
        assert (
            count_rows(session, Message, tid, Message.direction == "outbound", Message.delivery_status != "sent") == 0
        )
        assert count_rows(session, OutboxItem, tid) == 0
        assert count_rows(session, Message, tid, Message.attachments.any()) > 10


def test_demo_is_idempotent(rt: Runtime, loaded: DemoRun) -> None:
    def counts() -> list[int]:
        with unit_of_work(rt.sessions) as session:
            return [
                count_rows(session, model, loaded.tenant_id)
                for model in (User, Contact, Conversation, Message, TimelineEvent, AuditEntry)
            ]

    before = counts()
    again = demo.load_demo(rt, slug=loaded.logins.tenant_slug)
    assert again == loaded.logins
    assert counts() == before


def test_demo_logins_work(rt: Runtime, loaded: DemoRun) -> None:
    role, email, password = loaded.logins.users[3]
    with unit_of_work(rt.sessions) as session:
        new = accounts.login(
            session,
            email=email,
            password=password,
            tenant_slug=loaded.logins.tenant_slug,
            client_address="test",
            max_failures=5,
            window_seconds=60,
            session_hours=1,
        )
        assert new.user.role == role == "agent"


def test_a_reply_on_a_channel_that_is_not_installed_is_refused_clearly(rt: Runtime, loaded: DemoRun) -> None:
    """A conversation whose inbox's channel module is gone (a plug-in uninstalled after its messages
    arrived) is refused with a precise error, not queued to fail later."""
    with rt.sessions() as session:
        conversation, channel = session.execute(
            select(Conversation, Inbox.channel)
            .join(Inbox, Inbox.id == Conversation.last_inbox_id)
            .where(
                Conversation.tenant_id == loaded.tenant_id, Conversation.status != "closed", Inbox.channel == "telegram"
            )
            .limit(1)
        ).one()
        installed = type(get_channel(channel))
        unregister(channel)
        try:
            owner = session.scalars(select(User).where(User.tenant_id == loaded.tenant_id, User.role == "owner")).one()
            with pytest.raises(InvalidInput) as error:
                send_reply(
                    session,
                    rt.files,
                    Actor(loaded.tenant_id, owner.id, Role.OWNER),
                    conversation.id,
                    text="Ciao",
                    inbox_id=conversation.last_inbox_id,  # asked for by name: the default skips it
                    max_attachment_bytes=1000,
                )
            assert error.value.key == "channel.not_installed"
        finally:
            register(installed)
            session.rollback()


def test_demo_plan_is_deterministic() -> None:
    """The same seed gives the same people and texts; another seed gives others."""
    now = datetime(2026, 1, 15, tzinfo=UTC)

    def fingerprint(seed: int) -> list[tuple[str, str, str]]:
        plans = plan_demo(load_content(), seed, now).conversations
        return [(p.contact.name, p.steps[0].text, str(p.start)) for p in plans]

    first = fingerprint(7)
    assert len(first) == CONVERSATION_COUNT and first == fingerprint(7)
    assert first != fingerprint(8)


def test_demo_routes_new_conversations(rt: Runtime, loaded: DemoRun) -> None:
    """The demo comes with skills, a queue per team, rules and SLA policies: a new customer
    message is queued by the rules and gets SLA clocks."""
    from raccordo.routing.models import QueueItem, RoutingQueue, RoutingRule, SlaClock, SlaPolicy

    with unit_of_work(rt.sessions) as session:
        tenant = loaded.tenant_id
        assert (
            session.scalar(select(func.count()).select_from(RoutingQueue).where(RoutingQueue.tenant_id == tenant)) == 3
        )
        assert session.scalar(select(func.count()).select_from(RoutingRule).where(RoutingRule.tenant_id == tenant)) == 5
        assert session.scalar(select(func.count()).select_from(SlaPolicy).where(SlaPolicy.tenant_id == tenant)) == 2
        inbox = session.scalars(select(Inbox).where(Inbox.tenant_id == tenant, Inbox.channel == "api")).one()
        event = InboundEvent(
            f"demo-new-{uuid.uuid4().hex[:8]}",
            [InboundIdentity("email", f"nuovo-{uuid.uuid4().hex[:6]}@example.com")],
            text="Buongiorno",
            contact_language="en",
        )
        result = ingest_event(session, rt.files, inbox, event, max_attachment_bytes=1000)
        item = session.scalars(select(QueueItem).where(QueueItem.conversation_id == result.conversation.id)).one()
        english = session.scalars(
            select(RoutingRule).where(RoutingRule.tenant_id == tenant, RoutingRule.name == "English")
        ).one()
        assert item.status == "waiting" and item.rule_id == english.id and item.required_skills == {"english": 2}
        metrics = set(
            session.scalars(select(SlaClock.metric).where(SlaClock.conversation_id == result.conversation.id))
        )
        assert metrics == {"first_response", "resolution"}
        session.rollback()


# --- the WhatsApp inbox live on the provider sandbox (last: these add to the tenant) ----------------


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
def live(rt: Runtime, loaded: DemoRun, sandbox: server.Running, app_url: str) -> LiveDemo:
    # The demo the tests above checked, loaded as ``--no-serve`` loads it (against the default sandbox
    # address), now connected to the sandbox that runs elsewhere, as a later ``raccordo demo`` with
    # another --sandbox-port does.
    slug = loaded.logins.tenant_slug
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
