"""The desktop bench's measuring: an in-process client of the real app that logs in per role and times each
request from the ASGI side (receive to last body byte), and the bare SELECT the figures are compared with."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench._support import BenchError, percentile


@dataclass
class Line:
    name: str
    samples: list[float] = field(default_factory=list)
    bar: bool = True

    def figures(self) -> dict[str, float]:
        return {p: round(percentile(self.samples, int(p[1:])) * 1000, 2) for p in ("p50", "p95", "p99")}


class Timed:
    """ASGI wrapper: the time from receiving a request to sending its last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: float | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - started


class Desk:
    def __init__(self, rt: Any, samples: int) -> None:
        from starlette.testclient import TestClient

        from raccordo.bootstrap.http import create_app

        self.app = create_app(rt, run_delivery=False)
        self.timed = Timed(self.app)
        self.samples = samples
        self.client = TestClient(self.timed, follow_redirects=False)
        self.client.__enter__()  # one client, one lifespan (the app's hub lives on its loop)
        self.cookies: dict[str, dict[str, str]] = {}
        self.csrf: dict[str, str] = {}

    def login(self, role: str, email: str, password: str, tenant: str) -> None:
        client = self.client
        client.cookies.clear()
        page = client.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        done = client.post(
            "/login",
            data={"email": email, "password": password, "tenant": tenant, "login_csrf": token, "next": "/inbox"},
        )
        if done.status_code != 303:
            raise BenchError(f"login of {email} answered {done.status_code}")
        self.cookies[role] = dict(client.cookies.items())
        self.csrf[role] = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/inbox").text).group(1)

    def as_role(self, role: str) -> Any:
        self.client.cookies.clear()
        self.client.cookies.update(self.cookies[role])
        return self.client

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def measure(
        self,
        name: str,
        role: str,
        method: str,
        url: str,
        *,
        data: Callable[[int], dict[str, str]] | None = None,
        expect: int = 200,
        bar: bool = True,
    ) -> Line:
        line = Line(name, bar=bar)
        client = self.as_role(role)
        for i in range(self.samples + 2):  # two warm-up requests
            headers = {"X-CSRF-Token": self.csrf[role], "HX-Request": "true"} if method == "POST" else {}
            response = client.request(method, url, data=data(i) if data else None, headers=headers)
            if response.status_code != expect:
                raise BenchError(f"{name}: {method} {url} answered {response.status_code}: {response.text[:300]}")
            if i >= 2:
                line.samples.append(self.timed.last or 0.0)
        return line


def bare_select(rt: Any, samples: int) -> Line:
    from sqlalchemy import text

    from raccordo.platform.store.db import unit_of_work

    line = Line("bare SELECT 1 (unit of work)", bar=False)
    for _ in range(samples + 2):
        started = time.perf_counter()
        with unit_of_work(rt.sessions) as session:
            session.execute(text("SELECT 1")).scalar()
        line.samples.append(time.perf_counter() - started)
    line.samples = line.samples[2:]
    return line
