"""The web chat widget at the API and WebSocket level: a widget or email inbox, a visitor's session and
socket, reading frames until one matches, running the outbox for one message, and an SMTP sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select
from starlette.testclient import TestClient

from raccordo.channels.models import OutboxItem
from raccordo.channels.services import delivery
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from tests.mailserver import free_port
from tests.support.orgs import Org

ORIGIN = "https://shop.example.com"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.received.append((list(envelope.rcpt_tos), envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def widget_inbox(client: TestClient, org: Org, **settings: Any) -> dict[str, Any]:
    body = {"name": "Sito", "channel": "widget", "settings": {"allowed_origins": [ORIGIN], **settings}}
    response = client.post("/api/v1/inboxes", json=body, headers=org.headers())
    assert response.status_code == 201, response.text
    return response.json()


def email_inbox(client: TestClient, org: Org, smtp: SmtpSink) -> dict[str, Any]:
    settings = {
        "address": f"aiuto@{org.slug}.example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_security": "none",
    }
    response = client.post(
        "/api/v1/inboxes", json={"name": "Posta", "channel": "email", "settings": settings}, headers=org.headers()
    )
    assert response.status_code == 201, response.text
    return response.json()


def open_session(
    client: TestClient, identifier: str, token: str | None = None, origin: str | None = ORIGIN, **body: Any
):
    headers = {"origin": origin} if origin else {}
    return client.post(f"/widget/{identifier}/session", json={"visitor_token": token, **body}, headers=headers)


def visitor_socket(client: TestClient, identifier: str, token: str, origin: str = ORIGIN, lang: str = "en"):
    return client.websocket_connect(
        f"/widget/ws?inbox={identifier}&lang={lang}",
        headers={"origin": origin},
        subprotocols=[f"raccordo.widget.{token}"],
    )


def until(ws, predicate, limit: int = 400) -> dict[str, Any]:
    """Read frames (heartbeats come twice a second, so this never blocks long) until one matches."""
    for _ in range(limit):
        frame = ws.receive_json()
        if predicate(frame):
            return frame
    raise AssertionError("expected frame did not arrive")


def deliver(rt: Runtime, message_id: int) -> str:
    """Run the outbox for one message, as the worker would (claimed with a lease, then sent)."""
    with unit_of_work(rt.sessions) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
        item.status, item.claimed_until, item.attempts = (
            "sending",
            datetime.now(UTC) + timedelta(minutes=1),
            item.attempts + 1,
        )
        outbox_id = item.id
    return delivery.deliver(rt, outbox_id)
