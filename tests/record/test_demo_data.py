"""The demo data as a service on both databases: the promised organization, its real history, logins and routing."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import Team, User
from raccordo.accounts.services import accounts
from raccordo.channels.base import InboundEvent, InboundIdentity, get_channel, register, unregister
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.demo import seed as demo
from raccordo.demo.content import load_content
from raccordo.demo.domain.planner import CONVERSATION_COUNT, plan_demo
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
from tests.support.record_counts import count_rows

# --- demo ------------------------------------------------------------------------------------------


@dataclass
class DemoRun:
    logins: demo.DemoLogins
    tenant_id: int
    seconds: float
    now: datetime
    statements: int


@pytest.fixture(scope="module")
def loaded(rt: Runtime) -> DemoRun:
    # The PostgreSQL test database is shared by the whole session: a fresh slug keeps this run apart.
    slug = f"demo-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(rt.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    try:
        logins = demo.load_demo(rt, slug=slug, now=now)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    seconds = time.perf_counter() - started
    print(f"\ndemo loaded on {rt.engine.dialect.name} in {seconds:.1f} s, {statements} statements")
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
    return DemoRun(logins, tenant_id, seconds, now, statements)


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
