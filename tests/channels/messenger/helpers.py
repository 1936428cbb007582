"""Creating Messenger and Instagram inboxes through the API, with page ids no other test uses."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient


def new_id() -> str:
    return str(uuid.uuid4().int % 10**15).rjust(15, "1")


def meta_inbox(
    client: TestClient,
    org: Any,
    kind: str = "messenger",
    *,
    page_id: str | None = None,
    base_url: str | None = None,
    app_secret: str | None = None,
    human_agent: bool = False,
) -> dict[str, Any]:
    settings: dict[str, Any] = {"page_id": page_id or new_id(), "human_agent": human_agent}
    if kind == "instagram":
        settings["account_id"] = new_id()
    if base_url:
        settings["graph_base_url"] = base_url
    response = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={
            "name": kind.title(),
            "channel": kind,
            "settings": settings,
            "secrets": {"access_token": f"EAAG{uuid.uuid4().hex}", "app_secret": app_secret or uuid.uuid4().hex},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def account(inbox: dict[str, Any]) -> str:
    return str(inbox["settings"].get("account_id") or inbox["settings"]["page_id"])
