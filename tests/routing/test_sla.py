"""SLA clocks over the API on SQLite and PostgreSQL: started by customer messages, met by replies
and resolution, paused while waiting on the customer, warned and breached by durable timers
with their actions; business-hours arithmetic as plain values."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from raccordo.bootstrap.worker import run_due_jobs
from raccordo.platform.hours import add_business_seconds, business_seconds_between, parse_business_hours
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event, Job
from raccordo.routing.models import RoutingEvent
from tests.helpers import create_api_inbox, customer_message, post_inbound

ROME_OFFICE = parse_business_hours(
    {
        "timezone": "Europe/Rome",
        "weekly": {day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "closed_dates": ["2026-12-25"],
    }
)


def test_business_time_skips_nights_weekends_lunch_and_holidays():
    friday_1730 = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # 17:30 in Rome
    assert add_business_seconds(ROME_OFFICE, friday_1730, 3600) == datetime(
        2026, 11, 30, 8, 30, tzinfo=UTC
    )  # Monday 09:30
    before_lunch = datetime(2026, 11, 25, 11, 30, tzinfo=UTC)  # 12:30
    assert add_business_seconds(ROME_OFFICE, before_lunch, 3600) == datetime(
        2026, 11, 25, 13, 30, tzinfo=UTC
    )  # 14:30, after lunch
    christmas_eve_1700 = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
    assert add_business_seconds(ROME_OFFICE, christmas_eve_1700, 2 * 3600) == datetime(
        2026, 12, 28, 9, 0, tzinfo=UTC
    ), "25 closed, 26-27 weekend"
    assert business_seconds_between(ROME_OFFICE, friday_1730, datetime(2026, 11, 30, 8, 30, tzinfo=UTC)) == 3600
    assert business_seconds_between(None, friday_1730, datetime(2026, 11, 27, 17, 30, tzinfo=UTC)) == 3600
    assert add_business_seconds(parse_business_hours({"timezone": "UTC"}), friday_1730, 60) is None, (
        "a calendar that never opens"
    )


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _clocks(client, org, conversation_id):
    return {
        c["metric"]: c for c in _ok(client.get(f"/api/v1/conversations/{conversation_id}/sla", headers=org.headers()))
    }


def _start(client, org, **policy):
    _ok(client.post("/api/v1/sla-policies", json={"name": "Standard", **policy}, headers=org.headers("admin")), 201)
    inbox = create_api_inbox(client, org.headers())
    email = f"sla-{uuid.uuid4().hex[:6]}@example.com"
    _ok(post_inbound(client, inbox, customer_message(f"s-{uuid.uuid4().hex[:8]}", "Aiuto", email=email)))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    return inbox, email, conversation


def _run_jobs_until(rt, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_due_jobs(rt)
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the SLA timer did not fire")


def test_breach_raises_priority_and_notifies_then_reply_next_response_pause_and_resolve(client, rt, org):
    inbox, email, conversation = _start(
        client,
        org,
        first_response_seconds=1,
        next_response_seconds=3600,
        resolution_seconds=7200,
        actions={"raise_priority": True, "notify_supervisors": True},
    )
    clocks = _clocks(client, org, conversation["id"])
    assert set(clocks) == {"first_response", "resolution"} and {c["status"] for c in clocks.values()} == {"running"}
    assert conversation["priority"] == "none"

    _run_jobs_until(rt, lambda: _clocks(client, org, conversation["id"])["first_response"]["status"] == "breached")
    assert client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()).json()["priority"] == "low"
    with unit_of_work(rt.sessions) as session:
        breached = session.scalars(
            select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "sla.breached")
        ).all()
        assert len(breached) == 1 and breached[0].payload["metric"] == "first_response" and breached[0].user_id is None
        assert session.scalars(
            select(RoutingEvent.kind).where(RoutingEvent.conversation_id == conversation["id"])
        ).all() == ["sla_breached"]
    _run_jobs_until(rt, lambda: True)  # nothing more fires: the breach is recorded once
    assert len(_ok(client.get(f"/api/v1/conversations/{conversation['id']}/sla", headers=org.headers()))) == 2

    # A late answer leaves the breach recorded; the customer's next message starts next response.
    _ok(
        client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": "Scusi il ritardo"},
            headers=org.headers("agent"),
        ),
        201,
    )
    late = _clocks(client, org, conversation["id"])["first_response"]
    assert late["status"] == "breached" and late["stopped_at"] is not None
    _ok(post_inbound(client, inbox, customer_message(f"s2-{uuid.uuid4().hex[:8]}", "Ancora io", email=email)))
    clocks = _clocks(client, org, conversation["id"])
    assert clocks["next_response"]["status"] == "running"

    # Waiting on the customer pauses; reopening resumes with the time left.
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"status": "pending"}, headers=org.headers("agent")
        )
    )
    paused = _clocks(client, org, conversation["id"])
    assert (
        paused["next_response"]["status"] == paused["resolution"]["status"] == "paused"
        and paused["resolution"]["due_at"] is None
    )
    time.sleep(0.3)
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"status": "open"}, headers=org.headers("agent")
        )
    )
    resumed = _clocks(client, org, conversation["id"])["resolution"]
    assert resumed["status"] == "running" and resumed["elapsed_seconds"] > 0
    due = datetime.fromisoformat(resumed["due_at"])
    left = (due - datetime.now(UTC)).total_seconds()
    assert 7200 - resumed["elapsed_seconds"] - 5 < left <= 7200 - resumed["elapsed_seconds"] + 1

    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"status": "resolved"}, headers=org.headers("agent")
        )
    )
    final = _clocks(client, org, conversation["id"])
    assert (final["resolution"]["status"], final["next_response"]["status"]) == ("met", "cancelled")
    with unit_of_work(rt.sessions) as session:
        pending = session.scalars(
            select(Job).where(
                Job.tenant_id == org.tenant_id, Job.kind.in_(("sla.breach", "sla.warn")), Job.status == "pending"
            )
        ).all()
        assert pending == [], "every timer of a stopped clock is cancelled"


def test_warning_then_met_in_time_and_reassign_on_breach(client, rt, org):
    inbox, _email, conversation = _start(
        client, org, first_response_seconds=2, warn_before_seconds=1, actions={"reassign": True}
    )
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}",
            json={"assignee_id": org.users["agent"]},
            headers=org.headers("supervisor"),
        )
    )

    def warned() -> bool:
        with unit_of_work(rt.sessions) as session:
            return bool(
                session.scalars(
                    select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "sla.warning")
                ).all()
            )

    _run_jobs_until(rt, warned)
    with unit_of_work(rt.sessions) as session:
        warning = session.scalars(
            select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "sla.warning")
        ).one()
        assert warning.user_id == org.users["agent"], "the warning goes to the agent who must answer"
    assert _clocks(client, org, conversation["id"])["first_response"]["status"] == "running"
    _run_jobs_until(rt, lambda: _clocks(client, org, conversation["id"])["first_response"]["status"] == "breached")
    assert (
        client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()).json()["assignee_id"] is None
    ), "reassign unassigns"

    # Met in time: answered before the target, the clock is met and its timer does nothing.
    other_email = f"sla-ok-{uuid.uuid4().hex[:6]}@example.com"
    _ok(
        client.patch(
            "/api/v1/sla-policies/" + str(_ok(client.get("/api/v1/sla-policies", headers=org.headers()))[0]["id"]),
            json={"first_response_seconds": 60},
            headers=org.headers("admin"),
        )
    )
    _ok(post_inbound(client, inbox, customer_message(f"s3-{uuid.uuid4().hex[:8]}", "Domanda", email=other_email)))
    fresh = next(
        c
        for c in client.get("/api/v1/conversations", headers=org.headers()).json()["items"]
        if c["id"] != conversation["id"]
    )
    _ok(
        client.post(
            f"/api/v1/conversations/{fresh['id']}/reply", json={"text": "Subito"}, headers=org.headers("agent")
        ),
        201,
    )
    assert _clocks(client, org, fresh["id"])["first_response"]["status"] == "met"


def test_policy_validation_and_roles(client, org):
    admin = org.headers("admin")
    assert (
        client.post(
            "/api/v1/sla-policies", json={"name": "x", "first_response_seconds": 60}, headers=org.headers("supervisor")
        ).status_code
        == 403
    )
    no_target = client.post("/api/v1/sla-policies", json={"name": "x"}, headers=admin)
    assert no_target.status_code == 422 and "first_response_seconds" in no_target.text
    bad_action = client.post(
        "/api/v1/sla-policies",
        json={"name": "x", "resolution_seconds": 60, "actions": {"explode": True}},
        headers=admin,
    )
    assert bad_action.status_code == 422 and "actions.explode" in bad_action.text
    bad_hours = client.post(
        "/api/v1/sla-policies",
        json={
            "name": "x",
            "resolution_seconds": 60,
            "business_hours": {"timezone": "Europe/Rome", "weekly": {"mon": [["18:00", "09:00"]]}},
        },
        headers=admin,
    )
    assert bad_hours.status_code == 422
