"""The agent's desktop socket connected, so that presence puts the agent online for routing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from starlette.testclient import TestClient

from tests.support.orgs import Org
from tests.support.widget import until


@contextlib.contextmanager
def online(client: TestClient, org: Org, role: str = "agent") -> Iterator[Any]:
    """The agent's desktop connected: presence follows live connections (one without is swept offline)."""
    with client.websocket_connect("/ws", subprotocols=[f"raccordo.token.{org.tokens[role]}"]) as agent:
        until(agent, lambda f: f["type"] == "hello")
        yield agent
