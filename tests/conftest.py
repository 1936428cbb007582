"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL comes from RACCORDO_TEST_POSTGRES_URL (default: the local server on
127.0.0.1). A server that cannot be reached fails the run with how to start it; it is
never skipped. Set RACCORDO_TEST_DATABASES=sqlite to choose SQLite only on a machine
without PostgreSQL (CI never does).

Every fixture more than one test module uses lives here; helpers that are not fixtures live in
tests/support/ (a test module never imports from another test module). Markers (pyproject.toml):
``browser`` is set below on every test that uses a ``browser`` fixture; ``bench`` and ``slow`` are set
in the test modules.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from raccordo.bootstrap.http import create_app
from raccordo.bootstrap.install import install
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.migrate import upgrade
from tests.helpers import CallbackServer
from tests.mailserver import free_port
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database
from tests.support.desktop import CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, PASSWORD, RACCORDO, Desk
from tests.support.orgs import Org, make_org
from tests.support.servers import create_owner, serve_env

# Argon2 at its cheapest for the whole session (production parameters are tested in test_passwords.py):
# the suite hashes a password for every user it creates.
os.environ.setdefault("RACCORDO_PASSWORD_HASH", "test")
# What the app, the worker and the CLI do when they start (tables, channels, domain-event
# subscriptions): tests also build runtimes and call services directly.
install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a ``browser`` fixture (Chromium through Playwright) is a browser test: marked here,
    once, so that ``-m "not browser"`` leaves out every one of them, including those written later."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


# --- the database, the runtime and the app ---------------------------------------------------------------


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the whole session; tests isolate themselves by tenant."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'raccordo.db'}"
        upgrade(url)
        yield url
    else:
        name, url = create_postgres_database()
        upgrade(url)
        yield url
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def rt(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key="test-secret-key",
        login_max_failures=5,
    )
    runtime = Runtime.build(settings)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, run_delivery=False), raise_server_exceptions=False) as test_client:
        yield test_client


# --- tenants, HTTP clients and receivers ----------------------------------------------------------------


@pytest.fixture
def org(rt: Runtime) -> Org:
    return make_org(rt)


@pytest.fixture
def other_org(rt: Runtime) -> Org:
    return make_org(rt)


@pytest.fixture
def data_dir(rt: Runtime) -> Path:
    return rt.settings.data_dir


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    """A real HTTP server on 127.0.0.1 recording what the API channel posts to it."""
    server = CallbackServer()
    yield server
    server.close()


@pytest.fixture
def fresh(client: TestClient) -> Callable[[], TestClient]:
    """A client of the same app with its own cookie jar."""

    def make() -> TestClient:
        return TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)

    return make


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, TestClient]]:
    """The app with fast heartbeats; the outbox is run by the tests themselves (``deliver``)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("widget"),
        database_url=database_url,
        secret_key="test-secret-key",
        ws_heartbeat_seconds=0.5,
        embedded_worker=False,
    )
    runtime = Runtime.build(settings)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield runtime, client
    runtime.close()


# --- the real server and Chromium (browser tests) --------------------------------------------------------


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """`raccordo serve` with an owner (Italian), an agent (English), two API-channel inboxes."""
    data = tmp_path_factory.mktemp("desktop-serve")
    port = free_port()
    env = serve_env(data, port, "desktop-test")
    slug = f"desk-{uuid.uuid4().hex[:8]}"
    create_owner(env, slug, "Olga Titolare", PASSWORD)
    log = data / "serve.log"
    process = subprocess.Popen([RACCORDO, "serve"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    callback = CallbackServer()
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("raccordo serve did not start: " + log.read_text())
        with httpx.Client(base_url=base) as http:
            login = http.post("/api/v1/auth/login", json={"email": f"owner@{slug}.it", "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = http.post(
                "/api/v1/tokens", json={"name": "desktop test"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
            ).json()["token"]
        desk = Desk(base, slug, token, 0, [], data)
        agent = desk.api(
            "POST",
            "/api/v1/users",
            json={
                "email": f"anna@{slug}.it",
                "name": "Anna Agente",
                "role": "agent",
                "password": PASSWORD,
                "language": "en",
            },
        )
        assert agent.status_code == 201, agent.text
        desk.agent_id = agent.json()["id"]
        for name in ("App negozio", "App assistenza"):
            inbox = desk.api(
                "POST",
                "/api/v1/inboxes",
                json={"name": name, "channel": "api", "settings": {"callback_url": callback.url}},
            )
            assert inbox.status_code == 201, inbox.text
            desk.inboxes.append(inbox.json())
        yield desk
    finally:
        process.terminate()
        process.wait(timeout=20)
        callback.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import Error, sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not at {CHROMIUM}: {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start ({exc}); {INSTALL_HINT}", pytrace=False)
        yield chromium
        chromium.close()
