"""Writes a planned history (contacts, then every conversation step in time order) into one session,
through the record services wherever they can carry the time a thing happened.

- Contacts are created by ``contacts.create_contact`` (identity resolution, merge suggestions).
- Every customer message goes through the real ingest (``ingest_event``) with an explicit ``now``,
  so the WhatsApp-to-phone link, conversation continuity, reopening and the ``channel.switch``
  timeline events are the product's own behaviour, not imitations.
- Assignment, team, priority, labels and status changes go through ``update_conversation``, with
  its checks, timeline, audit, wrap-up, routing and SLA hooks and snooze timers; notes through
  ``add_note``.
- Backfilled rows must carry the time they happened, but several services stamp rows from the wall
  clock. ``HistoryClock`` stamps rows added to the session with the simulated time instead; the
  few fields a service sets to "now" explicitly are put back to the simulated time after the call,
  each with its reason.
- Agent replies are the one thing written as rows: ``send_reply`` queues a delivery in the outbox
  (loading the demo must never send anything) and refuses history-only channels, and there is no
  use case for "a reply that was already delivered at time T".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.channels.base import InboundAttachment, InboundEvent, InboundIdentity
from raccordo.demo.domain.plan import Action, ContactPlan, ConversationPlan, DemoPlan, Step
from raccordo.demo.organization import Org
from raccordo.platform.runtime import Runtime
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.identities import IdentityKind
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType, TimelineKind
from raccordo.record.models import Conversation, Message
from raccordo.record.services.contacts import create_contact
from raccordo.record.services.conversations import update_conversation
from raccordo.record.services.identity import IdentityInput
from raccordo.record.services.ingest import ingest_event
from raccordo.record.services.records import add_timeline
from raccordo.record.services.reply import add_note

VERIFIED_KINDS = (IdentityKind.EMAIL, IdentityKind.EXTERNAL)  # the shop's own records: known good


class HistoryClock:
    """Stamps rows added to the session with the simulated time instead of the wall clock."""

    def __init__(self, session: Session, at: datetime) -> None:
        self.at = at
        event.listen(session, "transient_to_pending", self._stamp)

    def _stamp(self, session: Session, instance: object) -> None:
        for name in ("created_at", "updated_at"):
            if hasattr(type(instance), name) and getattr(instance, name) is None:
                setattr(instance, name, self.at)


def write_contacts(session: Session, org: Org, plans: list[ContactPlan], clock: HistoryClock) -> None:
    creator = system_actor(org.tenant.id)
    region = org.content.organization.region
    created: set[int] = set()
    for plan in plans:
        clock.at = plan.created_at
        identities = [
            IdentityInput(kind, value, verified=kind in VERIFIED_KINDS) for kind, value in plan.identities.items()
        ]
        contact = create_contact(
            session,
            creator,
            name=plan.name,
            language=plan.language,
            identities=identities,
            custom_attributes=dict(plan.attributes),
            region=region,
        )
        if contact.id in created:
            raise RuntimeError(f"demo contact {plan.index} resolved to an existing contact: identities must be unique")
        created.add(contact.id)
        # Consent given before the history starts: ``update_contact`` would date it now and log a
        # change, so the planned record (with its date) is the contact's field.
        contact.consent = dict(plan.consent)
        contact.updated_at = plan.created_at


class HistoryWriter:
    """Applies the plan's steps in the order they happened; ``conversations`` maps plan index -> row."""

    def __init__(self, session: Session, rt: Runtime, org: Org, clock: HistoryClock, plan: DemoPlan) -> None:
        self.session, self.rt, self.org, self.clock, self.plan = session, rt, org, clock, plan
        self.channels = org.content.organization.channels
        self.supervisor = org.content.organization.index_of("supervisor")
        self.conversations: dict[int, Conversation] = {}

    def run(self) -> dict[int, Conversation]:
        handlers: dict[Action, Callable[[ConversationPlan, Step, datetime], None]] = {
            Action.INBOUND: self.inbound,
            Action.REPLY: self.reply,
            Action.NOTE: self.note,
            Action.ASSIGN: self.assign,
            Action.STATUS: self.status,
        }
        for timed in self.plan.timeline():
            self.clock.at = timed.at
            handlers[timed.step.action](timed.conversation, timed.step, timed.at)
            if timed.last:  # services stamp the wall clock on every change: end on the last step's time
                self.conversations[timed.conversation.index].updated_at = timed.at
        return self.conversations

    def _conversation(self, plan: ConversationPlan) -> Conversation:
        return self.conversations[plan.index]

    def _actor(self, index: int | None) -> Actor:
        return self.org.actor(index if index is not None else self.supervisor)

    def inbound(self, plan: ConversationPlan, step: Step, at: datetime) -> None:
        assert step.channel is not None and step.provider_message_id is not None
        channel = self.channels[step.channel]
        contact = plan.contact
        kind, value = contact.identity_for(channel)
        identities = [InboundIdentity(kind, value)] + [
            InboundIdentity(extra, contact.identities[extra])
            for extra in channel.also_identifies
            if extra in contact.identities
        ]
        attachments = []
        if step.attachment is not None:
            assert step.attachment_data is not None
            filename, content_type = step.attachment
            attachments.append(InboundAttachment(filename, content_type, step.attachment_data))
        inbound = InboundEvent(
            provider_message_id=step.provider_message_id,
            identities=identities,
            text=step.text,
            contact_name=contact.name,
            contact_language=contact.language,
            subject=step.subject,
            sent_at=at,
            attachments=attachments,
        )
        result = ingest_event(
            self.session,
            self.rt.files,
            self.org.inboxes[step.channel],
            inbound,
            max_attachment_bytes=self.rt.settings.max_attachment_bytes,
            now=at,
        )
        if plan.index not in self.conversations:
            if not result.conversation_created:
                raise RuntimeError(
                    f"demo conversation {plan.index} joined an existing conversation: the schedule is wrong"
                )
            self.conversations[plan.index] = result.conversation
        elif result.conversation.id != self._conversation(plan).id:
            raise RuntimeError(f"demo conversation {plan.index} was split: the schedule is wrong")

    def assign(self, plan: ConversationPlan, step: Step, at: datetime) -> None:
        conversation = self._conversation(plan)
        team = self.org.teams[self.org.content.topics[plan.topic].team]
        changes: dict[str, Any] = {"team_id": team.id, "priority": plan.priority, "labels": plan.labels}
        if plan.agent is None:
            actor = system_actor(self.org.tenant.id)  # routed to the team's queue, nobody picked it up yet
        else:
            actor = self._actor(self.supervisor if plan.supervisor_assigns else plan.agent)
            changes["assignee_id"] = self.org.users[plan.agent].id
        if not conversation.subject:
            changes["subject"] = plan.subject
        update_conversation(self.session, actor, conversation.id, **changes)

    def reply(self, plan: ConversationPlan, step: Step, at: datetime) -> None:
        # A reply that was delivered at ``at``: no service records one (see the module docstring), so
        # the message row and its timeline event are written here, like ``send_reply`` writes them.
        assert step.agent is not None and step.channel is not None
        conversation = self._conversation(plan)
        user = self.org.users[step.agent]
        kind, value = plan.contact.identity_for(self.channels[step.channel])
        message = Message(
            tenant_id=self.org.tenant.id,
            conversation_id=conversation.id,
            direction=Direction.OUTBOUND.value,
            channel=step.channel,
            inbox_id=self.org.inboxes[step.channel].id,
            sender_type=SenderType.USER.value,
            sender_id=user.id,
            text=step.text,
            content_attributes={"recipient": {"kind": kind, "value": value}},
            provider_message_id=step.provider_message_id,
            delivery_status=DeliveryStatus.SENT.value,
            created_at=at,
        )
        self.session.add(message)
        self.session.flush()
        conversation.first_response_at = conversation.first_response_at or at
        conversation.last_activity_at = at
        add_timeline(
            self.session,
            self.org.tenant.id,
            conversation.contact_id,
            TimelineKind.MESSAGE.value,
            conversation_id=conversation.id,
            actor_type="user",
            actor_id=user.id,
            data={"message_id": message.id, "direction": "outbound", "channel": step.channel},
            at=at,
        )

    def note(self, plan: ConversationPlan, step: Step, at: datetime) -> None:
        add_note(
            self.session,
            self.rt.files,
            self._actor(step.agent),
            self._conversation(plan).id,
            text=step.text,
            max_attachment_bytes=self.rt.settings.max_attachment_bytes,
        )

    def status(self, plan: ConversationPlan, step: Step, at: datetime) -> None:
        assert step.status is not None
        conversation = self._conversation(plan)
        snoozed_until = None
        if step.status == ConversationStatus.SNOOZED.value:
            assert step.snooze_for is not None
            # After the demo's "now", and never in the past (the service wants a future time).
            snoozed_until = max(self.plan.now, datetime.now(UTC)) + step.snooze_for
        update_conversation(
            self.session, self._actor(step.agent), conversation.id, status=step.status, snoozed_until=snoozed_until
        )
        if step.status == ConversationStatus.RESOLVED.value:
            conversation.resolved_at = at  # the service dates a resolution now; this one happened at ``at``
