"""Creating Telegram inboxes through the API, each with a bot token no other test uses.

Saving an inbox schedules its ``setWebhook`` job, which any test running the provisioning jobs runs:
an inbox of a test that does not use the sandbox points at a closed local port, never at Telegram."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.channels.telegram.payloads import new_token

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens


def telegram_inbox(
    client: TestClient, org: Any, *, base_url: str | None = None, mode: str = "webhook", token: str | None = None
) -> dict[str, Any]:
    settings: dict[str, Any] = {"mode": mode, "api_base_url": base_url or NOWHERE}
    response = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={
            "name": "Telegram",
            "channel": "telegram",
            "settings": settings,
            "secrets": {"bot_token": token or new_token()},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()
