"""Routing under stress: several real `raccordo worker` processes route one tenant at once.

The spec: "A stress test with several worker processes on PostgreSQL routing at once keeps
every invariant (checked from the database afterwards)." Here WORKERS processes run
routing passes (``services.routing_pass.route_due`` in their loop, woken through Redis by every
commit of this process and of each other) while threads of this process drive the tenant
for LOAD_SECONDS (longer, up to MAX_LOAD_SECONDS, until every routing event kind has
happened): customers write on three API inboxes and an email inbox (new conversations and
follow-ups), agents accept, decline or ignore offers, resolve, set
pending and transfer their conversations back to a queue, go away and come back, and a
supervisor moves or closes waiting conversations. Three queues: one offering with a short
offer timeout, ageing, skill relaxation and overflow; one assigning directly; one for
email, where some agents are exclusive (an email takes the whole agent).

Checked from the database:

1. Every SNAPSHOT_EVERY seconds, in one REPEATABLE READ transaction (SQLite: one
   transaction, writers are serialized): each queue item is held by at most one agent and
   agrees with its conversation (offered: nobody assigned; assigned: the conversation's
   assignee); per agent and channel, open/pending conversations assigned plus pending
   offers never exceed the capacity, and an exclusive channel's conversation is the
   agent's only one; the load the routing service computes (``load_agents``) is that same
   count. Nothing here assigns by hand (no transfer to a user, no reopening of an assigned
   conversation), so nothing may exceed capacity on purpose.
2. Whenever a snapshot is *settled* (no routing request pending and the tenant's next
   timed pass in the future: a pass would change nothing now), and again after the load
   stops: no waiting item is eligible for any online agent with room
   (``domain.routing.eligible`` / ``reserved_for`` with the agents of ``load_agents``).
3. The ``routing_events`` history, replayed per conversation in id order (one
   conversation's writers all lock its queue item before they record, so id order is
   commit order): an offer or a routing assignment only from waiting, accept/decline/expiry
   only by the agent holding the offer; the replay ends in each item's final row.
4. Priority: when a pass offered or assigned item L of queue Q to agent A at time t, no
   item H of the same queue and channel that stayed waiting through that pass had a
   higher effective priority at t while A was eligible for it (A's skills against H's
   relaxed requirements, A not cooling down after declining H). A's room for H follows
   from A getting L in the same pass (same channel, load only grows within a pass). H
   must have entered the queue ENTRY_MARGIN seconds before t, so the pass certainly saw it
   (an insert committed during the pass's read is not in the pass's snapshot).

It runs on PostgreSQL, or on a SQLite file when the suite is told to use SQLite only
(RACCORDO_TEST_DATABASES=sqlite). Redis must be reachable (it carries the wake-ups).
"""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.bootstrap.worker import bus_publisher
from raccordo.channels import signing
from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.models import Inbox
from raccordo.channels.services import inboxes
from raccordo.channels.services.inbound import process_raw, receive, store_raw
from raccordo.platform.bus import make_bus
from raccordo.platform.config import Settings
from raccordo.platform.errors import Conflict
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.migrate import upgrade
from raccordo.realtime.services import presence
from raccordo.record.models import Conversation
from raccordo.record.services.conversations import update_conversation
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
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import offers as routing_offers
from raccordo.routing.services import routing_pass, transfers
from tests.helpers import customer_message
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database
from tests.support.orgs import make_org

RACCORDO = str(Path(sys.executable).parent / "raccordo")
SECRET = "routing-stress-secret-key"
REDIS_URL = os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_REDIS = "start it with: redis-server --daemonize yes (or set RACCORDO_TEST_REDIS_URL)"

WORKERS = 3
LOAD_SECONDS = 20.0
# On a busy machine agents react late and offers expire before anyone accepts or declines: the load
# then goes on (up to this long in all) until every routing event kind below has happened.
MAX_LOAD_SECONDS = 60.0
EXERCISED_KINDS = (
    "offered",
    "accepted",
    "declined",
    "offer_expired",
    "assigned",
    "resolved",
    "transferred",
    "overflowed",
)
SETTLE_SECONDS = 15.0  # at most, after the load, to find settled snapshots
SETTLED_CHECKS_AFTER_LOAD = 3
SNAPSHOT_EVERY = 0.25
OFFER_TIMEOUT = 2  # seconds
COOLDOWN = 3  # seconds an agent is skipped after declining or letting an offer expire
ENTRY_MARGIN = 2.0  # seconds (see 4. in the docstring)
MAX_ACTIONS = 5000  # per driving thread, whatever the time
MAX_VIOLATIONS = 25

