"""Whether someone can answer a widget's visitor now, and where the conversation goes when nobody can.

No agent is available outside the inbox's or the routed queue's business hours, or when no online
agent can take the inbox's conversations: the widget says so and asks for an email, and the
conversation may continue on the tenant's email inbox (``offline_inbox``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.accounts.models import User
from raccordo.channels.base import get_channel
from raccordo.channels.models import Inbox
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.models import AgentPresence
from raccordo.routing.domain.rules import rule_matches
from raccordo.routing.models import RoutingQueue, RoutingRule
from raccordo.routing.services import routing_pass


def offline_inbox(session: Session, inbox: Inbox) -> Inbox | None:
    """The inbox replies go to when the visitor left an email: ``offline_inbox_id``, else the tenant's
    first active inbox whose channel addresses replies to an email first (the email channel)."""

    def by_email(candidate: Inbox) -> bool:
        implementation = get_channel(candidate.channel)
        return candidate.active and implementation is not None and implementation.reply_identity_kinds[:1] == ("email",)

    configured = inbox.settings.get("offline_inbox_id")
    if configured:
        candidate = session.get(Inbox, configured)
        return (
            candidate
            if candidate is not None and candidate.tenant_id == inbox.tenant_id and by_email(candidate)
            else None
        )
    for candidate in session.scalars(
        select(Inbox).where(Inbox.tenant_id == inbox.tenant_id, Inbox.active.is_(True)).order_by(Inbox.id)
    ):
        if by_email(candidate):
            return candidate
    return None


def availability(session: Session, inbox: Inbox, now: datetime | None = None) -> dict[str, Any]:
    """Whether someone can answer now: the inbox's hours, then the queue the routing rules pick for
    the inbox's conversations (its hours and its online members with room for the channel), or,
    when no rule picks one, any online agent of the tenant."""
    now = now or datetime.now(UTC)
    reason = None
    if inbox.business_hours and not parse_business_hours(inbox.business_hours).is_open(now):
        reason = "outside_hours"
    else:
        facts = {
            "channel": inbox.channel,
            "inbox_id": inbox.id,
            "language": None,
            "labels": [],
            "priority": "none",
            "contact": {},
            "conversation": {},
        }
        queue = None
        for rule in session.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == inbox.tenant_id, RoutingRule.active.is_(True))
            .order_by(RoutingRule.position, RoutingRule.id)
        ):
            candidate = session.get(RoutingQueue, rule.queue_id)
            if candidate is not None and candidate.active and rule_matches(rule.conditions or [], facts):
                queue = candidate
                break
        if queue is not None:
            if queue.business_hours and not parse_business_hours(queue.business_hours).is_open(now):
                reason = "outside_hours"
            elif not any(
                a.online and queue.id in a.queues and a.capacity.get(inbox.channel, 0) > 0
                for a in routing_pass.load_agents(session, inbox.tenant_id)
            ):
                reason = "no_agents"
        else:
            online = session.scalar(
                select(func.count())
                .select_from(AgentPresence)
                .join(User, User.id == AgentPresence.user_id)
                .where(
                    AgentPresence.tenant_id == inbox.tenant_id, AgentPresence.status == "online", User.active.is_(True)
                )
            )
            if not online:
                reason = "no_agents"
    return {
        "available": reason is None,
        "reason": reason,
        "email_fallback": reason is not None and offline_inbox(session, inbox) is not None,
    }


def inbox_availability(rt: Runtime, inbox_id: int) -> dict[str, Any]:
    """``availability`` of one inbox in its own unit of work (the hub refreshes open widgets with it)."""
    with unit_of_work(rt.sessions) as session:
        return availability(session, session.get_one(Inbox, inbox_id))
