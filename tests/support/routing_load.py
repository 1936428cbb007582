"""The routing stress test's tenant and the load that drives it.

The tenant has agents with skills and capacities and three queues: one offering with a short offer
timeout, ageing, skill relaxation and overflow; one assigning directly; one for email, where some agents
are exclusive (an email takes the whole agent). The load's threads write as customers on three API inboxes
and an email inbox (new conversations and follow-ups), act as agents (accept, decline or ignore offers,
resolve, set pending, transfer back to a queue, go away and come back) and as a supervisor who moves or
closes waiting conversations.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.channels import signing
from raccordo.channels.domain.request import InboundRequest
from raccordo.channels.models import Inbox
from raccordo.channels.services import inboxes
from raccordo.channels.services.inbound import process_raw, receive, store_raw
from raccordo.platform.errors import Conflict
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence
from raccordo.record.models import Conversation
from raccordo.record.services.conversations import update_conversation
from raccordo.routing.models import QueueItem
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import offers as routing_offers
from raccordo.routing.services import transfers
from tests.helpers import customer_message
from tests.support.orgs import make_org

OFFER_TIMEOUT = 2  # seconds
COOLDOWN = 3  # seconds an agent is skipped after declining or letting an offer expire
MAX_ACTIONS = 5000  # per driving thread, whatever the time

LOADING = ("open", "pending")


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


def setup_tenant(rt: Runtime) -> Tenant:
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