LOADING = ("open", "pending")
CHANNELS = ("api", "email")


@dataclass
class AgentSpec:
    skills: dict[str, int]
    capacity: dict[str, int]
    exclusive: list[str]
    queues: list[str]


# Small capacities and mixed skills: agents fill up, items wait, priorities and skills decide.
AGENTS: dict[str, AgentSpec] = {
    "a1": AgentSpec({"italiano": 5, "fatture": 2}, {"api": 2, "email": 1}, ["email"], ["Supporto", "Posta"]),
    "a2": AgentSpec({"italiano": 3}, {"api": 1, "email": 0}, [], ["Supporto", "Vendite"]),
    "a3": AgentSpec({"italiano": 2, "fatture": 3}, {"api": 2, "email": 1}, [], ["Supporto", "Vendite", "Posta"]),
    "a4": AgentSpec({"fatture": 5}, {"api": 1, "email": 2}, ["email"], ["Vendite", "Posta"]),
    "a5": AgentSpec({"italiano": 1}, {"api": 2, "email": 0}, [], ["Supporto", "Vendite"]),
    "a6": AgentSpec({"italiano": 4, "fatture": 1}, {"api": 1, "email": 1}, ["api"], ["Supporto", "Vendite", "Posta"]),
}

QUEUES: dict[str, dict[str, Any]] = {
    # Offers with a short timeout; ageing (1 point a second, at most 6) lets an old standard
    # conversation overtake a new VIP one (priority 5); "italiano" relaxes by one level after 4 s;
    # what waits 6 s overflows to Vendite.
    "Supporto": {
        "strategy": "longest_idle",
        "offer_timeout_seconds": OFFER_TIMEOUT,
        "ageing_per_minute": 60.0,
        "ageing_cap": 6.0,
        "relax": [{"after_seconds": 4, "drop_levels": 1}],
        "decline_cooldown_seconds": COOLDOWN,
    },
    "Vendite": {"strategy": "least_occupied", "decline_cooldown_seconds": COOLDOWN},  # direct assignment
    "Posta": {
        "strategy": "round_robin",
        "offer_timeout_seconds": OFFER_TIMEOUT + 1,
        "decline_cooldown_seconds": COOLDOWN,
    },
}


@dataclass
class Tenant:
    tenant_id: int
    admin: Actor
    supervisor: Actor
    agents: dict[int, Actor]  # user id -> actor
    specs: dict[int, AgentSpec]  # user id -> spec
    queue_ids: dict[str, int]
    api_inboxes: dict[str, tuple[str, str]]  # name -> (identifier, hmac secret)
    email_inbox: str  # identifier


