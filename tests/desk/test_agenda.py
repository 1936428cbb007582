"""Agenda: callbacks and follow-ups, on SQLite and PostgreSQL. Scheduling validation (precise
422s), the due time routing the work to the online owner (offer or assignment per the queue)
or into a queue when they are away, exactly once with workers racing, cancel and reschedule
moving the durable job, roles, and the desktop pages."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.bootstrap.worker import run_once
from raccordo.desk.models import AgendaItem
from raccordo.desk.services import agenda
from raccordo.platform import jobs
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Job
from raccordo.realtime.services import presence
from raccordo.record.models import TimelineEvent
from raccordo.routing.models import RoutingEvent
from tests.helpers import create_api_inbox, customer_message, post_inbound


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _problem(response, status, field=None):
    assert response.status_code == status, response.text
    body = response.json()
    if field is not None:
        assert field in str(body), body
    return body


def _online(rt, org, role):
    with unit_of_work(rt.sessions) as session:
        presence.connect(
            session, Actor(org.tenant_id, org.users[role], Role(role)), f"agenda-{uuid.uuid4().hex}", "test-node"
        )


def _away(rt, org, role):
    with unit_of_work(rt.sessions) as session:
        presence.set_status(session, Actor(org.tenant_id, org.users[role], Role(role)), "away", "break")


def _conversation(client, org, inbox, **identities):
    email = f"agenda-{uuid.uuid4().hex[:8]}@example.com"
    _ok(
        post_inbound(
            client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", "Mi richiamate?", email=email, **identities)
        )
    )
    contact = client.get("/api/v1/contacts", params={"q": email}, headers=org.headers()).json()[0]
    return client.get(f"/api/v1/contacts/{contact['id']}/conversations", headers=org.headers()).json()[0]


def _soon(seconds=60):
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _make_due(rt, item_id):
    """Move the item and its job into the past (instead of waiting): the worker takes it at the next pass."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with unit_of_work(rt.sessions) as session:
        item = session.get(AgendaItem, item_id)
        item.due_at = past
        job = session.scalars(select(Job).where(Job.dedupe_key == agenda.job_key(item_id))).one()
        job.due_at = past


def _item(client, org, item_id, role="owner"):
    return _ok(client.get(f"/api/v1/agenda/{item_id}", headers=org.headers(role)))


def _queues(client, org, *, offer_timeout):
    admin = org.headers("admin")
    queue = _ok(
        client.post(
            "/api/v1/queues",
            json={"name": f"Richiami {uuid.uuid4().hex[:4]}", "offer_timeout_seconds": offer_timeout},
            headers=admin,
        ),
        201,
    )
    for role in ("agent", "supervisor"):
        _ok(
            client.put(
                f"/api/v1/users/{org.users[role]}/routing",
                json={"queue_ids": [queue["id"]], "capacity": {"api": 3}},
                headers=admin,
            )
        )
    return queue


def test_schedule_validation_answers_precise_422s(client, org):
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    agent = org.headers("agent")
    base = {"conversation_id": conversation["id"], "kind": "callback", "due_at": _soon(), "inbox_id": inbox.id}
    _problem(
        client.post(
            "/api/v1/agenda",
            json={**base, "due_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()},
            headers=agent,
        ),
        422,
        "due_at",
    )
    _problem(
        client.post("/api/v1/agenda", json={**base, "due_at": "2030-01-01T10:00:00"}, headers=agent), 422, "due_at"
    )  # no offset
    _problem(client.post("/api/v1/agenda", json={**base, "kind": "visit"}, headers=agent), 422, "kind")
    # A call needs a phone number; the contact only has an email.
    body = _problem(
        client.post("/api/v1/agenda", json={**base, "inbox_id": None, "channel": "phone"}, headers=agent),
        422,
        "channel",
    )
    assert "phone" in body["detail"]
    _problem(
        client.post("/api/v1/agenda", json={**base, "inbox_id": None, "channel": "fax"}, headers=agent), 422, "channel"
    )
    _problem(client.post("/api/v1/agenda", json={**base, "note": "x" * 2001}, headers=agent), 422, "note")
    # Agents schedule for themselves; another owner is a supervisor's call.
    _problem(client.post("/api/v1/agenda", json={**base, "owner_id": org.users["supervisor"]}, headers=agent), 403)
    _problem(client.post("/api/v1/agenda", json={**base, "conversation_id": 10**9}, headers=agent), 404)
    # With a phone number the call is fine; the default channel is the conversation's last inbox.
    _ok(
        client.post(
            f"/api/v1/contacts/{conversation['contact_id']}/identities",
            json={"kind": "phone", "value": "+39 347 123 4567"},
            headers=agent,
        ),
        201,
    )
    call = _ok(
        client.post(
            "/api/v1/agenda",
            json={**base, "inbox_id": None, "channel": "phone", "note": "Preferisce la mattina"},
            headers=agent,
        ),
        201,
    )
    assert (call["channel"], call["inbox_id"], call["status"], call["owner_id"]) == (
        "phone",
        None,
        "scheduled",
        org.users["agent"],
    )
    default = _ok(
        client.post(
            "/api/v1/agenda",
            json={"conversation_id": conversation["id"], "kind": "follow_up", "due_at": _soon()},
            headers=agent,
        ),
        201,
    )
    assert (default["channel"], default["inbox_id"]) == ("api", inbox.id)
    by_supervisor = _ok(
        client.post("/api/v1/agenda", json={**base, "owner_id": org.users["agent"]}, headers=org.headers("supervisor")),
        201,
    )
    assert by_supervisor["owner_id"] == org.users["agent"] and by_supervisor["created_by_id"] == org.users["supervisor"]
    # The durable job exists with the item, keyed by it.
    with unit_of_work(client.app.state.runtime.sessions) as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == agenda.job_key(call["id"]))).one()
        assert job.status == "pending" and job.kind == agenda.AGENDA_DUE


