"""Creating Telegram inboxes through the API, each with a bot token no other test uses."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.channels.telegram.payloads import new_token


def telegram_inbox(
    client: TestClient, org: Any, *, base_url: str | None = None, mode: str = "webhook", token: str | None = None
) -> dict[str, Any]:
    settings: dict[str, Any] = {"mode": mode}
    if base_url:
        settings["api_base_url"] = base_url
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
