"""The provider sandbox and the product, each served for real on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import uvicorn

from raccordo.bootstrap.http import create_app
from raccordo.platform.runtime import Runtime
from raccordo.sandbox import server
from tests.support.mail import wait_for


@pytest.fixture(scope="module")
def sandbox() -> Iterator[server.Running]:
    running = server.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served(rt: Runtime) -> Iterator[str]:
    """The product's HTTP app on a free port (the sandbox calls its webhook over the network)."""
    port = server.free_port()
    app_server = uvicorn.Server(uvicorn.Config(create_app(rt, run_delivery=False), port=port, log_level="warning"))
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    wait_for(lambda: app_server.started, what="the app to start")
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join(10)
