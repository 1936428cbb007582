"""Conversation listing over the API: filters and cursor pagination, stable with equal activity times and new
arrivals; an invalid cursor is a 422 problem."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Conversation
from tests.helpers import ApiInbox, create_api_inbox, customer_message, post_inbound
from tests.support.orgs import Org, make_org
from tests.support.problems import assert_still_serving, problem_body

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
    problem = problem_body(response, 422)
    assert problem["errors"][0]["field"] == "cursor"
    assert "next_cursor" in problem["detail"]
    assert_still_serving(client, listing.org)


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