def _setup(rt: Runtime) -> Tenant:
    org = make_org(rt)
    admin = Actor(org.tenant_id, org.users["admin"], Role.ADMIN)
    supervisor = Actor(org.tenant_id, org.users["supervisor"], Role.SUPERVISOR)
    with unit_of_work(rt.sessions) as session:
        # A message after a resolution opens a new conversation (no reopening with the old assignee).
        accounts.update_tenant(session, admin, reopen_window_hours=0)
        for name in ("italiano", "fatture"):
            routing_admin.create_skill(session, admin, name)
        queue_ids = {
            name: routing_admin.create_queue(session, admin, {"name": name, **values}).id
            for name, values in QUEUES.items()
        }
        routing_admin.update_queue(
            session,
            admin,
            queue_ids["Supporto"],
            {"overflow_after_seconds": 6, "overflow_queue_id": queue_ids["Vendite"]},
        )
        api_inboxes = {}
        for name in ("standard", "vip", "vendite"):
            inbox, secrets_ = inboxes.create_inbox(
                session, rt.secretbox, admin, name=name, channel="api", settings={}, secrets_={}, business_hours=None
            )
            api_inboxes[name] = (inbox.identifier, secrets_["hmac_secret"])
        mail, _ = inboxes.create_inbox(
            session,
            rt.secretbox,
            admin,
            name="posta",
            channel="email",
            settings={"address": "posta@raccordo.example.com"},
            secrets_={},
            business_hours=None,
        )
        inbox_ids = {
            name: session.scalars(select(Inbox.id).where(Inbox.identifier == identifier)).one()
            for name, (identifier, _) in api_inboxes.items()
        }
        rules = [
            ("VIP", [{"field": "inbox_id", "op": "eq", "value": inbox_ids["vip"]}], "Supporto", 5, {"italiano": 3}),
            (
                "Standard",
                [{"field": "inbox_id", "op": "eq", "value": inbox_ids["standard"]}],
                "Supporto",
                0,
                {"italiano": 2},
            ),
            ("Vendite", [{"field": "inbox_id", "op": "eq", "value": inbox_ids["vendite"]}], "Vendite", 1, {}),
            ("Posta", [{"field": "channel", "op": "eq", "value": "email"}], "Posta", 0, {"fatture": 1}),
        ]
        for position, (name, conditions, queue, priority, skills) in enumerate(rules, start=1):
            routing_admin.create_rule(
                session,
                admin,
                {
                    "name": name,
                    "position": position,
                    "conditions": conditions,
                    "queue_id": queue_ids[queue],
                    "priority": priority,
                    "required_skills": skills,
                },
            )
        agents: dict[int, Actor] = {}
        specs: dict[int, AgentSpec] = {}
        for name, spec in AGENTS.items():
            user = accounts.create_user(
                session,
                admin,
                email=f"{name}@{org.slug}.example.com",
                name=name.upper(),
                role="agent",
                password=None,
                language="it",
            )
            routing_admin.set_agent_profile(
                session,
                admin,
                user.id,
                skills=spec.skills,
                capacity=spec.capacity,
                exclusive=spec.exclusive,
                queue_ids=[queue_ids[q] for q in spec.queues],
            )
            agents[user.id] = Actor(org.tenant_id, user.id, Role.AGENT)
            specs[user.id] = spec
    for actor in agents.values():
        with unit_of_work(rt.sessions) as session:
            presence.set_status(session, actor, "online", None)
    return Tenant(org.tenant_id, admin, supervisor, agents, specs, queue_ids, api_inboxes, mail.identifier)


# --- processes -----------------------------------------------------------------------------------


