"""A fresh tenant with one user per role (owner, admin, supervisor, agent), each with an API token."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.services import accounts
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

_counter = itertools.count()


@dataclass
class Org:
    """A fresh tenant with one user per role, each with an API token."""

    tenant_id: int
    slug: str
    users: dict[str, int]
    tokens: dict[str, str]
    password: str = "correct horse battery"

    def headers(self, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


def make_org(rt: Runtime) -> Org:
    slug = f"org-{uuid.uuid4().hex[:8]}-{next(_counter)}"
    users: dict[str, int] = {}
    tokens: dict[str, str] = {}
    with unit_of_work(rt.sessions) as session:
        tenant = accounts.create_tenant(session, slug, f"Org {slug}")
        system = system_actor(tenant.id)
        for role in ("owner", "admin", "supervisor", "agent"):
            user = accounts.create_user(
                session,
                system,
                email=f"{role}@{slug}.example.com",
                name=f"{role.title()} User",
                role=role,
                password="correct horse battery",
                language="en",
            )
            users[role] = user.id
            actor = system.__class__(tenant.id, user.id, system.role.__class__(role))
            tokens[role] = accounts.create_token(session, actor, "tests")[1]
        return Org(tenant.id, slug, users, tokens)
