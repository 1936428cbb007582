"""Test helpers: an API-channel inbox, signed inbound posts, and a real HTTP callback receiver."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from starlette.testclient import TestClient

from raccordo.channels import signing


@dataclass
class ApiInbox:
    id: int
    identifier: str
    secret: str

    @property
    def url(self) -> str:
        return f"/api/v1/channels/api/{self.identifier}/messages"


def create_api_inbox(
    client: TestClient, headers: dict[str, str], name: str = "API", callback_url: str | None = None
) -> ApiInbox:
    settings = {"callback_url": callback_url} if callback_url else {}
    response = client.post(
        "/api/v1/inboxes", json={"name": name, "channel": "api", "settings": settings}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return ApiInbox(body["id"], body["identifier"], body["secrets"]["hmac_secret"])


def post_inbound(
    client: TestClient,
    inbox: ApiInbox,
    payload: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **signing.sign(secret or inbox.secret, body, timestamp)}
    return client.post(inbox.url, content=body, headers=headers)


def customer_message(message_id: str, text: str = "Buongiorno", **identities: str) -> dict[str, Any]:
    kinds = identities or {"email": "mario.rossi@example.com"}
    return {
        "message_id": message_id,
        "contact": {
            "name": identities.pop("name", None) if identities else "Mario Rossi",
            "identities": [{"kind": k, "value": v} for k, v in kinds.items()],
        },
        "text": text,
    }


@dataclass
class CallbackServer:
    """A real HTTP server on 127.0.0.1 that records what the API channel posts to it."""

    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)  # sent with every answer (Retry-After)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                outer.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                payload = json.dumps({"id": f"cb-{len(outer.received)}"}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in outer.extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