class Workers:
    """The real `raccordo worker` processes, with their logs; all stopped at the end, however it ends."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.env = {
            **os.environ,
            "RACCORDO_DATABASE_URL": database_url,
            "RACCORDO_DATA_DIR": str(tmp_path / "data"),
            "RACCORDO_SECRET_KEY": SECRET,
            "RACCORDO_BUS_URL": REDIS_URL,
            "RACCORDO_AUTO_MIGRATE": "false",
            "RACCORDO_WORKER_POLL_SECONDS": "0.2",
            "RACCORDO_EMAIL_POLLING": "false",
            "RACCORDO_LOG_LEVEL": "INFO",
        }
        self.tmp_path = tmp_path
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, count: int) -> None:
        for number in range(count):
            log = self.tmp_path / f"worker-{number}.log"
            with log.open("ab") as handle:
                self.running.append(
                    (subprocess.Popen([RACCORDO, "worker"], env=self.env, stdout=handle, stderr=subprocess.STDOUT), log)
                )

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {n} ---\n{log.read_text(errors='replace')[-4000:]}" for n, (_, log) in enumerate(self.running)
        )

    def wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for process, log in self.running:
            while "raccordo worker started" not in log.read_text(errors="replace"):
                if process.poll() is not None:
                    pytest.fail(f"a worker exited with {process.returncode} on start:\n{self.logs()}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"the workers did not start in {timeout} s:\n{self.logs()}", pytrace=False)
                time.sleep(0.05)

    def check_alive(self) -> None:
        for process, _ in self.running:
            if process.poll() is not None:
                pytest.fail(f"a worker exited with {process.returncode}:\n{self.logs()}", pytrace=False)

    def stop(self) -> list[int]:
        for process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process, _ in self.running:
            try:
                codes.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait(timeout=10))
        return codes


class BusThread:
    """This process's own bus, so its commits wake the workers as a serve process's would."""

    def __init__(self, url: str) -> None:
        self.bus = make_bus(url)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stress-bus", daemon=True)
        self.thread.start()

        async def ignore(message: dict[str, Any]) -> None:
            return None

        asyncio.run_coroutine_threadsafe(self.bus.start(ignore), self.loop).result(timeout=20)

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.bus.stop(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


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


def _waiting_item(row: Any) -> WaitingItem:
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
            waiting = _waiting_item(item)
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


# --- the load ------------------------------------------------------------------------------------


class Load:
    """Threads acting as customers, agents and a supervisor until ``stop`` or their action budget."""

    def __init__(self, rt: Runtime, tenant: Tenant, deadline: float) -> None:
        self.rt = rt
        self.tenant = tenant
        self.deadline = deadline
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.contacts: list[tuple[str, str]] = []  # (inbox kind, customer email)
        self.threads: list[threading.Thread] = []

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def attempt(self, what: str, action: Callable[[], Any]) -> None:
        """One action in its own transaction; a lost race is counted, anything else is an error."""
        try:
            action()
            self.count(what)
        except Conflict:
            self.count(f"{what}: conflict")
        except DBAPIError as exc:
            # A deadlock is an error too: a routing pass must never make an agent's click fail.
            text = str(exc.orig) if exc.orig is not None else str(exc)
            self.count(f"{what}: {'deadlock' if 'deadlock' in text.lower() else 'database error'}")
            with self.lock:
                self.errors.append(f"{what}: {type(exc).__name__}: {text[:500]}")
        except Exception as exc:  # noqa: BLE001 - reported at the end
            with self.lock:
                self.errors.append(f"{what}: {type(exc).__name__}: {exc}")

    def start(self) -> None:
        targets = [(self.customer, 1), (self.customer, 2), (self.supervisor, 3)] + [
            (lambda seed, user=user: self.agent(user, seed), 10 + n) for n, user in enumerate(self.tenant.agents)
        ]
        for target, seed in targets:
            thread = threading.Thread(target=self.guarded, args=(target, seed), daemon=True)
            thread.start()
            self.threads.append(thread)

    def guarded(self, target: Callable[[int], None], seed: int) -> None:
        try:
            target(seed)
        except Exception as exc:  # noqa: BLE001 - a thread that dies is reported, not lost
            with self.lock:
                self.errors.append(f"a driving thread died: {type(exc).__name__}: {exc}")

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
            if thread.is_alive():
                self.errors.append(f"thread {thread.name} still running 30 s after the stop")

    # customers -----------------------------------------------------------------------------------

    def customer(self, seed: int) -> None:
        rng = random.Random(seed)
        for number in range(MAX_ACTIONS):
            if not self.running():
                return
            with self.lock:
                known = list(self.contacts)
            if known and rng.random() < 0.2:
                kind, address = rng.choice(known)  # a follow-up: joins the open conversation, or opens a new one
            else:
                kind = rng.choices(["standard", "vip", "vendite", "email"], weights=[35, 20, 25, 20])[0]
                address = f"c{seed}-{number}-{uuid.uuid4().hex[:6]}@example.com"
                with self.lock:
                    self.contacts.append((kind, address))
            self.attempt(f"inbound {kind}", lambda kind=kind, address=address: self.write(kind, address))
            time.sleep(rng.uniform(0.05, 0.25))

    def write(self, kind: str, address: str) -> None:
        message_id = f"m-{uuid.uuid4().hex}"
        if kind == "email":
            body = (
                f"From: Cliente <{address}>\r\nTo: posta@raccordo.example.com\r\nSubject: Fattura\r\n"
                f"Message-ID: <{message_id}@example.com>\r\n"
                f"Date: {email.utils.formatdate()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                "Buongiorno, ho una domanda sulla fattura.\r\n"
            ).encode()
            outcome = process_raw(
                self.rt,
                store_raw(
                    self.rt,
                    self.tenant.email_inbox,
                    InboundRequest.polled("smtp:test", body, {"x-raccordo-source": "smtp"}),
                ),
            )
        else:
            identifier, secret = self.tenant.api_inboxes[kind]
            body = json.dumps(customer_message(message_id, "Buongiorno", email=address)).encode()
            headers = {k.lower(): v for k, v in signing.sign(secret, body).items()}
            outcome = receive(
                self.rt, identifier, InboundRequest.of("POST", "http://testserver/hook", headers, body), "api"
            )
        assert len(outcome.message_ids) == 1, outcome

    # agents --------------------------------------------------------------------------------------

    def agent(self, user_id: int, seed: int) -> None:
        rng = random.Random(seed)
        actor = self.tenant.agents[user_id]
        away_until = 0.0
        ignored: set[tuple[int, datetime | None]] = set()  # offers left to expire, decided once
        for _ in range(MAX_ACTIONS):
            if not self.running():
                return
            if away_until and time.monotonic() >= away_until:
                self.attempt("online again", lambda: self.set_presence(actor, "online"))
                away_until = 0.0
            elif not away_until and rng.random() < 0.03:
                self.attempt("away", lambda: self.set_presence(actor, "away"))
                away_until = time.monotonic() + rng.uniform(0.5, 2.0)
            with unit_of_work(self.rt.sessions) as session:
                offers = [
                    (item.conversation_id, item.offer_expires_at) for item in routing_offers.my_offers(session, actor)
                ]
            for conversation_id, expires_at in offers:
                if (conversation_id, expires_at) in ignored:
                    continue
                roll = rng.random()
                if roll < 0.65:
                    self.attempt("accept", lambda cid=conversation_id: self.accept(actor, cid))
                elif roll < 0.85:
                    self.attempt("decline", lambda cid=conversation_id: self.decline(actor, cid))
                else:
                    ignored.add((conversation_id, expires_at))
            with unit_of_work(self.rt.sessions) as session:
                mine = list(
                    session.scalars(
                        select(Conversation.id).where(
                            Conversation.assignee_id == user_id, Conversation.status.in_(LOADING)
                        )
                    )
                )
            for conversation_id in mine:
                roll = rng.random()
                if roll < 0.10:
                    self.attempt(
                        "resolve",
                        lambda cid=conversation_id: self.own(
                            actor, cid, lambda s: update_conversation(s, actor, cid, status="resolved")
                        ),
                    )
                elif roll < 0.13:
                    target = self.tenant.queue_ids[rng.choice(list(QUEUES))]
                    self.attempt(
                        "transfer to queue",
                        lambda cid=conversation_id, q=target: self.own(
                            actor, cid, lambda s: transfers.transfer(s, actor, cid, queue_id=q, note=None)
                        ),
                    )
                elif roll < 0.16:
                    self.attempt(
                        "pending",
                        lambda cid=conversation_id: self.own(
                            actor, cid, lambda s: update_conversation(s, actor, cid, status="pending")
                        ),
                    )
            time.sleep(rng.uniform(0.1, 0.3))

    def set_presence(self, actor: Actor, status: str) -> None:
        with unit_of_work(self.rt.sessions) as session:
            presence.set_status(session, actor, status, "pausa" if status == "away" else None)

    def accept(self, actor: Actor, conversation_id: int) -> None:
        with unit_of_work(self.rt.sessions) as session:
            routing_offers.accept_offer(session, actor, conversation_id)

    def decline(self, actor: Actor, conversation_id: int) -> None:
        with unit_of_work(self.rt.sessions) as session:
            routing_offers.decline_offer(session, actor, conversation_id, "occupato")

    def own(self, actor: Actor, conversation_id: int, change: Callable[[Session], Any]) -> None:
        """``change`` only while the conversation is still the agent's (locked first, as the services do)."""
        with unit_of_work(self.rt.sessions) as session:
            conversation = session.scalars(
                select(Conversation).where(Conversation.id == conversation_id).with_for_update()
            ).one()
            if conversation.assignee_id != actor.user_id or conversation.status not in LOADING:
                raise Conflict("routing.offer_gone")
            change(session)

    # a supervisor --------------------------------------------------------------------------------

    def supervisor(self, seed: int) -> None:
        rng = random.Random(seed)
        actor = self.tenant.supervisor
        for _ in range(MAX_ACTIONS):
            if not self.running():
                return
            with unit_of_work(self.rt.sessions) as session:
                waiting = list(
                    session.scalars(
                        select(QueueItem.conversation_id).where(
                            QueueItem.tenant_id == actor.tenant_id, QueueItem.status.in_(("waiting", "offered"))
                        )
                    )
                )
            if waiting:
                conversation_id = rng.choice(waiting)
                if rng.random() < 0.7:
                    target = self.tenant.queue_ids[rng.choice(list(QUEUES))]
                    self.attempt(
                        "supervisor transfer",
                        lambda cid=conversation_id, q=target: self.queued(
                            cid, lambda s: transfers.transfer(s, actor, cid, queue_id=q, note="Da gestire qui")
                        ),
                    )
                else:
                    self.attempt(
                        "supervisor close",
                        lambda cid=conversation_id: self.queued(
                            cid, lambda s: update_conversation(s, actor, cid, status="resolved")
                        ),
                    )
            time.sleep(rng.uniform(0.3, 0.7))

    def queued(self, conversation_id: int, change: Callable[[Session], Any]) -> None:
        with unit_of_work(self.rt.sessions) as session:
            conversation = session.scalars(
                select(Conversation).where(Conversation.id == conversation_id).with_for_update()
            ).one()
            if conversation.assignee_id is not None or conversation.status != "open":
                raise Conflict("routing.offer_gone")
            change(session)


