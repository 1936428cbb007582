"""Servers a test runs itself: a redis-server or nats-server on a free port that the test can kill
and restart, and `raccordo serve` (its environment, its owner, started until it answers)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mailserver import free_port


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateServer:
    """A redis-server or nats-server of this test's own, on a fixed port, that can be killed and restarted."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"{kind}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "redis":
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            return [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        return [binary, "-a", "127.0.0.1", "-p", str(self.port)]

    async def start(self) -> None:
        command = self.command()
        if not os.path.exists(command[0]):
            pytest.fail(f"{command[0]} is missing; install {self.kind}-server to run the outage tests", pytrace=False)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise AssertionError(f"{' '.join(command)} exited with {self.process.returncode}: {error[-500:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{' '.join(command)} did not listen on port {self.port} within 10 s")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None


RACCORDO = str(Path(sys.executable).parent / "raccordo")


def serve_env(data: Path, port: int, secret: str) -> dict[str, str]:
    """The environment of a `raccordo serve` under test: SQLite in ``data``, a fast worker, no mail polling."""
    return {
        **os.environ,
        "RACCORDO_DATA_DIR": str(data),
        "RACCORDO_DATABASE_URL": "",
        "RACCORDO_PORT": str(port),
        "RACCORDO_SECRET_KEY": secret,
        "RACCORDO_DELIVERY_POLL_SECONDS": "0.2",
        "RACCORDO_WORKER_POLL_SECONDS": "0.2",
        "RACCORDO_EMAIL_POLLING": "false",
        "RACCORDO_WS_HEARTBEAT_SECONDS": "5",
    }


def create_owner(env: dict[str, str], slug: str, name: str, password: str, timeout: int = 120) -> None:
    """`raccordo createuser` for the organization ``slug``'s owner, ``owner@<slug>.it``."""
    command = [RACCORDO, "createuser", "--tenant", slug, "--email", f"owner@{slug}.it", "--name", name]
    command += ["--role", "owner", "--password", password]
    created = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert created.returncode == 0, created.stderr


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Until the `raccordo serve` at ``base`` answers /healthz; fails with its log when it exits first
    or does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            pytest.fail(f"raccordo serve exited with {process.returncode}: {log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"raccordo serve did not answer /healthz within {seconds} s: {log.read_text()}")


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`raccordo serve` with ``env`` (its output in ``log``), once it answers; its base URL. It is
    stopped on leaving."""
    base = f"http://127.0.0.1:{env['RACCORDO_PORT']}"
    with log.open("w") as output:
        process = subprocess.Popen([RACCORDO, "serve"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def serving_in_thread(rt: Any, *, run_delivery: bool) -> Iterator[str]:
    """The product's HTTP app for ``rt`` on a free loopback port, in a thread of this process (a provider
    sandbox calls its webhooks over the network); ``run_delivery`` runs its outbox worker too."""
    import threading

    import uvicorn

    from raccordo.bootstrap.http import create_app
    from tests.support.mail import wait_for

    port = free_port()
    app_server = uvicorn.Server(
        uvicorn.Config(create_app(rt, run_delivery=run_delivery), port=port, log_level="warning")
    )
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    wait_for(lambda: app_server.started, what="the app to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app_server.should_exit = True
        thread.join(10)
