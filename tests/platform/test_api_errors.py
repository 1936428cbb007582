"""Errors as application/problem+json a person can act on (422 with the field, 404, 413, 403, unknown
routes, Italian and English)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from raccordo.bootstrap.http import create_app
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.problems import PROBLEM, assert_still_serving, problem_body

LIMIT = 2048


# --- 422 names the field -----------------------------------------------------------------------

INVALID_BODIES = [
    ("POST", "/api/v1/teams", {}, "name"),
    ("POST", "/api/v1/teams", {"name": ""}, "name"),
    ("POST", "/api/v1/teams", {"name": "Team", "colour": "red"}, "colour"),
    ("POST", "/api/v1/users", {"email": "x@example.com", "name": "X", "role": "boss"}, "role"),
    (
        "POST",
        "/api/v1/users",
        {"email": "x@example.com", "name": "X", "role": "agent", "password": "short"},
        "password",
    ),
    ("POST", "/api/v1/contacts", {"identities": [{"kind": "email"}]}, "identities.0.value"),
    ("POST", "/api/v1/contacts", {"identities": [{"kind": "email", "value": "not an email"}]}, "identities.0"),
    ("POST", "/api/v1/contacts", {"identities": [{"kind": "fax", "value": "123"}]}, "identities.0"),
    ("POST", "/api/v1/contacts", {"name": "X", "language": "fr"}, "language"),
    ("POST", "/api/v1/inboxes", {"name": "X", "channel": "carrier-pigeon"}, "channel"),
    ("PATCH", "/api/v1/tenant", {"default_region": "ZZ"}, "default_region"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field_name"), INVALID_BODIES, ids=[f"{m} {p} {f}" for m, p, _, f in INVALID_BODIES]
)
def test_invalid_body_is_422_naming_the_field(client, org, method, path, body, field_name):
    response = client.request(method, path, json=body, headers=org.headers())
    problem = problem_body(response, 422)
    assert problem["title"] == "Invalid input"
    assert problem["errors"][0]["field"] == field_name, problem
    assert problem["errors"][0]["message"], problem
    assert_still_serving(client, org)


def test_invalid_conversation_patch_and_query_name_the_field(client, org):
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message(f"e-{uuid.uuid4().hex[:6]}", email="field@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    url = f"/api/v1/conversations/{conversation['id']}"
    for body, name in (
        ({"priority": "extreme"}, "priority"),
        ({"status": "archived"}, "status"),
        ({"labels": "vip"}, "labels"),
        ({"status": "snoozed"}, "snoozed_until"),
    ):
        problem = problem_body(client.patch(url, json=body, headers=org.headers()), 422)
        assert problem["errors"][0]["field"] == name, problem
        assert name in problem["detail"], problem
    assert client.get(url, headers=org.headers()).json()["priority"] == "none"
    for params, name in (
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"status": "bogus"}, "status"),
        ({"assignee_id": "me"}, "assignee_id"),
    ):
        problem = problem_body(client.get("/api/v1/conversations", params=params, headers=org.headers()), 422)
        assert problem["errors"][0]["field"] == name and f'"{name}"' in problem["detail"], problem
    problem = problem_body(client.get("/api/v1/conversations/abc", headers=org.headers()), 422)
    assert problem["errors"][0]["field"] == "conversation_id"
    reply = problem_body(
        client.post(
            f"{url}/reply",
            json={"text": "", "attachments": [{"filename": "a.txt", "data_base64": "%%%"}]},
            headers=org.headers(),
        ),
        422,
    )
    assert reply["errors"][0]["field"] == "attachments.0.data_base64"
    assert_still_serving(client, org)


def test_malformed_json_is_422_about_the_body(client, org):
    """Bug: the field reported for unparsable JSON is the character offset ("1"), which names nothing."""
    response = client.post(
        "/api/v1/teams", content=b"{name: 'no quotes'}", headers={**org.headers(), "Content-Type": "application/json"}
    )
    problem = problem_body(response, 422)
    assert problem["errors"][0]["field"] == "body", problem
    assert "JSON" in problem["detail"]
    assert_still_serving(client, org)


# --- 404 -----------------------------------------------------------------------------------------


def test_unknown_ids_are_404_naming_the_id(client, org):
    for url in (
        "/api/v1/conversations/987654321",
        "/api/v1/contacts/987654321",
        "/api/v1/users/987654321",
        "/api/v1/teams/987654321",
        "/api/v1/inboxes/987654321",
        "/api/v1/attachments/987654321",
        "/api/v1/conversations/987654321/messages",
    ):
        problem = problem_body(client.get(url, headers=org.headers()), 404)
        assert problem["title"] == "Not found"
        assert "987654321" in problem["detail"] and "organization" in problem["detail"], problem
    problem_body(client.patch("/api/v1/conversations/987654321", json={"priority": "high"}, headers=org.headers()), 404)
    problem_body(client.delete("/api/v1/teams/987654321", headers=org.headers()), 404)
    assert_still_serving(client, org)


@pytest.mark.parametrize("big", [2**63, 10**20])
def test_ids_beyond_the_database_range_are_a_clean_4xx(client, org, big):
    """Bug: ids past 64 bits reach the database driver and answer 500 on SQLite."""
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message(f"b-{uuid.uuid4().hex[:6]}", email="big@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    attempts = [
        client.get(f"/api/v1/conversations/{big}", headers=org.headers()),
        client.get("/api/v1/conversations", params={"assignee_id": big}, headers=org.headers()),
        client.post(
            f"/api/v1/contacts/{conversation['contact_id']}/merge", json={"other_id": big}, headers=org.headers()
        ),
        client.patch(f"/api/v1/conversations/{conversation['id']}", json={"team_id": big}, headers=org.headers()),
    ]
    wrong = [
        f"{r.request.method} {r.request.url} {r.status_code}"
        for r in attempts
        if r.status_code not in (404, 422) or not r.headers["content-type"].startswith(PROBLEM)
    ]
    assert not wrong, wrong
    assert_still_serving(client, org)


def test_unknown_route_and_method_are_problems(client, org):
    problem = problem_body(client.get("/api/v1/nothing-here", headers=org.headers()), 404)
    assert "/api/v1/nothing-here" in problem["detail"] and "/docs" in problem["detail"]
    # Without credentials too (no 401 for a route that does not exist).
    problem_body(client.get("/api/v1/nothing-here"), 404)
    problem = problem_body(client.delete("/api/v1/contacts", headers=org.headers()), 405)
    assert "DELETE" in problem["detail"] and "/api/v1/contacts" in problem["detail"]
    assert_still_serving(client, org)


def test_wrong_role_is_403_problem(client, org):
    problem = problem_body(
        client.post("/api/v1/inboxes", json={"name": "X", "channel": "api"}, headers=org.headers("agent")), 403
    )
    assert problem["title"] == "Forbidden" and "agent" in problem["detail"]
    assert client.get("/api/v1/inboxes", headers=org.headers()).json() == []
    assert_still_serving(client, org)


def test_missing_credentials_are_401_problem(client):
    problem = problem_body(client.get("/api/v1/conversations"), 401)
    assert "Bearer" in problem["detail"]


# --- 413 -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(rt: Runtime) -> Iterator[tuple[Runtime, TestClient]]:
    """An app on the same database with a small body limit."""
    settings = Settings(
        data_dir=rt.settings.data_dir,
        database_url=rt.settings.database_url,
        secret_key="test-secret-key",
        max_body_bytes=LIMIT,
    )
    runtime = Runtime.build(settings)
    with TestClient(create_app(runtime, run_delivery=False), raise_server_exceptions=False) as test_client:
        yield runtime, test_client
    runtime.close()


def _chunks(total: int, size: int = 512) -> Iterator[bytes]:
    sent = 0
    yield b'{"name": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


def test_oversized_body_with_content_length_is_413(small, org):
    _, c = small
    marker = uuid.uuid4().hex[:8]
    body = json.dumps({"name": marker + "x" * (LIMIT * 2)}).encode()
    response = c.post("/api/v1/contacts", content=body, headers={**org.headers(), "Content-Type": "application/json"})
    problem = problem_body(response, 413)
    assert problem["title"] == "Request too large" and str(LIMIT) in problem["detail"]
    assert c.get("/api/v1/contacts", params={"q": marker}, headers=org.headers()).json() == []
    # Just under the limit is fine.
    fits = c.post(
        "/api/v1/contacts",
        json={"name": marker, "custom_attributes": {"note": "x" * (LIMIT // 2)}},
        headers=org.headers(),
    )
    assert fits.status_code == 201, fits.text
    assert_still_serving(c, org)


def test_oversized_body_without_content_length_is_413(small, org):
    """Bug: a streamed (chunked) body over the limit answers 400 "There was an error parsing the body"
    on JSON endpoints."""
    _, c = small
    response = c.post(
        "/api/v1/contacts", content=_chunks(LIMIT * 4), headers={**org.headers(), "Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    problem = problem_body(response, 413)
    assert str(LIMIT) in problem["detail"]
    assert_still_serving(c, org)


def test_oversized_streamed_webhook_is_413(small, org):
    _, c = small
    inbox = create_api_inbox(c, org.headers())
    response = c.post(inbox.url, content=_chunks(LIMIT * 4), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    problem_body(response, 413)
    italian = c.post(inbox.url, content=b"x" * (LIMIT + 1), headers={"Accept-Language": "it"})
    assert problem_body(italian, 413)["detail"] == f"Il corpo della richiesta supera il limite di {LIMIT} byte."
    assert post_inbound(c, inbox, customer_message(f"ok-{uuid.uuid4().hex[:6]}")).status_code == 200
    assert_still_serving(c, org)


# --- languages -------------------------------------------------------------------------------------


def test_accept_language_gives_italian_to_anonymous_callers(client):
    problem = problem_body(
        client.get("/api/v1/conversations", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"}), 401
    )
    assert problem["title"] == "Autenticazione richiesta" and problem["detail"].startswith("Accedi prima")
    problem = problem_body(client.get("/api/v1/nowhere", headers={"Accept-Language": "it"}), 404)
    assert problem["detail"].startswith("Non c'è nulla all'indirizzo /api/v1/nowhere")
    # The first supported language wins; unsupported ones fall back to English.
    assert problem_body(client.get("/api/v1/nowhere", headers={"Accept-Language": "fr-FR, it;q=0.5"}), 404)[
        "detail"
    ].startswith("Non c'è nulla")
    assert problem_body(client.get("/api/v1/nowhere", headers={"Accept-Language": "de"}), 404)["detail"].startswith(
        "There is nothing"
    )
    assert problem_body(client.get("/api/v1/nowhere"), 404)["detail"].startswith("There is nothing")
    assert client.get("/healthz").status_code == 200


def test_user_whose_language_is_italian_gets_italian(client, org):
    agent = org.headers("agent")
    assert (
        client.patch(f"/api/v1/users/{org.users['agent']}", json={"language": "it"}, headers=agent).json()["language"]
        == "it"
    )
    forbidden = problem_body(client.post("/api/v1/teams", json={"name": "Squadra"}, headers=agent), 403)
    assert (
        forbidden["title"] == "Non consentito"
        and forbidden["detail"] == "Il tuo ruolo (agent) non consente questa azione (manage_teams)."
    )
    missing = problem_body(client.get("/api/v1/conversations/987654321", headers=agent), 404)
    assert (
        missing["title"] == "Non trovato"
        and missing["detail"].startswith("Non esiste")
        and "987654321" in missing["detail"]
    )
    invalid = problem_body(
        client.post(
            "/api/v1/contacts",
            json={"identities": [{"kind": "email", "value": "x@example.com"}], "nickname": "x"},
            headers=agent,
        ),
        422,
    )
    assert invalid["title"] == "Dati non validi" and invalid["detail"].startswith('Il campo "nickname" non è valido')
    cursor = problem_body(client.get("/api/v1/conversations", params={"cursor": "rubbish"}, headers=agent), 422)
    assert cursor["detail"].startswith("Il cursore di paginazione non è valido")
    # The English-speaking owner of the same organization still reads English.
    assert problem_body(client.get("/api/v1/conversations/987654321", headers=org.headers()), 404)["detail"].startswith(
        "There is no"
    )
    assert_still_serving(client, org)