# --- the test ------------------------------------------------------------------------------------


def _require_redis() -> None:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); {START_REDIS}", pytrace=False)


@pytest.mark.slow
def test_worker_processes_routing_at_once_keep_every_invariant(tmp_path: Path) -> None:
    _require_redis()
    started = time.monotonic()
    if "postgresql" in BACKENDS:
        database_name, database_url = create_postgres_database()
    else:
        database_name, database_url = None, f"sqlite:///{tmp_path / 'raccordo.db'}"
    rt: Runtime | None = None
    workers = Workers(tmp_path, database_url)
    bus: BusThread | None = None
    load: Load | None = None
    try:
        upgrade(database_url)
        rt = Runtime.build(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=SECRET))
        tenant = _setup(rt)
        violations: dict[str, int] = {}  # problem -> in how many snapshots
        snapshots = settled = settled_during_load = settled_after = 0

        def inspect() -> bool:
            nonlocal snapshots, settled
            snap = take_snapshot(rt, tenant.tenant_id)
            snapshots += 1
            settled += snap.settled
            for problem in check_snapshot(snap, tenant):
                if problem in violations or len(violations) < MAX_VIOLATIONS:
                    violations[problem] = violations.get(problem, 0) + 1
            return snap.settled

        try:
            bus = BusThread(REDIS_URL)
            rt.publisher = bus_publisher(bus.bus)
            workers.start(WORKERS)
            workers.wait_started(timeout=40)
            load_started = time.monotonic()
            load = Load(rt, tenant, load_started + LOAD_SECONDS)
            load.start()
            for _ in range(int(MAX_LOAD_SECONDS / SNAPSHOT_EVERY) + 10):
                if not load.running():
                    break
                inspect()
                workers.check_alive()
                if load.deadline - time.monotonic() < 1 and load_started + MAX_LOAD_SECONDS > load.deadline:
                    missing = [kind for kind in EXERCISED_KINDS if not routing_event_kinds(rt, tenant)[kind]]
                    if missing:
                        load.deadline = min(load.deadline + 5, load_started + MAX_LOAD_SECONDS)
                time.sleep(SNAPSHOT_EVERY)
            load.join()
            settled_during_load = settled

            # Quiescence: everyone back online, no more input; the workers settle the tenant.
            for actor in tenant.agents.values():
                load.set_presence(actor, "online")
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline and settled_after < SETTLED_CHECKS_AFTER_LOAD:
                if inspect():
                    settled_after += 1
                    time.sleep(0.5)
                else:
                    time.sleep(0.1)
            workers.check_alive()
        finally:
            if load is not None:
                load.join()
            codes = workers.stop()
            if bus is not None:
                rt.publisher = None
                bus.close()
        # With the workers stopped, the history is final.
        history_problems, kinds, pairs = check_history(rt, tenant)
        with unit_of_work(rt.sessions) as session:
            statuses = Counter(session.scalars(select(QueueItem.status).where(QueueItem.tenant_id == tenant.tenant_id)))
    finally:
        workers.stop()
        if rt is not None:
            rt.close()
        if database_name is not None:
            drop_postgres_database(database_name)

    assert load is not None
    logs = workers.logs()
    summary = (
        f"{WORKERS} workers, {time.monotonic() - started:.1f} s; snapshots {snapshots} "
        f"({settled_during_load} settled during the load, {settled_after} after); "
        f"actions {dict(sorted(load.counts.items()))}; routing events {dict(sorted(kinds.items()))}; "
        f"items {dict(statuses)}; priority pairs compared {pairs}"
    )
    print(summary)
    problems = (
        [f"driving: {error}" for error in load.errors[:MAX_VIOLATIONS]]
        + [f"snapshot: {problem} (in {count} snapshots)" for problem, count in violations.items()]
        + [f"history: {problem}" for problem in history_problems[:MAX_VIOLATIONS]]
    )
    assert not problems, "\n".join(problems) + "\n" + summary
    assert settled_after >= 1, (
        f"the workers never settled the tenant in {SETTLE_SECONDS} s after the load\n{summary}\n{logs}"
    )
    # The run must have exercised what the invariants are about.
    for kind in EXERCISED_KINDS:
        assert kinds[kind] > 0, f"no {kind!r} routing event: the load did not exercise it\n{summary}"
    assert pairs > 0, f"no decision passed over a waiting item: the priority check compared nothing\n{summary}"
    assert codes == [0] * WORKERS, f"worker exit codes {codes}\n{logs}"
    assert "worker pass failed" not in logs, logs
    assert SECRET not in logs, "secrets must never be logged"
