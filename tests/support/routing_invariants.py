"""The routing invariants the stress test checks from the database.

A snapshot, taken in one REPEATABLE READ transaction (SQLite: one transaction, writers are serialized),
must hold each queue item by at most one agent in agreement with its conversation, never exceed an
agent's capacity per channel, and, when settled, leave no waiting item eligible for an online agent with
room. The ``routing_events`` history, replayed per conversation in id order, must follow the allowed
transitions, end in each item's final row, and respect priority (see the stress test's docstring, 1.-4.).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation
from raccordo.routing.domain.routing import (
    AgentState,
    QueuePolicy,
    WaitingItem,
    effective_priority,
    eligible,
    required_levels,
    reserved_for,
    skills_match,
)
from raccordo.routing.models import QueueItem, RoutingEvent, RoutingQueue, RoutingRequest, RoutingState
from raccordo.routing.services import routing_pass
from tests.support.routing_load import LOADING, QUEUES, Tenant

ENTRY_MARGIN = 2.0  # seconds (see 4. in the docstring)
CHANNELS = ("api", "email")


# --- snapshots -----------------------------------------------------------------------------------


@dataclass
class Snapshot:
    now: datetime
    items: list[Any]
    conversations: dict[int, Any]
    agents: dict[int, AgentState]
    policies: dict[int, QueuePolicy]
    requests: int
    next_run_at: datetime | None

    @property
    def settled(self) -> bool:
        return self.requests == 0 and (self.next_run_at is None or self.next_run_at > self.now)


def take_snapshot(rt: Runtime, tenant_id: int) -> Snapshot:
    """Everything the invariants need, read in one consistent transaction."""
    with rt.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin(), Session(bind=connection) as session:
            requests = (
                session.scalar(
                    select(func.count()).select_from(RoutingRequest).where(RoutingRequest.tenant_id == tenant_id)
                )
                or 0
            )
            now = datetime.now(UTC)  # after the snapshot began: every pass it shows ran at or before now
            next_run_at = session.scalar(select(RoutingState.next_run_at).where(RoutingState.tenant_id == tenant_id))
            items = session.execute(
                select(
                    QueueItem.id,
                    QueueItem.conversation_id,
                    QueueItem.queue_id,
                    QueueItem.channel,
                    QueueItem.priority,
                    QueueItem.required_skills,
                    QueueItem.status,
                    QueueItem.queued_at,
                    QueueItem.declined,
                    QueueItem.preferred_user_id,
                    QueueItem.offered_user_id,
                    QueueItem.offer_expires_at,
                    QueueItem.assigned_user_id,
                )
                .where(QueueItem.tenant_id == tenant_id)
                .order_by(QueueItem.id)
            ).all()
            conversations = {
                row.id: row
                for row in session.execute(
                    select(
                        Conversation.id, Conversation.status, Conversation.assignee_id, Conversation.last_channel
                    ).where(Conversation.tenant_id == tenant_id)
                )
            }
            agents = {agent.id: agent for agent in routing_pass.load_agents(session, tenant_id)}
            policies = {
                queue.id: routing_pass.policy_of(queue)
                for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))
            }
    return Snapshot(now, items, conversations, agents, policies, requests, next_run_at)


def waiting_item(row: Any) -> WaitingItem:
    declined = {int(user): datetime.fromisoformat(at).timestamp() for user, at in (row.declined or {}).items()}
    return WaitingItem(
        row.id,
        row.queue_id,
        row.channel,
        row.priority,
        dict(row.required_skills or {}),
        row.queued_at.timestamp(),
        declined,
        row.preferred_user_id,
    )


def check_snapshot(snap: Snapshot, tenant: Tenant) -> list[str]:
    """Invariants 1 (always) and 2 (when the snapshot is settled)."""
    problems = []
    load: dict[int, Counter[str]] = defaultdict(Counter)
    for conversation in snap.conversations.values():
        if conversation.assignee_id is not None and conversation.status in LOADING:
            load[conversation.assignee_id][conversation.last_channel or ""] += 1
    for item in snap.items:
        conversation = snap.conversations[item.conversation_id]
        where = f"item {item.id} (conversation {item.conversation_id})"
        if item.status == "offered":
            load[item.offered_user_id][item.channel] += 1
            if (
                item.offered_user_id is None
                or item.assigned_user_id is not None
                or conversation.assignee_id is not None
            ):
                problems.append(
                    f"{where} offered to {item.offered_user_id} but assigned to {item.assigned_user_id}, conversation "
                    f"assignee {conversation.assignee_id}"
                )
            if item.offer_expires_at is None:
                problems.append(f"{where} offered with no expiry")
        elif item.status == "waiting":
            if (
                item.offered_user_id is not None
                or item.assigned_user_id is not None
                or conversation.assignee_id is not None
            ):
                problems.append(
                    f"{where} waiting but offered to {item.offered_user_id}, assigned to {item.assigned_user_id}, "
                    f"conversation assignee {conversation.assignee_id}"
                )
        elif item.status == "assigned":
            if item.offered_user_id is not None or (
                conversation.status in LOADING and conversation.assignee_id != item.assigned_user_id
            ):
                problems.append(
                    f"{where} assigned to {item.assigned_user_id}, offered to {item.offered_user_id}, conversation "
                    f"assignee {conversation.assignee_id}"
                )
    for user_id, spec in tenant.specs.items():
        mine = load.get(user_id, Counter())
        for channel in CHANNELS:
            if mine[channel] > spec.capacity[channel]:
                problems.append(
                    f"agent {user_id} holds {mine[channel]} {channel} conversations (assigned + offered), capacity "
                    f"{spec.capacity[channel]}"
                )
        total = sum(mine.values())
        for channel in spec.exclusive:
            if mine[channel] and total > 1:
                problems.append(f"agent {user_id} holds {dict(mine)}: {channel} is exclusive for them")
        computed = {
            channel: count
            for channel, count in (snap.agents[user_id].load.items() if user_id in snap.agents else ())
            if count
        }
        if computed != {channel: count for channel, count in mine.items() if count}:
            problems.append(f"agent {user_id}: routing_pass.load_agents counts {computed}, the rows say {dict(mine)}")
    if snap.settled:
        now = snap.now.timestamp()
        for item in snap.items:
            if item.status != "waiting":
                continue
            waiting = waiting_item(item)
            policy = snap.policies[item.queue_id]
            reserved = reserved_for(waiting, snap.agents, policy, now)
            for agent in snap.agents.values():
                if eligible(agent, waiting, policy, now, reserved):
                    problems.append(
                        f"settled at {snap.now.isoformat()}: item {item.id} (conversation {item.conversation_id}, "
                        f"queue {item.queue_id}, {item.channel}) waits "
                        f"while agent {agent.id} is online with room and eligible (load {dict(agent.load)})"
                    )
    return problems


# --- history -------------------------------------------------------------------------------------


@dataclass
class Step:
    """A conversation's routing state after one event."""

    event_id: int
    at: datetime
    status: str  # waiting, offered, assigned, done, none
    holder: int | None
    queue_id: int | None
    entered_at: datetime | None  # when it entered this queue (ageing, relaxation)
    declined: dict[int, datetime] = field(default_factory=dict)


