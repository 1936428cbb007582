"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL comes from RACCORDO_TEST_POSTGRES_URL (default: the local server on
127.0.0.1). A server that cannot be reached fails the run with how to start it; it is
never skipped. Set RACCORDO_TEST_DATABASES=sqlite to choose SQLite only on a machine
without PostgreSQL (CI never does).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.services import accounts
from raccordo.bootstrap import subscriptions
from raccordo.bootstrap.channels import install_channels
from raccordo.bootstrap.http import create_app
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.migrate import upgrade
from tests.helpers import CallbackServer

# Argon2 at its cheapest for the whole session (production parameters are tested in test_passwords.py):
# the suite hashes a password for every user it creates.
os.environ.setdefault("RACCORDO_PASSWORD_HASH", "test")
POSTGRES_ADMIN_URL = os.environ.get("RACCORDO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("RACCORDO_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()]
# The composition root installs the channels when the app or worker starts; tests that call the
# services directly need them too.
install_channels()
START_POSTGRES = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set RACCORDO_TEST_POSTGRES_URL)"


def _postgres_database() -> tuple[str, str]:
    name = f"raccordo_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable server"
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not usable ({type(exc).__name__}: {exc}); {START_POSTGRES}", pytrace=False)
    finally:
        admin.dispose()
    return name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()



@pytest.fixture(scope="session", autouse=True)
def domain_event_subscriptions() -> None:
    """Routing, SLA and the search index react to the services' domain events in every test, as in
    the app, the worker and the CLI (tests also build runtimes and call services directly)."""
    subscriptions.register()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the whole session; tests isolate themselves by tenant."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'raccordo.db'}"
        upgrade(url)
        yield url
    else:
        name, url = _postgres_database()
        upgrade(url)
        yield url
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def rt(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=database_url, secret_key="test-secret-key", login_max_failures=5)
    runtime = Runtime.build(settings)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, run_delivery=False), raise_server_exceptions=False) as test_client:
        yield test_client


_counter = itertools.count()


@dataclass
class Org:
    """A fresh tenant with one user per role, each with an API token."""

    tenant_id: int
    slug: str
    users: dict[str, int]
    tokens: dict[str, str]
    password: str = "correct horse battery"

    def headers(self, role: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


def make_org(rt: Runtime) -> Org:
    slug = f"org-{uuid.uuid4().hex[:8]}-{next(_counter)}"
    users: dict[str, int] = {}
    tokens: dict[str, str] = {}
    with unit_of_work(rt.sessions) as session:
        tenant = accounts.create_tenant(session, slug, f"Org {slug}")
        system = system_actor(tenant.id)
        for role in ("owner", "admin", "supervisor", "agent"):
            user = accounts.create_user(session, system, email=f"{role}@{slug}.example.com", name=f"{role.title()} User", role=role, password="correct horse battery", language="en")
            users[role] = user.id
            actor = system.__class__(tenant.id, user.id, system.role.__class__(role))
            tokens[role] = accounts.create_token(session, actor, "tests")[1]
        return Org(tenant.id, slug, users, tokens)


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