def test_due_goes_to_the_online_owner_as_an_offer_and_exactly_once(client, rt, org):
    queue = _queues(client, org, offer_timeout=60)
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}", json={"status": "resolved"}, headers=org.headers("agent")
        )
    )
    _online(rt, org, "agent")
    _online(rt, org, "supervisor")
    # The runtime is shared by the session: earlier tests' due jobs run first, so the counts
    # below are this item's alone.
    for _ in range(20):
        if run_once(rt, reprocess=False).jobs == 0:
            break
    item = _ok(
        client.post(
            "/api/v1/agenda",
            json={
                "conversation_id": conversation["id"],
                "due_at": _soon(),
                "queue_id": queue["id"],
                "note": "Richiamare",
            },
            headers=org.headers("agent"),
        ),
        201,
    )
    assert run_once(rt, reprocess=False).jobs == 0  # not due yet: nothing happens
    assert _item(client, org, item["id"])["status"] == "scheduled"
    _make_due(rt, item["id"])
    # Two workers race for the due job: it runs once.
    results, barrier = [], threading.Barrier(2)

    def worker():
        barrier.wait()
        results.append(run_once(rt, reprocess=False))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.jobs for r in results) == 1
    fired = _item(client, org, item["id"])
    assert (fired["status"], fired["outcome"], fired["routed_user_id"], fired["routed_queue_id"]) == (
        "due",
        "offered",
        org.users["agent"],
        queue["id"],
    )
    offers = _ok(client.get("/api/v1/routing/offers", headers=org.headers("agent")))
    assert [o["conversation_id"] for o in offers] == [conversation["id"]]
    assert (
        _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))["status"] == "open"
    )  # reopened
    with unit_of_work(rt.sessions) as session:
        offered = session.scalars(
            select(RoutingEvent).where(
                RoutingEvent.conversation_id == conversation["id"], RoutingEvent.kind == "offered"
            )
        ).all()
        assert [e.user_id for e in offered] == [org.users["agent"]]
        kinds = [
            e.kind
            for e in session.scalars(select(TimelineEvent).where(TimelineEvent.conversation_id == conversation["id"]))
        ]
        assert kinds.count("agenda.due") == 1 and "agenda.scheduled" in kinds
        events = [e for e in session.scalars(select(jobs.Job).where(jobs.Job.dedupe_key == agenda.job_key(item["id"])))]
        assert events[0].status == "done"
    # Running the handler again (a stale or repeated run) changes nothing.
    with unit_of_work(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == agenda.job_key(item["id"]))).one()
        job.status, job.due_at = "pending", datetime.now(UTC) - timedelta(seconds=1)
    run_once(rt, reprocess=False)
    assert _item(client, org, item["id"])["fired_at"] == fired["fired_at"]
    _ok(client.post(f"/api/v1/conversations/{conversation['id']}/offer/accept", headers=org.headers("agent")))
    assert (
        _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))["assignee_id"]
        == org.users["agent"]
    )
    done = _ok(client.post(f"/api/v1/agenda/{item['id']}/complete", headers=org.headers("agent")))
    assert done["status"] == "done" and done["completed_at"]


def test_due_is_assigned_directly_without_offers_and_without_a_queue(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    _online(rt, org, "agent")
    item = _ok(
        client.post(
            "/api/v1/agenda",
            json={"conversation_id": conversation["id"], "due_at": _soon(), "kind": "follow_up"},
            headers=org.headers("agent"),
        ),
        201,
    )
    _make_due(rt, item["id"])
    run_once(rt, reprocess=False)
    fired = _item(client, org, item["id"])
    assert (fired["status"], fired["outcome"], fired["routed_user_id"]) == ("due", "assigned", org.users["agent"])
    assert (
        _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))["assignee_id"]
        == org.users["agent"]
    )


