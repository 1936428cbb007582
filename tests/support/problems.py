"""Checking an application/problem+json answer a person can act on, and that the app still serves after it."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.orgs import Org

PROBLEM = "application/problem+json"


def problem_body(response, status: int) -> dict:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
    )
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and len(body["detail"]) > 15, body
    return body


def assert_still_serving(client: TestClient, org: Org) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/auth/me", headers=org.headers()).status_code == 200
