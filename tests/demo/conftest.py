"""One demo load per database for every test of this package (a load is the suite's most expensive
setup), the provider sandbox, and the app served over HTTP with its worker delivering the outbox.

``tests/demo/test_demo_data.py`` checks the load exactly (counts of rows) and runs first (pytest
runs modules in name order); the live channel tests (``test_demo_live_*.py``, and the WhatsApp ones at
the end of ``test_demo_data.py``) then write as customers and reply on the same demo.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from raccordo.demo import seed as demo
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.import_contacts import tenant_by_slug
from raccordo.sandbox import server
from tests.support.servers import serving_in_thread


@dataclass
class DemoRun:
    logins: demo.DemoLogins
    tenant_id: int
    seconds: float
    now: datetime
    statements: int


@pytest.fixture(scope="package")
def loaded(rt: Runtime) -> DemoRun:
    # The PostgreSQL test database is shared by the whole session: a fresh slug keeps this run apart.
    slug = f"demo-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(rt.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    try:
        logins = demo.load_demo(rt, slug=slug, now=now)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    seconds = time.perf_counter() - started
    print(f"\ndemo loaded on {rt.engine.dialect.name} in {seconds:.1f} s, {statements} statements")
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
    return DemoRun(logins, tenant_id, seconds, now, statements)


@pytest.fixture(scope="package")
def sandbox() -> Iterator[server.Running]:
    running = server.start()
    yield running
    running.stop()


@pytest.fixture(scope="package")
def app_url(rt: Runtime) -> Iterator[str]:
    """The app as ``raccordo demo`` serves it: over HTTP, with its worker delivering the outbox."""
    with serving_in_thread(rt, run_delivery=True) as url:
        yield url
