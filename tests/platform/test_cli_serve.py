"""The real `raccordo` processes: createuser, then `serve` delivering a reply through its in-process worker."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import httpx
import pytest

from raccordo.channels import signing
from tests.helpers import CallbackServer
from tests.mailserver import free_port
from tests.support.mail import wait_for
from tests.support.servers import RACCORDO, create_owner, serve_env, serving

PASSWORD = "a long password"


@pytest.fixture
def server_env(database_url, tmp_path) -> dict[str, str]:
    """A served instance's environment on the database under test."""
    env = serve_env(tmp_path / "data", free_port(), "cli-test")
    return {**env, "RACCORDO_DATABASE_URL": database_url}


def _slug(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{int(time.time() * 1000) % 100000}"


def _log_in(http: httpx.Client, slug: str) -> dict[str, str]:
    """The owner's session on ``http`` (its cookie jar); the CSRF header its writes need."""
    login = http.post("/api/v1/auth/login", json={"email": f"owner@{slug}.it", "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"X-CSRF-Token": login.json()["csrf_token"]}


def _customer_writes_and_agent_replies(
    http: httpx.Client, csrf: dict[str, str], callback: CallbackServer, message_id: str, email: str, reply: str
) -> dict[str, Any]:
    """An API-channel inbox calling back ``callback``; a customer's message to it, at its
    ``inbound_url``; the agent's reply to that conversation. The inbox, with its secrets."""
    inbox = http.post(
        "/api/v1/inboxes",
        json={"name": "App", "channel": "api", "settings": {"callback_url": callback.url}},
        headers=csrf,
    ).json()
    body = json.dumps(
        {"message_id": message_id, "contact": {"identities": [{"kind": "email", "value": email}]}, "text": "Ciao"}
    ).encode()
    inbound = http.post(
        inbox["inbound_url"].replace("http://127.0.0.1:8000", str(http.base_url).rstrip("/")),
        content=body,
        headers=signing.sign(inbox["secrets"]["hmac_secret"], body),
    )
    assert inbound.status_code == 200, inbound.text
    conversation = http.get("/api/v1/conversations").json()["items"][0]
    sent = http.post(f"/api/v1/conversations/{conversation['id']}/reply", json={"text": reply}, headers=csrf)
    assert sent.status_code == 201, sent.text
    return inbox


@pytest.mark.slow
def test_createuser_then_serve_round_trip(server_env, tmp_path):
    env = server_env
    slug = _slug("cli")
    create_owner(env, slug, "Owner", PASSWORD, timeout=60)
    weak = subprocess.run(
        [RACCORDO, "createuser", "--tenant", slug, "--email", f"x@{slug}.it", "--name", "X", "--password", "short"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr

    log = tmp_path / "serve.log"
    callback = CallbackServer()
    try:
        with serving(env, log) as base, httpx.Client(base_url=base) as http:
            assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
            csrf = _log_in(http, slug)
            inbox = _customer_writes_and_agent_replies(http, csrf, callback, "cli-1", "cliente@example.com", "Eccomi")
            wait_for(lambda: callback.received, what="the reply at the callback")
            assert json.loads(callback.received[0]["body"])["message"]["text"] == "Eccomi"
    finally:
        callback.close()
    assert inbox["secrets"]["hmac_secret"] not in log.read_text(), "secrets must never be logged"


def test_unknown_tenant_is_one_clear_line_and_no_file(tmp_path):
    env = {**os.environ, "RACCORDO_DATA_DIR": str(tmp_path / "data")}
    target = tmp_path / "out.jsonl"
    result = subprocess.run(
        [RACCORDO, "export", "--tenant", "nope", "-o", str(target)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "nope" in result.stderr
    assert not target.exists()
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("name,email\nA,a@example.com\n")
    result = subprocess.run(
        [RACCORDO, "import-contacts", str(csv_file), "--tenant", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_websocket_compression_follows_the_setting(server_env, tmp_path):
    """RACCORDO_WS_COMPRESSION=false: the server declines permessage-deflate even when offered."""
    import asyncio

    from websockets.asyncio.client import connect

    env = server_env
    slug = _slug("ws")
    create_owner(env, slug, "Owner", PASSWORD, timeout=60)

    async def extensions(url: str, token: str) -> str:
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, compression="deflate", open_timeout=10
        ) as ws:
            return ws.response.headers.get("Sec-WebSocket-Extensions", "")

    for setting, expected in (("true", True), ("false", False)):
        log = tmp_path / f"serve-{setting}.log"
        with serving({**env, "RACCORDO_WS_COMPRESSION": setting}, log) as base, httpx.Client(base_url=base) as http:
            csrf = _log_in(http, slug)
            token = http.post("/api/v1/tokens", json={"name": "ws"}, headers=csrf).json()["token"]
            offered = asyncio.run(extensions(base.replace("http://", "ws://") + "/ws", token))
            assert ("permessage-deflate" in offered) is expected, (setting, offered)


@pytest.mark.slow
def test_embedded_worker_wakes_on_the_commit_not_the_poll(server_env, tmp_path):
    """With a 60 s poll, a reply is still sent at once: the commit's wake-up on the bus reaches
    the serve process's own worker (no endpoint wakes it by hand)."""
    env = {**server_env, "RACCORDO_WORKER_POLL_SECONDS": "60"}
    slug = _slug("wake")
    create_owner(env, slug, "Owner", PASSWORD, timeout=60)
    callback = CallbackServer()
    try:
        with serving(env, tmp_path / "serve.log") as base, httpx.Client(base_url=base) as http:
            time.sleep(1.0)  # the worker's first pass is over: it now waits for the 60 s poll
            csrf = _log_in(http, slug)
            _customer_writes_and_agent_replies(http, csrf, callback, "wake-1", "sveglia@example.com", "Subito")
            # 30 s: well under the 60 s poll, generous for a busy machine.
            wait_for(
                lambda: callback.received, 30, "the reply before the poll (the wake-up reaching the embedded worker)"
            )
    finally:
        callback.close()