def test_due_while_the_owner_is_away_goes_to_the_queue_and_another_agent_gets_it(client, rt, org):
    queue = _queues(client, org, offer_timeout=None)
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    # The agent had the conversation; they schedule a callback, then go on a break.
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}",
            json={"assignee_id": org.users["agent"]},
            headers=org.headers("agent"),
        )
    )
    item = _ok(
        client.post(
            "/api/v1/agenda",
            json={"conversation_id": conversation["id"], "due_at": _soon(), "queue_id": queue["id"]},
            headers=org.headers("agent"),
        ),
        201,
    )
    _online(rt, org, "agent")
    _away(rt, org, "agent")
    _online(rt, org, "supervisor")
    _make_due(rt, item["id"])
    run_once(rt, reprocess=False)  # the job queues it; the routing pass of the same run assigns it
    fired = _item(client, org, item["id"])
    assert (fired["status"], fired["outcome"], fired["routed_queue_id"], fired["routed_user_id"]) == (
        "due",
        "queued",
        queue["id"],
        None,
    )
    assert (
        _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))["assignee_id"]
        == org.users["supervisor"]
    )


def test_due_while_the_owner_is_away_stays_with_an_online_colleague_who_holds_it(client, rt, org):
    queue = _queues(client, org, offer_timeout=None)
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    item = _ok(
        client.post(
            "/api/v1/agenda",
            json={"conversation_id": conversation["id"], "due_at": _soon(), "queue_id": queue["id"]},
            headers=org.headers("agent"),
        ),
        201,
    )
    # Meanwhile the supervisor took the conversation over; the agent who planned the callback is away.
    _ok(
        client.patch(
            f"/api/v1/conversations/{conversation['id']}",
            json={"assignee_id": org.users["supervisor"]},
            headers=org.headers("supervisor"),
        )
    )
    _online(rt, org, "agent")
    _away(rt, org, "agent")
    _online(rt, org, "supervisor")
    _make_due(rt, item["id"])
    run_once(rt, reprocess=False)
    fired = _item(client, org, item["id"])
    assert (fired["status"], fired["outcome"], fired["routed_user_id"], fired["routed_queue_id"]) == (
        "due",
        "assigned",
        org.users["supervisor"],
        None,
    )
    after = _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))
    assert (after["status"], after["assignee_id"]) == ("open", org.users["supervisor"])


def test_cancel_before_due_does_nothing_and_reschedule_moves_the_job(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    _online(rt, org, "agent")
    agent = org.headers("agent")
    first = _ok(
        client.post("/api/v1/agenda", json={"conversation_id": conversation["id"], "due_at": _soon()}, headers=agent),
        201,
    )
    cancelled = _ok(client.post(f"/api/v1/agenda/{first['id']}/cancel", headers=agent))
    assert cancelled["status"] == "cancelled"
    _ok(client.post(f"/api/v1/agenda/{first['id']}/cancel", headers=agent))  # again: no change
    _problem(client.post(f"/api/v1/agenda/{first['id']}/complete", headers=agent), 409)
    with unit_of_work(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.dedupe_key == agenda.job_key(first["id"]))).one()
        assert job.status == "cancelled"
        job.due_at = datetime.now(UTC) - timedelta(seconds=1)
    run_once(rt, reprocess=False)
    assert _item(client, org, first["id"])["status"] == "cancelled"
    assert _ok(client.get(f"/api/v1/conversations/{conversation['id']}", headers=org.headers()))["assignee_id"] is None
    # Reschedule: the one keyed job moves with the item.
    second = _ok(
        client.post("/api/v1/agenda", json={"conversation_id": conversation["id"], "due_at": _soon(60)}, headers=agent),
        201,
    )
    later = datetime.now(UTC) + timedelta(days=1)
    moved = _ok(
        client.patch(
            f"/api/v1/agenda/{second['id']}", json={"due_at": later.isoformat(), "note": "Domani"}, headers=agent
        )
    )
    assert moved["note"] == "Domani" and datetime.fromisoformat(moved["due_at"]) == later
    with unit_of_work(rt.sessions) as session:
        rows = session.scalars(select(Job).where(Job.dedupe_key == agenda.job_key(second["id"]))).all()
        assert len(rows) == 1 and rows[0].due_at == later and rows[0].status == "pending"
    _problem(client.patch(f"/api/v1/agenda/{second['id']}", json={"due_at": _soon(-60)}, headers=agent), 422, "due_at")


