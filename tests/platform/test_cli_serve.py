"""The real `raccordo` processes: createuser, then `serve` delivering a reply through its in-process worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from raccordo.channels import signing
from tests.helpers import CallbackServer

RACCORDO = str(Path(sys.executable).parent / "raccordo")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_env(database_url, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "RACCORDO_DATA_DIR": str(tmp_path / "data"),
        "RACCORDO_DATABASE_URL": database_url,
        "RACCORDO_PORT": str(port),
        "RACCORDO_SECRET_KEY": "cli-test",
        "RACCORDO_DELIVERY_POLL_SECONDS": "0.2",
    }
    return env, f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_createuser_then_serve_round_trip(server_env, tmp_path):
    env, base = server_env
    slug = f"cli-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    created = subprocess.run(
        [
            RACCORDO,
            "createuser",
            "--tenant",
            slug,
            "--email",
            f"owner@{slug}.it",
            "--name",
            "Owner",
            "--role",
            "owner",
            "--password",
            "a long password",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    weak = subprocess.run(
        [RACCORDO, "createuser", "--tenant", slug, "--email", f"x@{slug}.it", "--name", "X", "--password", "short"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr

    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([RACCORDO, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    callback = CallbackServer()
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("raccordo serve did not start: " + (tmp_path / "serve.log").read_text())
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        with httpx.Client(base_url=base) as http:
            login = http.post("/api/v1/auth/login", json={"email": f"owner@{slug}.it", "password": "a long password"})
            assert login.status_code == 200, login.text
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            inbox = http.post(
                "/api/v1/inboxes",
                json={"name": "App", "channel": "api", "settings": {"callback_url": callback.url}},
                headers=csrf,
            ).json()
            body = json.dumps(
                {
                    "message_id": "cli-1",
                    "contact": {"identities": [{"kind": "email", "value": "cliente@example.com"}]},
                    "text": "Ciao",
                }
            ).encode()
            inbound = http.post(
                inbox["inbound_url"].replace("http://127.0.0.1:8000", base),
                content=body,
                headers=signing.sign(inbox["secrets"]["hmac_secret"], body),
            )
            assert inbound.status_code == 200, inbound.text
            conversation = http.get("/api/v1/conversations").json()["items"][0]
            sent = http.post(f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "Eccomi"}, headers=csrf)
            assert sent.status_code == 201
            for _ in range(50):
                if callback.received:
                    break
                time.sleep(0.1)
            assert json.loads(callback.received[0]["body"])["message"]["text"] == "Eccomi"
    finally:
        process.terminate()
        process.wait(timeout=20)
        callback.close()
    output = (tmp_path / "serve.log").read_text()
    assert inbox["secrets"]["hmac_secret"] not in output, "secrets must never be logged"


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


def _create_owner(env: dict[str, str], slug: str) -> None:
    created = subprocess.run(
        [
            RACCORDO,
            "createuser",
            "--tenant",
            slug,
            "--email",
            f"owner@{slug}.it",
            "--name",
            "Owner",
            "--role",
            "owner",
            "--password",
            "a long password",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr


def _wait_healthy(base: str, process: subprocess.Popen, tmp_path: Path) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, "raccordo serve exited: " + "".join(
            p.read_text() for p in tmp_path.glob("serve*.log")
        )
        time.sleep(0.2)
    pytest.fail("raccordo serve did not answer /healthz")


@pytest.mark.slow
def test_websocket_compression_follows_the_setting(server_env, tmp_path, database_url):
    """RACCORDO_WS_COMPRESSION=false: the server declines permessage-deflate even when offered."""
    import asyncio

    from websockets.asyncio.client import connect

    env, base = server_env
    slug = f"ws-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    _create_owner(env, slug)

    async def extensions(url: str, token: str) -> str:
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, compression="deflate", open_timeout=10
        ) as ws:
            return ws.response.headers.get("Sec-WebSocket-Extensions", "")

    for setting, expected in (("true", True), ("false", False)):
        log = (tmp_path / f"serve-{setting}.log").open("w")
        process = subprocess.Popen(
            [RACCORDO, "serve"], env={**env, "RACCORDO_WS_COMPRESSION": setting}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            with httpx.Client(base_url=base) as http:
                login = http.post(
                    "/api/v1/auth/login", json={"email": f"owner@{slug}.it", "password": "a long password"}
                )
                token = http.post(
                    "/api/v1/tokens", json={"name": "ws"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
                ).json()["token"]
            offered = asyncio.run(extensions(base.replace("http://", "ws://") + "/ws", token))
            assert ("permessage-deflate" in offered) is expected, (setting, offered)
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.slow
def test_embedded_worker_wakes_on_the_commit_not_the_poll(server_env, tmp_path):
    """With a 60 s poll, a reply is still sent at once: the commit's wake-up on the bus reaches
    the serve process's own worker (no endpoint wakes it by hand)."""
    env, base = server_env
    env = {**env, "RACCORDO_WORKER_POLL_SECONDS": "60"}
    slug = f"wake-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    _create_owner(env, slug)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([RACCORDO, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    callback = CallbackServer()
    try:
        _wait_healthy(base, process, tmp_path)
        time.sleep(1.0)  # the worker's first pass is over: it now waits for the 60 s poll
        with httpx.Client(base_url=base) as http:
            login = http.post("/api/v1/auth/login", json={"email": f"owner@{slug}.it", "password": "a long password"})
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            inbox = http.post(
                "/api/v1/inboxes",
                json={"name": "App", "channel": "api", "settings": {"callback_url": callback.url}},
                headers=csrf,
            ).json()
            body = json.dumps(
                {
                    "message_id": "wake-1",
                    "contact": {"identities": [{"kind": "email", "value": "sveglia@example.com"}]},
                    "text": "Ciao",
                }
            ).encode()
            path = f"/api/v1/channels/api/{inbox['identifier']}/messages"
            assert (
                http.post(path, content=body, headers=signing.sign(inbox["secrets"]["hmac_secret"], body)).status_code
                == 200
            )
            conversation = http.get("/api/v1/conversations").json()["items"][0]
            assert (
                http.post(
                    f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "Subito"}, headers=csrf
                ).status_code
                == 201
            )
            deadline = time.monotonic() + 30  # well under the 60 s poll, generous for a busy machine
            while not callback.received and time.monotonic() < deadline:
                time.sleep(0.1)
            assert callback.received, "the reply waited for the poll: the wake-up did not reach the embedded worker"
    finally:
        process.terminate()
        process.wait(timeout=20)
        callback.close()