def replay(events: list[Any]) -> tuple[list[Step], list[str]]:
    """One conversation's routing events in id order -> its states, and what is not allowed."""
    steps: list[Step] = []
    problems = []
    status, holder, queue_id, entered_at, declined = "none", None, None, None, {}

    def bad(event: Any, why: str) -> None:
        problems.append(
            f"conversation {event.conversation_id}: event {event.id} {event.kind} (user {event.user_id}) {why}; was "
            f"{status} by {holder}"
        )

    for event in events:
        data = event.data or {}
        kind = event.kind
        if kind == "queued":
            if status in ("waiting", "offered"):
                bad(event, "queued while still in a queue")
            status, holder, queue_id, entered_at, declined = "waiting", None, event.queue_id, event.at, {}
        elif kind == "overflowed":
            if status != "waiting":
                bad(event, "overflowed while not waiting")
            status, holder, queue_id, entered_at, declined = "waiting", None, event.queue_id, event.at, {}
        elif kind == "transferred":
            if data.get("to_queue_id") is not None:
                status, holder, queue_id, entered_at, declined = "waiting", None, data["to_queue_id"], event.at, {}
            elif data.get("to_user_id") is not None:
                status, holder = "assigned", data["to_user_id"]
        elif kind == "offered":
            if status != "waiting":
                bad(event, "offered while not waiting")
            status, holder = "offered", event.user_id
        elif kind == "accepted":
            if status != "offered" or holder != event.user_id:
                bad(event, "accepted by someone not holding the offer")
            status, holder = "assigned", event.user_id
        elif kind in ("declined", "offer_expired"):
            if status != "offered" or holder != event.user_id:
                bad(event, "withdrawn from someone not holding the offer")
            status, holder = "waiting", None
            declined = {**declined, event.user_id: event.at}
        elif kind == "assigned":
            if not data.get("manual") and status != "waiting":
                bad(event, "assigned by routing while not waiting")
            status, holder = "assigned", event.user_id
        elif kind in ("resolved", "abandoned"):
            if kind == "abandoned" and status not in ("waiting", "offered"):
                bad(event, "abandoned while not in a queue")
            status, holder = "done", None
        elif kind not in ("first_response", "out_of_hours"):
            bad(event, "unknown kind")
        steps.append(Step(event.id, event.at, status, holder, queue_id, entered_at, dict(declined)))
    return steps, problems


def routing_event_kinds(rt: Runtime, tenant: Tenant) -> Counter[str]:
    with unit_of_work(rt.sessions) as session:
        rows = session.execute(
            select(RoutingEvent.kind, func.count())
            .where(RoutingEvent.tenant_id == tenant.tenant_id)
            .group_by(RoutingEvent.kind)
        ).all()
    return Counter({kind: count for kind, count in rows})


