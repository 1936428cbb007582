"""The realtime bench's tenant (owner, agents with tokens, an API-channel inbox), the visibility rule
check it relies on, and the marked message bodies it posts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench._support import BenchError, create_tenant_with_owner

MARK = "[rt:"  # the message text ends with [rt:<run>:<phase>:<index>]


@dataclass
class Setup:
    tenant_id: int
    owner_token: str
    agents: list[tuple[int, str]]  # (user id, token)
    agent_teams: list[frozenset[int]]  # each agent's teams, for the visibility rule
    inbox_url: str
    inbox_secret: str


def setup_tenant(rt: Any, run_id: str, users: int) -> Setup:
    """A tenant, an owner, ``users`` agents with a token each, and an API inbox, through the services."""
    from raccordo.accounts.domain.actor import Actor, system_actor
    from raccordo.accounts.domain.roles import Role
    from raccordo.accounts.services import accounts
    from raccordo.accounts.services.accounts import user_team_ids
    from raccordo.channels.services import inboxes
    from raccordo.platform.store.db import unit_of_work

    with unit_of_work(rt.sessions) as session:
        tenant, owner, owner_token = create_tenant_with_owner(session, run_id)
        system = system_actor(tenant.id)
        agents = []
        for index in range(users):
            user = accounts.create_user(
                session,
                system,
                email=f"agent{index}@bench-{run_id}.example.com",
                name=f"Agent {index}",
                role="agent",
                password=None,
                language="it",
            )
            agents.append((user.id, accounts.create_token(session, Actor(tenant.id, user.id, Role.AGENT), "bench")[1]))
        inbox, secrets_ = inboxes.create_inbox(
            session,
            rt.secretbox,
            Actor(tenant.id, owner.id, Role.OWNER),
            name="API bench",
            channel="api",
            settings={},
            secrets_={},
            business_hours=None,
        )
        teams = [frozenset(user_team_ids(session, tenant.id, user_id)) for user_id, _ in agents]
        return Setup(
            tenant.id,
            owner_token,
            agents,
            teams,
            f"/api/v1/channels/api/{inbox.identifier}/messages",
            secrets_["hmac_secret"],
        )


def subscriber(setup: Setup, agent: int) -> Any:
    from raccordo.accounts.domain.roles import Role
    from raccordo.realtime.domain.visibility import Subscriber

    return Subscriber(setup.tenant_id, setup.agents[agent][0], Role.AGENT, setup.agent_teams[agent])


def check_rule(setup: Setup) -> None:
    """Every socket must see each measured message: the rule has to show an unassigned
    conversation's message to every agent."""
    from raccordo.realtime.domain.visibility import visible

    event = {
        "type": "event",
        "tenant_id": setup.tenant_id,
        "kind": "message.created",
        "conversation_id": 1,
        "contact_id": 1,
        "user_id": None,
        "team_id": None,
        "payload": {},
    }
    for position in range(len(setup.agents)):
        if not visible(event, subscriber(setup, position)):
            raise BenchError(
                "domain/realtime.visible no longer shows a message in an unassigned conversation to every agent; "
                "choose other subscribers in the bench"
            )


def message_body(run_id: str, tag: str, index: int) -> bytes:
    """A message from a new customer: it opens an unassigned conversation, visible to every agent."""
    payload = {
        "message_id": f"rt-{run_id}-{tag}-{index}",
        "contact": {
            "name": f"Cliente {tag} {index}",
            "language": "it",
            "identities": [{"kind": "email", "value": f"rt.{run_id}.{tag}.{index}@example.com"}],
        },
        "text": f"Buongiorno, il mio ordine non è ancora arrivato. {MARK}{run_id}:{tag}:{index}]",
    }
    return json.dumps(payload, separators=(",", ":")).encode()
