"""The provider sandbox and the product, each served for real on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from raccordo.platform.runtime import Runtime
from raccordo.sandbox import server
from tests.support.servers import serving_in_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[server.Running]:
    running = server.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served(rt: Runtime) -> Iterator[str]:
    """The product's HTTP app on a free port (the sandbox calls its webhook over the network)."""
    with serving_in_thread(rt, run_delivery=False) as url:
        yield url