def check_history(rt: Runtime, tenant: Tenant) -> tuple[list[str], Counter[str], int]:
    """Invariants 3 and 4; returns the problems, the event kinds, and how many (decision, waiting item)
    pairs were compared."""
    with unit_of_work(rt.sessions) as session:
        events = list(
            session.execute(
                select(
                    RoutingEvent.id,
                    RoutingEvent.conversation_id,
                    RoutingEvent.queue_id,
                    RoutingEvent.user_id,
                    RoutingEvent.kind,
                    RoutingEvent.at,
                    RoutingEvent.data,
                )
                .where(RoutingEvent.tenant_id == tenant.tenant_id)
                .order_by(RoutingEvent.id)
            ).all()
        )
        items = {
            row.conversation_id: row
            for row in session.execute(
                select(
                    QueueItem.conversation_id,
                    QueueItem.status,
                    QueueItem.offered_user_id,
                    QueueItem.assigned_user_id,
                    QueueItem.queue_id,
                    QueueItem.channel,
                    QueueItem.priority,
                    QueueItem.required_skills,
                    QueueItem.preferred_user_id,
                ).where(QueueItem.tenant_id == tenant.tenant_id)
            )
        }
        policies = {
            queue.id: routing_pass.policy_of(queue)
            for queue in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant.tenant_id))
        }
    kinds = Counter(event.kind for event in events)
    by_conversation: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        by_conversation[event.conversation_id].append(event)
    problems: list[str] = []
    history: dict[int, list[Step]] = {}
    for conversation_id, mine in by_conversation.items():
        steps, found = replay(mine)
        problems += found
        history[conversation_id] = steps
        item = items.get(conversation_id)
        final = steps[-1]
        if item is not None:
            holder = (
                item.offered_user_id
                if item.status == "offered"
                else item.assigned_user_id
                if item.status == "assigned"
                else None
            )
            if (final.status, final.holder, final.queue_id) != (item.status, holder, item.queue_id):
                problems.append(
                    f"conversation {conversation_id}: the history ends {final.status}/{final.holder}/queue "
                    f"{final.queue_id}, the row is {item.status}/{holder}/queue {item.queue_id}"
                )

    # 4. priority: a decision never passes over a higher effective priority the agent could take.
    members = {tenant.queue_ids[q]: {u for u, spec in tenant.specs.items() if q in spec.queues} for q in QUEUES}
    event_ids = {cid: [step.event_id for step in steps] for cid, steps in history.items()}
    pass_times: dict[int, set[datetime]] = {cid: {step.at for step in steps} for cid, steps in history.items()}
    pairs = 0
    for event in events:
        if event.kind not in ("offered", "assigned") or (event.data or {}).get("manual"):
            continue
        t, agent, conversation_id = event.at, event.user_id, event.conversation_id
        low = items[conversation_id]
        position = bisect.bisect_left(event_ids[conversation_id], event.id)
        before = history[conversation_id][position - 1] if position else None
        if before is None or before.status != "waiting" or before.entered_at is None:
            continue  # reported by the replay
        policy = policies[before.queue_id]
        low_item = WaitingItem(
            0,
            before.queue_id,
            low.channel,
            low.priority,
            dict(low.required_skills or {}),
            before.entered_at.timestamp(),
        )
        low_priority = effective_priority(low_item, policy, t.timestamp())
        spec = tenant.specs[agent]
        for other_id, steps in history.items():
            high = items.get(other_id)
            if other_id == conversation_id or high is None or high.channel != low.channel or t in pass_times[other_id]:
                continue
            index = bisect.bisect_left(event_ids[other_id], event.id)
            state = steps[index - 1] if index else None
            if (
                state is None
                or state.status != "waiting"
                or state.queue_id != before.queue_id
                or state.entered_at is None
            ):
                continue
            if (t - state.entered_at).total_seconds() < ENTRY_MARGIN or agent not in members.get(state.queue_id, set()):
                continue
            high_item = WaitingItem(
                0,
                state.queue_id,
                high.channel,
                high.priority,
                dict(high.required_skills or {}),
                state.entered_at.timestamp(),
            )
            cooled = state.declined.get(agent)
            if cooled is not None and (t - cooled).total_seconds() < policy.decline_cooldown_seconds:
                continue
            agent_state = AgentState(agent, True, frozenset(), spec.skills, spec.capacity)
            if not skills_match(agent_state, required_levels(high_item, policy, t.timestamp())):
                continue
            pairs += 1
            high_priority = effective_priority(high_item, policy, t.timestamp())
            if high_priority > low_priority + 1e-6:
                problems.append(
                    f"at {t.isoformat()} conversation {conversation_id} (effective priority {low_priority:.2f}) went "
                    f"to agent {agent} while conversation "
                    f"{other_id} of the same queue waited with {high_priority:.2f} and the agent could take it"
                )
    return problems, kinds, pairs
