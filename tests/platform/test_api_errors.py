"""Errors as application/problem+json a person can act on (422 with the field, 404, 413, 403, unknown
routes, Italian and English), and conversation listing: filters and cursor pagination."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from raccordo.bootstrap.http import create_app
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation
from tests.helpers import ApiInbox, create_api_inbox, customer_message, post_inbound
from tests.support.orgs import Org, make_org

PROBLEM = "application/problem+json"
LIMIT = 2048


def _problem(response, status: int) -> dict:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
    )
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and len(body["detail"]) > 15, body
    return body


def _still_serving(client: TestClient, org: Org) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/auth/me", headers=org.headers()).status_code == 200


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
    problem = _problem(response, 422)
    assert problem["title"] == "Invalid input"
    assert problem["errors"][0]["field"] == field_name, problem
    assert problem["errors"][0]["message"], problem
    _still_serving(client, org)


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
        problem = _problem(client.patch(url, json=body, headers=org.headers()), 422)
        assert problem["errors"][0]["field"] == name, problem
        assert name in problem["detail"], problem
    assert client.get(url, headers=org.headers()).json()["priority"] == "none"
    for params, name in (
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"status": "bogus"}, "status"),
        ({"assignee_id": "me"}, "assignee_id"),
    ):
        problem = _problem(client.get("/api/v1/conversations", params=params, headers=org.headers()), 422)
        assert problem["errors"][0]["field"] == name and f'"{name}"' in problem["detail"], problem
    problem = _problem(client.get("/api/v1/conversations/abc", headers=org.headers()), 422)
    assert problem["errors"][0]["field"] == "conversation_id"
    reply = _problem(
        client.post(
            f"{url}/reply",
            json={"text": "", "attachments": [{"filename": "a.txt", "data_base64": "%%%"}]},
            headers=org.headers(),
        ),
        422,
    )
    assert reply["errors"][0]["field"] == "attachments.0.data_base64"
    _still_serving(client, org)


def test_malformed_json_is_422_about_the_body(client, org):
    """Bug: the field reported for unparsable JSON is the character offset ("1"), which names nothing."""
    response = client.post(
        "/api/v1/teams", content=b"{name: 'no quotes'}", headers={**org.headers(), "Content-Type": "application/json"}
    )
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"] == "body", problem
    assert "JSON" in problem["detail"]
    _still_serving(client, org)


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
        problem = _problem(client.get(url, headers=org.headers()), 404)
        assert problem["title"] == "Not found"
        assert "987654321" in problem["detail"] and "organization" in problem["detail"], problem
    _problem(client.patch("/api/v1/conversations/987654321", json={"priority": "high"}, headers=org.headers()), 404)
    _problem(client.delete("/api/v1/teams/987654321", headers=org.headers()), 404)
    _still_serving(client, org)


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
    _still_serving(client, org)


def test_unknown_route_and_method_are_problems(client, org):
    problem = _problem(client.get("/api/v1/nothing-here", headers=org.headers()), 404)
    assert "/api/v1/nothing-here" in problem["detail"] and "/docs" in problem["detail"]
    # Without credentials too (no 401 for a route that does not exist).
    _problem(client.get("/api/v1/nothing-here"), 404)
    problem = _problem(client.delete("/api/v1/contacts", headers=org.headers()), 405)
    assert "DELETE" in problem["detail"] and "/api/v1/contacts" in problem["detail"]
    _still_serving(client, org)


def test_wrong_role_is_403_problem(client, org):
    problem = _problem(
        client.post("/api/v1/inboxes", json={"name": "X", "channel": "api"}, headers=org.headers("agent")), 403
    )
    assert problem["title"] == "Forbidden" and "agent" in problem["detail"]
    assert client.get("/api/v1/inboxes", headers=org.headers()).json() == []
    _still_serving(client, org)


def test_missing_credentials_are_401_problem(client):
    problem = _problem(client.get("/api/v1/conversations"), 401)
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
    problem = _problem(response, 413)
    assert problem["title"] == "Request too large" and str(LIMIT) in problem["detail"]
    assert c.get("/api/v1/contacts", params={"q": marker}, headers=org.headers()).json() == []
    # Just under the limit is fine.
    fits = c.post(
        "/api/v1/contacts",
        json={"name": marker, "custom_attributes": {"note": "x" * (LIMIT // 2)}},
        headers=org.headers(),
    )
    assert fits.status_code == 201, fits.text
    _still_serving(c, org)


def test_oversized_body_without_content_length_is_413(small, org):
    """Bug: a streamed (chunked) body over the limit answers 400 "There was an error parsing the body"
    on JSON endpoints."""
    _, c = small
    response = c.post(
        "/api/v1/contacts", content=_chunks(LIMIT * 4), headers={**org.headers(), "Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    problem = _problem(response, 413)
    assert str(LIMIT) in problem["detail"]
    _still_serving(c, org)


def test_oversized_streamed_webhook_is_413(small, org):
    _, c = small
    inbox = create_api_inbox(c, org.headers())
    response = c.post(inbox.url, content=_chunks(LIMIT * 4), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _problem(response, 413)
    italian = c.post(inbox.url, content=b"x" * (LIMIT + 1), headers={"Accept-Language": "it"})
    assert _problem(italian, 413)["detail"] == f"Il corpo della richiesta supera il limite di {LIMIT} byte."
    assert post_inbound(c, inbox, customer_message(f"ok-{uuid.uuid4().hex[:6]}")).status_code == 200
    _still_serving(c, org)


# --- languages -------------------------------------------------------------------------------------


def test_accept_language_gives_italian_to_anonymous_callers(client):
    problem = _problem(client.get("/api/v1/conversations", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"}), 401)
    assert problem["title"] == "Autenticazione richiesta" and problem["detail"].startswith("Accedi prima")
    problem = _problem(client.get("/api/v1/nowhere", headers={"Accept-Language": "it"}), 404)
    assert problem["detail"].startswith("Non c'è nulla all'indirizzo /api/v1/nowhere")
    # The first supported language wins; unsupported ones fall back to English.
    assert _problem(client.get("/api/v1/nowhere", headers={"Accept-Language": "fr-FR, it;q=0.5"}), 404)[
        "detail"
    ].startswith("Non c'è nulla")
    assert _problem(client.get("/api/v1/nowhere", headers={"Accept-Language": "de"}), 404)["detail"].startswith(
        "There is nothing"
    )
    assert _problem(client.get("/api/v1/nowhere"), 404)["detail"].startswith("There is nothing")
    assert client.get("/healthz").status_code == 200


def test_user_whose_language_is_italian_gets_italian(client, org):
    agent = org.headers("agent")
    assert (
        client.patch(f"/api/v1/users/{org.users['agent']}", json={"language": "it"}, headers=agent).json()["language"]
        == "it"
    )
    forbidden = _problem(client.post("/api/v1/teams", json={"name": "Squadra"}, headers=agent), 403)
    assert (
        forbidden["title"] == "Non consentito"
        and forbidden["detail"] == "Il tuo ruolo (agent) non consente questa azione (manage_teams)."
    )
    missing = _problem(client.get("/api/v1/conversations/987654321", headers=agent), 404)
    assert (
        missing["title"] == "Non trovato"
        and missing["detail"].startswith("Non esiste")
        and "987654321" in missing["detail"]
    )
    invalid = _problem(
        client.post(
            "/api/v1/contacts",
            json={"identities": [{"kind": "email", "value": "x@example.com"}], "nickname": "x"},
            headers=agent,
        ),
        422,
    )
    assert invalid["title"] == "Dati non validi" and invalid["detail"].startswith('Il campo "nickname" non è valido')
    cursor = _problem(client.get("/api/v1/conversations", params={"cursor": "rubbish"}, headers=agent), 422)
    assert cursor["detail"].startswith("Il cursore di paginazione non è valido")
    # The English-speaking owner of the same organization still reads English.
    assert _problem(client.get("/api/v1/conversations/987654321", headers=org.headers()), 404)["detail"].startswith(
        "There is no"
    )
    _still_serving(client, org)


# --- conversation listing: filters and cursor pagination -----------------------------------------


@dataclass
class Listing:
    org: Org
    inbox_a: ApiInbox
    inbox_b: ApiInbox
    team_id: int
    order: list[int]  # every conversation, most recent activity first
    rows: dict[int, dict] = field(default_factory=dict)
    by_contact: dict[int, list[int]] = field(default_factory=dict)


def _page_through(client, org: Org, limit: int, **params) -> tuple[list[int], list[int]]:
    """All ids across pages, and the size of each page."""
    seen: list[int] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/conversations", params=query, headers=org.headers())
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(c["id"] for c in page["items"])
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, sizes
    raise AssertionError("pagination never ended")


@pytest.fixture(scope="module")
def listing(client, rt) -> Listing:
    """31 conversations on two inboxes, with a spread of statuses, assignees, teams, labels and priorities."""
    org = make_org(rt)
    owner = org.headers()
    inbox_a = create_api_inbox(client, owner, name="Chat")
    inbox_b = create_api_inbox(client, owner, name="Portale")
    created: list[int] = []
    for index in range(30):
        inbox = inbox_b if index % 3 == 0 else inbox_a
        response = post_inbound(
            client, inbox, customer_message(f"l-{index}", f"Messaggio {index}", email=f"cliente{index}@example.com")
        )
        assert response.status_code == 200, response.text
        conversation = client.get("/api/v1/conversations", params={"limit": 1}, headers=owner).json()["items"][0]
        assert conversation["id"] not in created
        created.append(conversation["id"])
    team = client.post("/api/v1/teams", json={"name": "Resi"}, headers=owner).json()
    supervisor = org.headers("supervisor")
    for index, conversation_id in enumerate(created):
        changes: dict = {}
        if index % 4 == 0:
            changes["assignee_id"] = org.users["agent"]
        elif index % 4 == 1:
            changes["assignee_id"] = org.users["supervisor"]
        if index % 5 == 0:
            changes["team_id"] = team["id"]
        if index % 6 == 0:
            changes["labels"] = ["VIP", "reso"]
        elif index % 6 == 1:
            changes["labels"] = ["reso"]
        if index % 7 == 0:
            changes["priority"] = "high"
        if index % 8 == 3:
            changes["status"] = "pending"
        if changes:
            response = client.patch(f"/api/v1/conversations/{conversation_id}", json=changes, headers=supervisor)
            assert response.status_code == 200, response.text
    for index in (2, 10):
        assert (
            client.patch(
                f"/api/v1/conversations/{created[index]}", json={"status": "resolved"}, headers=supervisor
            ).status_code
            == 200
        )
    # A second conversation for customer 0: close the first, then the customer writes again.
    assert (
        client.patch(f"/api/v1/conversations/{created[0]}", json={"status": "closed"}, headers=supervisor).status_code
        == 200
    )
    assert (
        post_inbound(
            client, inbox_a, customer_message("l-again", "Sono ancora io", email="cliente0@example.com")
        ).status_code
        == 200
    )
    again = client.get("/api/v1/conversations", params={"limit": 1}, headers=owner).json()["items"][0]
    assert again["id"] not in created
    # A reply moves an old conversation to the top (its assignee, the supervisor, answers: agents
    # answer only their own).
    assert (
        client.post(
            f"/api/v1/conversations/{created[5]}/reply", json={"text": "Eccomi"}, headers=supervisor
        ).status_code
        == 201
    )
    order = [created[5], again["id"]] + [c for c in reversed(created) if c != created[5]]
    rows: dict[int, dict] = {}
    for conversation_id in order:
        rows[conversation_id] = client.get(f"/api/v1/conversations/{conversation_id}", headers=owner).json()
    by_contact: dict[int, list[int]] = {}
    for conversation_id in order:
        by_contact.setdefault(rows[conversation_id]["contact_id"], []).append(conversation_id)
    return Listing(org, inbox_a, inbox_b, team["id"], order, rows, by_contact)


def test_pages_of_seven_return_every_conversation_once_most_recent_first(client, listing):
    assert len(listing.order) == 31
    seen, sizes = _page_through(client, listing.org, 7)
    assert sizes == [7, 7, 7, 7, 3]
    assert len(seen) == len(set(seen)), "a conversation appeared twice"
    assert seen == listing.order
    activity = [listing.rows[i]["last_activity_at"] for i in seen]
    assert activity == sorted(activity, reverse=True)
    # One page with everything agrees.
    everything = client.get("/api/v1/conversations", params={"limit": 100}, headers=listing.org.headers()).json()
    assert [c["id"] for c in everything["items"]] == listing.order and everything["next_cursor"] is None
    # A page exactly as large as the total is the only page.
    seen_31, sizes_31 = _page_through(client, listing.org, 31)
    assert seen_31 == listing.order and sizes_31 == [31]


def _expected(listing: Listing, predicate) -> list[int]:
    return [i for i in listing.order if predicate(listing.rows[i])]


def test_filters_select_exactly_the_matching_conversations(client, listing):
    org = listing.org
    agent, supervisor = org.users["agent"], org.users["supervisor"]
    contact_with_two = next(contact for contact, ids in listing.by_contact.items() if len(ids) == 2)
    cases = [
        ({"status": "open"}, lambda r: r["status"] == "open"),
        ({"status": "pending"}, lambda r: r["status"] == "pending"),
        ({"status": "resolved"}, lambda r: r["status"] == "resolved"),
        ({"status": "closed"}, lambda r: r["status"] == "closed"),
        ({"assignee_id": agent}, lambda r: r["assignee_id"] == agent),
        ({"assignee_id": supervisor}, lambda r: r["assignee_id"] == supervisor),
        ({"unassigned": True}, lambda r: r["assignee_id"] is None),
        ({"team_id": listing.team_id}, lambda r: r["team_id"] == listing.team_id),
        ({"inbox_id": listing.inbox_b.id}, lambda r: r["last_inbox_id"] == listing.inbox_b.id),
        ({"inbox_id": listing.inbox_a.id}, lambda r: r["last_inbox_id"] == listing.inbox_a.id),
        ({"channel": "api"}, lambda r: r["last_channel"] == "api"),
        ({"channel": "email"}, lambda r: False),
        ({"label": "vip"}, lambda r: "vip" in r["labels"]),
        ({"label": "VIP"}, lambda r: "vip" in r["labels"]),
        ({"label": "reso"}, lambda r: "reso" in r["labels"]),
        ({"priority": "high"}, lambda r: r["priority"] == "high"),
        ({"priority": "none"}, lambda r: r["priority"] == "none"),
        ({"contact_id": contact_with_two}, lambda r: r["contact_id"] == contact_with_two),
        (
            {"status": "open", "assignee_id": agent, "label": "reso"},
            lambda r: r["status"] == "open" and r["assignee_id"] == agent and "reso" in r["labels"],
        ),
        (
            {"team_id": listing.team_id, "priority": "high"},
            lambda r: r["team_id"] == listing.team_id and r["priority"] == "high",
        ),
        (
            {"unassigned": True, "inbox_id": listing.inbox_b.id},
            lambda r: r["assignee_id"] is None and r["last_inbox_id"] == listing.inbox_b.id,
        ),
    ]
    for params, predicate in cases:
        expected = _expected(listing, predicate)
        response = client.get("/api/v1/conversations", params={"limit": 100, **params}, headers=org.headers())
        assert response.status_code == 200, (params, response.text)
        assert [c["id"] for c in response.json()["items"]] == expected, params
        # Filters hold across pages too.
        paged, _ = _page_through(client, org, 3, **params)
        assert paged == expected, params
    # The filters are not vacuous: each selects some but not all conversations.
    for params in (
        {"status": "pending"},
        {"assignee_id": agent},
        {"team_id": listing.team_id},
        {"inbox_id": listing.inbox_b.id},
        {"label": "vip"},
        {"priority": "high"},
    ):
        count = len(
            client.get("/api/v1/conversations", params={"limit": 100, **params}, headers=org.headers()).json()["items"]
        )
        assert 0 < count < len(listing.order), params
    # "mine" is the caller's own assignments.
    mine = client.get(
        "/api/v1/conversations", params={"limit": 100, "mine": True}, headers=org.headers("agent")
    ).json()["items"]
    assert [c["id"] for c in mine] == _expected(listing, lambda r: r["assignee_id"] == agent)


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "rubbish",
        _cursor({"at": "2024-01-01T00:00:00+00:00", "id": 1}),
        _cursor([]),
        _cursor(["yesterday", 5]),
        _cursor(["2024-01-01T00:00:00+00:00", "five"]),
        _cursor([None, 5]),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        # Bug: a cursor whose time has no UTC offset reaches the database and answers 500.
        _cursor(["2024-01-01T00:00:00", 5]),
        # Bug: an id past 64 bits reaches the driver and answers 500 on SQLite.
        _cursor(["2024-01-01T00:00:00+00:00", 10**20]),
    ],
    ids=["spaces", "word", "object", "empty", "bad-time", "bad-id", "null-time", "binary", "naive-time", "huge-id"],
)
def test_invalid_cursor_is_422(client, listing, cursor):
    response = client.get("/api/v1/conversations", params={"cursor": cursor}, headers=listing.org.headers())
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"] == "cursor"
    assert "next_cursor" in problem["detail"]
    _still_serving(client, listing.org)


def test_pagination_is_stable_with_equal_activity_times_and_new_arrivals(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    for index in range(12):
        assert (
            post_inbound(client, inbox, customer_message(f"t-{index}", email=f"tie{index}@example.com")).status_code
            == 200
        )
    first_order = [
        c["id"]
        for c in client.get("/api/v1/conversations", params={"limit": 100}, headers=org.headers()).json()["items"]
    ]
    assert len(first_order) == 12
    # Ten of them share one (older) activity instant: the id breaks the tie, and pages must not skip or repeat.
    same = datetime(2020, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    tied = first_order[1:11]
    with unit_of_work(rt.sessions) as session:
        session.execute(update(Conversation).where(Conversation.id.in_(tied)).values(last_activity_at=same))
    expected = [first_order[0], first_order[11], *sorted(tied, reverse=True)]
    seen, sizes = _page_through(client, org, 4)
    assert seen == expected and sizes == [4, 4, 4]
    # A conversation arriving while a client pages lands on top; the pages already under way are unaffected.
    page = client.get("/api/v1/conversations", params={"limit": 5}, headers=org.headers()).json()
    assert post_inbound(client, inbox, customer_message("t-new", email="newcomer@example.com")).status_code == 200
    rest = _collect_from(client, org, 5, page["next_cursor"])
    assert [c["id"] for c in page["items"]] + rest == expected
    newest = client.get("/api/v1/conversations", params={"limit": 1}, headers=org.headers()).json()["items"][0]
    assert newest["id"] not in expected


def _collect_from(client, org: Org, limit: int, cursor: str | None) -> list[int]:
    seen: list[int] = []
    while cursor:
        page = client.get(
            "/api/v1/conversations", params={"limit": limit, "cursor": cursor}, headers=org.headers()
        ).json()
        seen.extend(c["id"] for c in page["items"])
        cursor = page["next_cursor"]
    return seen
