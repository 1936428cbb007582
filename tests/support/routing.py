"""Routing over the API: a response's JSON after checking its status, and an agent put online."""

from __future__ import annotations

import uuid
from typing import Any

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence


def ok(response: Any, status: int = 200) -> Any:
    """The response's JSON (None when it has no body) after checking its status."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def agent_online(client: Any, org: Any, role: str) -> None:
    """The agent online with a live connection row, as an open desktop tab gives: the hub's
    sweep turns agents with no connection offline, so the REST toggle alone would not last."""
    rt = client.app.state.runtime
    with unit_of_work(rt.sessions) as session:
        presence.connect(
            session, Actor(org.tenant_id, org.users[role], Role(role)), f"test-{uuid.uuid4().hex}", "test-node"
        )
