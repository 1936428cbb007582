"""Page-level helpers: log in through the login page, switch a user's language, make a conversation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.testclient import TestClient

from raccordo.accounts.models import User
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import Org


def _first_group(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"{pattern} is not in the page"
    return found.group(1)


def login(browser: TestClient, org: Org, role: str) -> str:
    """Log in through the login page; returns the CSRF token of the new session."""
    page = browser.get("/login")
    token = _first_group(r'name="login_csrf" value="([^"]+)"', page.text)
    response = browser.post(
        "/login", data={"email": org.email(role), "password": org.password, "login_csrf": token, "next": "/inbox"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inbox"
    inbox = browser.get("/inbox")
    assert inbox.status_code == 200
    return _first_group(r'<meta name="csrf-token" content="([^"]+)"', inbox.text)


def set_language(rt: Runtime, user_id: int, language: str) -> None:
    with unit_of_work(rt.sessions) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.language = language


def a_conversation(client: TestClient, org: Org, text: str = "Buongiorno", **extra: Any) -> tuple[int, int]:
    inbox = create_api_inbox(client, org.headers("admin"))
    payload = customer_message(f"m-{uuid.uuid4().hex}", text, email=f"c-{uuid.uuid4().hex[:6]}@example.com") | extra
    response = post_inbound(client, inbox, payload)
    assert response.status_code == 200, response.text
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    return conversation["id"], inbox.id