def test_roles_lists_and_overdue(client, rt, org, other_org):
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    agent, supervisor = org.headers("agent"), org.headers("supervisor")
    mine = _ok(
        client.post("/api/v1/agenda", json={"conversation_id": conversation["id"], "due_at": _soon()}, headers=agent),
        201,
    )
    theirs = _ok(
        client.post(
            "/api/v1/agenda", json={"conversation_id": conversation["id"], "due_at": _soon(120)}, headers=supervisor
        ),
        201,
    )
    assert [i["id"] for i in _ok(client.get("/api/v1/agenda", headers=agent))["items"]] == [mine["id"]]
    _problem(client.get("/api/v1/agenda", params={"scope": "all"}, headers=agent), 403)
    assert {mine["id"], theirs["id"]} <= {
        i["id"] for i in _ok(client.get("/api/v1/agenda", params={"scope": "all"}, headers=supervisor))["items"]
    }
    # An agent cannot read or change a colleague's item; the conversation's list shows both.
    _problem(client.get(f"/api/v1/agenda/{theirs['id']}", headers=agent), 403)
    _problem(client.post(f"/api/v1/agenda/{theirs['id']}/cancel", headers=agent), 403)
    assert len(_ok(client.get(f"/api/v1/conversations/{conversation['id']}/agenda", headers=agent))["items"]) == 2
    # Overdue: open items past their time (the worker has not run here).
    with unit_of_work(rt.sessions) as session:
        session.get(AgendaItem, mine["id"]).due_at = datetime.now(UTC) - timedelta(minutes=5)
    assert [
        i["id"] for i in _ok(client.get("/api/v1/agenda", params={"status": "overdue"}, headers=agent))["items"]
    ] == [mine["id"]]
    # Another tenant sees nothing of it.
    _problem(client.get(f"/api/v1/agenda/{mine['id']}", headers=other_org.headers()), 404)
    assert _ok(client.get("/api/v1/agenda", params={"scope": "all"}, headers=other_org.headers()))["items"] == []


def test_service_missed_when_the_conversation_was_closed(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    owner = Actor(org.tenant_id, org.users["owner"], Role.OWNER)
    with unit_of_work(rt.sessions) as session:
        item = agenda.schedule(
            session,
            owner,
            conversation_id=conversation["id"],
            kind="callback",
            due_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        item_id = item.id
    _ok(client.patch(f"/api/v1/conversations/{conversation['id']}", json={"status": "closed"}, headers=org.headers()))
    _make_due(rt, item_id)
    run_once(rt, reprocess=False)
    assert (_item(client, org, item_id)["status"], _item(client, org, item_id)["outcome"]) == (
        "missed",
        "missed_closed",
    )


def test_pages_schedule_from_the_conversation_and_the_agenda_page(client, rt, org):
    from starlette.testclient import TestClient

    from tests.support.pages import login

    inbox = create_api_inbox(client, org.headers())
    conversation = _conversation(client, org, inbox)
    api = client
    client = TestClient(api.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = login(client, org, "agent")
    panel = client.get(f"/conversations/{conversation['id']}/agenda")
    assert panel.status_code == 200 and 'name="due_at"' in panel.text and "Schedule callback / follow-up" in panel.text
    # Errors come back next to the field, 422.
    bad = client.post(
        f"/conversations/{conversation['id']}/agenda",
        data={"kind": "callback", "due_at": "2001-01-01T10:00", "channel": "phone", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and 'id="due_at-error"' in bad.text
    no_phone = client.post(
        f"/conversations/{conversation['id']}/agenda",
        data={"kind": "callback", "due_at": "2099-01-01T10:00", "channel": "phone", "csrf_token": csrf},
    )
    assert no_phone.status_code == 422 and 'id="channel-error"' in no_phone.text and "phone number" in no_phone.text
    good = client.post(
        f"/conversations/{conversation['id']}/agenda",
        data={
            "kind": "callback",
            "due_at": "2099-01-01T10:00",
            "channel": f"inbox:{inbox.id}",
            "note": "Preventivo",
            "csrf_token": csrf,
        },
    )
    assert good.status_code == 200 and "Preventivo" in good.text
    page = client.get("/agenda")
    assert page.status_code == 200 and "Preventivo" in page.text and "2099-01-01" in page.text
    assert client.get("/agenda?scope=all").status_code == 403
    item_id = _ok(api.get("/api/v1/agenda", headers=org.headers("agent")))["items"][0]["id"]
    done = client.post(f"/agenda/{item_id}/complete", data={"view": "page", "csrf_token": csrf})
    assert done.status_code == 200 and "Done" in done.text
    assert client.post(f"/agenda/{item_id}/cancel", data={"view": "page"}).status_code == 403  # no CSRF token
    assert _item(api, org, item_id)["status"] == "done"
