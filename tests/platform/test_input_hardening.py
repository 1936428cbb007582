"""Inputs that used to answer 500: null for a field that cannot be null, and names that differ
only by the case of a non-ASCII letter (SQLite's lower() folds ASCII only)."""

from __future__ import annotations

import uuid

import pytest

PROBLEM = "application/problem+json"


def test_null_for_a_non_nullable_queue_or_sla_field_is_422(client, org):
    owner = org.headers()
    queue = client.post("/api/v1/queues", json={"name": f"Q {uuid.uuid4().hex[:6]}"}, headers=owner).json()
    for body in ({"ageing_per_minute": None}, {"active": None}, {"strategy": None}, {"name": None}):
        response = client.patch(f"/api/v1/queues/{queue['id']}", json=body, headers=owner)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    # null still means "none" where it does.
    assert (
        client.patch(f"/api/v1/queues/{queue['id']}", json={"offer_timeout_seconds": None}, headers=owner).status_code
        == 200
    )
    policy = client.post(
        "/api/v1/sla-policies", json={"name": f"P {uuid.uuid4().hex[:6]}", "first_response_seconds": 60}, headers=owner
    )
    assert policy.status_code == 201, policy.text
    for body in ({"position": None}, {"active": None}, {"warn_before_seconds": None}):
        response = client.patch(f"/api/v1/sla-policies/{policy.json()['id']}", json=body, headers=owner)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (
        client.patch(
            f"/api/v1/sla-policies/{policy.json()['id']}", json={"resolution_seconds": None}, headers=owner
        ).status_code
        == 200
    )


@pytest.mark.parametrize("first, second", [("Ãrabo", "Ãrabo"), ("Ãrabo", "ãRABO"), ("Straße", "STRASSE")])
def test_names_are_unique_whatever_the_case_of_non_ascii_letters(client, org, first, second):
    owner = org.headers()
    suffix = uuid.uuid4().hex[:4]
    cases = [
        ("/api/v1/skills", lambda name: {"name": f"{name} {suffix}"}),
        (
            "/api/v1/templates",
            lambda name: {"name": f"{name} {suffix}", "body": "Salve", "shortcut": f"s{uuid.uuid4().hex[:8]}"},
        ),
    ]
    for url, body in cases:
        created = client.post(url, json=body(first), headers=owner)
        assert created.status_code == 201, (url, created.text)
        again = client.post(url, json=body(second), headers=owner)
        assert again.status_code == 409, (url, again.status_code, again.text)
        assert again.headers["content-type"] == PROBLEM
