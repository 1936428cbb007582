"""A fresh tenant with one user per role (owner, admin, supervisor, agent), each with an API token;
a user added through the API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from httpx import Response
from starlette.testclient import TestClient

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.services.tenants import create_tenant
from raccordo.accounts.services.tokens import create_token
from raccordo.accounts.services.users import create_user
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

_counter = itertools.count()
PASSWORD = "correct horse battery"


@dataclass
class Org:
    """A fresh tenant with one user per role, each with an API token."""

    tenant_id: int
    slug: str
    users: dict[str, int]
    tokens: dict[str, str]
    password: str = PASSWORD

    def headers(self, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


def make_org(rt: Runtime) -> Org:
    slug = f"org-{uuid.uuid4().hex[:8]}-{next(_counter)}"
    users: dict[str, int] = {}
    tokens: dict[str, str] = {}
    with unit_of_work(rt.sessions) as session:
        tenant = create_tenant(session, slug, f"Org {slug}")
        system = system_actor(tenant.id)
        for role in ("owner", "admin", "supervisor", "agent"):
            user = create_user(
                session,
                system,
                email=f"{role}@{slug}.example.com",
                name=f"{role.title()} User",
                role=role,
                password=PASSWORD,
                language="en",
            )
            users[role] = user.id
            actor = system.__class__(tenant.id, user.id, system.role.__class__(role))
            tokens[role] = create_token(session, actor, "tests")[1]
        return Org(tenant.id, slug, users, tokens)


def post_user(
    client: TestClient, headers: dict[str, str], email: str, name: str, role: str = "agent", password: str = PASSWORD
) -> Response:
    """``POST /api/v1/users`` as the user of ``headers``: the answer, for the caller to check."""
    return client.post(
        "/api/v1/users", json={"email": email, "name": name, "role": role, "password": password}, headers=headers
    )
