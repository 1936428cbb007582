"""The desktop's realtime socket: connect with a token (resuming after an event id) and read until a match."""

from __future__ import annotations

from starlette.testclient import TestClient


def connect_desktop(client: TestClient, token: str, last_event_id: int | None = None):
    url = "/ws" + (f"?last_event_id={last_event_id}" if last_event_id is not None else "")
    return client.websocket_connect(url, subprotocols=[f"raccordo.token.{token}"])


def until_message(ws, predicate, limit: int = 200) -> dict:
    """Read messages (heartbeats arrive twice a second, so this never blocks long) until one matches."""
    for _ in range(limit):
        message = ws.receive_json()
        if predicate(message):
            return message
    raise AssertionError("expected message did not arrive")
