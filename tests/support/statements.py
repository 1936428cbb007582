"""Counting the SQL statements that HTTP requests run, and only theirs.

The app under test shares its engine with its own background tasks (the realtime hub's heartbeat
and presence sweep every few seconds, the widget hub's pumps): an engine-wide count picks up their
statements whenever one lands inside the counted request, which on a loaded machine (slower
requests) happens often enough to make a "same number of statements" check flaky. A request made
through ``counting_client`` marks its own context; the worker threads it hands its synchronous work
to copy that context, so ``request_statements`` sees exactly the request's statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

_IN_REQUEST: ContextVar[bool] = ContextVar("in_counted_request", default=False)


class MarkRequests:
    """ASGI wrapper: everything an HTTP request through it runs is marked as the request's."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = _IN_REQUEST.set(scope["type"] == "http")
        try:
            await self.app(scope, receive, send)
        finally:
            _IN_REQUEST.reset(token)


def counting_client(app: Any) -> TestClient:
    """A client of ``app`` with its own cookie jar whose requests ``request_statements`` counts."""
    return TestClient(MarkRequests(app), raise_server_exceptions=False, follow_redirects=False)


@contextmanager
def request_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements that requests made through a ``counting_client`` run on ``engine`` inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if _IN_REQUEST.get():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
