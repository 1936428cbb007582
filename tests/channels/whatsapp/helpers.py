"""Creating WhatsApp inboxes through the API, with phone number ids no other test uses."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient

from tests.channels.whatsapp.payloads import WABA_ID


def new_number() -> str:
    return str(uuid.uuid4().int % 10**15).rjust(15, "1")


def whatsapp_inbox(
    client: TestClient,
    org: Any,
    *,
    number: str | None = None,
    base_url: str | None = None,
    app_secret: str | None = None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {"phone_number_id": number or new_number(), "waba_id": WABA_ID}
    if base_url:
        settings["graph_base_url"] = base_url
    response = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={
            "name": "WhatsApp",
            "channel": "whatsapp",
            "settings": settings,
            "secrets": {"access_token": f"EAAG{uuid.uuid4().hex}", "app_secret": app_secret or uuid.uuid4().hex},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()
