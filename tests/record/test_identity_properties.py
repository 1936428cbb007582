"""Property-based tests of identity linking and merging on a real database.

After any sequence of inbound messages (with overlapping identities on several channels)
and merges: every identity belongs to exactly one live contact, every message is still
there and reachable from a live contact, and merged ids resolve to survivors.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.channels.base import InboundEvent, InboundIdentity
from raccordo.channels.models import Inbox
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, ContactIdentity, Conversation, Message, TimelineEvent
from raccordo.record.services.identity import live_contact, merge_contacts
from raccordo.record.services.ingest import ingest_event

POOL = [
    ("email", "anna@example.com"),
    ("email", "ANNA@example.com"),  # same identity, other spelling
    ("email", "bruno@example.org"),
    ("phone", "+39 347 111 2233"),
    ("whatsapp", "393471112233"),  # same number as above: links automatically
    ("phone", "+39 348 999 0000"),
    ("telegram", "424242"),
    ("external", "crm-7"),
]

ingest_op = st.tuples(
    st.just("ingest"), st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=3), st.integers(0, 1)
)
merge_op = st.tuples(st.just("merge"), st.integers(0, 30), st.integers(0, 30))
operations = st.lists(st.one_of(ingest_op, merge_op), min_size=1, max_size=14)


def _setup(rt):
    with unit_of_work(rt.sessions) as session:
        tenant = accounts.create_tenant(session, f"prop-{uuid.uuid4().hex[:10]}", "Property")
        inboxes = []
        for name in ("one", "two"):
            inbox = Inbox(tenant_id=tenant.id, name=name, channel="api", identifier=uuid.uuid4().hex[:16], settings={})
            session.add(inbox)
            session.flush()
            inboxes.append(inbox.id)
        return tenant.id, inboxes


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(ops=operations)
# Found by CI: a message claiming A's email together with the WhatsApp twin of B's phone.
@example(ops=[("ingest", [0], 0), ("ingest", [3], 0), ("ingest", [0, 4], 0)])
def test_links_and_merges_lose_nothing(rt, ops):
    tenant_id, inbox_ids = _setup(rt)
    actor = Actor(tenant_id, None, Role.OWNER)
    sent = 0
    for index, op in enumerate(ops):
        if op[0] == "ingest":
            _, picks, inbox_index = op
            event = InboundEvent(
                provider_message_id=f"m-{index}",
                identities=[InboundIdentity(*POOL[p]) for p in picks],
                text=f"message {index}",
            )
            with unit_of_work(rt.sessions) as session:
                ingest_event(
                    session, rt.files, session.get(Inbox, inbox_ids[inbox_index]), event, max_attachment_bytes=1000
                )
            sent += 1
        else:
            _, a, b = op
            with unit_of_work(rt.sessions) as session:
                live = list(
                    session.scalars(
                        select(Contact.id)
                        .where(Contact.tenant_id == tenant_id, Contact.merged_into_id.is_(None))
                        .order_by(Contact.id)
                    )
                )
                if len(live) < 2:
                    continue
                survivor, merged = live[a % len(live)], live[b % len(live)]
                if survivor == merged:
                    continue
                merge_contacts(session, actor, survivor, merged)

    with unit_of_work(rt.sessions) as session:
        contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.tenant_id == tenant_id))}
        live_ids = {cid for cid, c in contacts.items() if c.merged_into_id is None}
        identities = list(session.scalars(select(ContactIdentity).where(ContactIdentity.tenant_id == tenant_id)))
        # Every identity belongs to exactly one contact, and that contact is live.
        assert len({(i.kind, i.value) for i in identities}) == len(identities)
        assert all(i.contact_id in live_ids for i in identities)
        # Every merged contact resolves (directly) to a live survivor.
        for contact in contacts.values():
            if contact.merged_into_id is not None:
                assert contact.merged_into_id in live_ids
                assert live_contact(session, tenant_id, contact.id).id == contact.merged_into_id
        # No message lost; every message's conversation belongs to a live contact.
        messages = session.scalar(select(func.count()).select_from(Message).where(Message.tenant_id == tenant_id))
        assert messages == sent
        conversation_owners = set(
            session.scalars(select(Conversation.contact_id).where(Conversation.tenant_id == tenant_id))
        )
        assert conversation_owners <= live_ids
        # Message events on the timeline all sit with live contacts too.
        message_event_owners = set(
            session.scalars(
                select(TimelineEvent.contact_id).where(
                    TimelineEvent.tenant_id == tenant_id, TimelineEvent.kind == "message"
                )
            )
        )
        assert message_event_owners <= live_ids
        assert (
            session.scalar(
                select(func.count())
                .select_from(TimelineEvent)
                .where(TimelineEvent.tenant_id == tenant_id, TimelineEvent.kind == "message")
            )
            == sent
        )
        # Phone and WhatsApp of the same number always end up on one contact.
        same_number = {i.contact_id for i in identities if i.value == "+393471112233"}
        assert len(same_number) <= 1
