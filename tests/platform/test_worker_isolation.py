"""One integrator's answer, one tenant's failure: the worker pass goes on for everyone else."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select, update

from raccordo.bootstrap import worker
from raccordo.channels.models import OutboxItem
from raccordo.platform import jobs
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Job
from raccordo.record.models import Message
from tests.helpers import CallbackServer, create_api_inbox, customer_message, post_inbound
from tests.support.orgs import make_org


class SameIdCallback:
    """A real callback that answers ``{"id": "cb"}`` to every send, as an integrator may."""

    def __init__(self) -> None:
        self.received = 0

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received += 1
                payload = json.dumps({"id": "cb"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _replies(client, org, callback_url: str, count: int, prefix: str) -> list[int]:
    inbox = create_api_inbox(client, org.headers(), callback_url=callback_url)
    ids = []
    for n in range(count):
        post_inbound(client, inbox, customer_message(f"{prefix}-{n}", email=f"{prefix}.{n}@example.com"))
    for conversation in client.get("/api/v1/conversations", headers=org.headers()).json()["items"]:
        url = f"/api/v1/conversations/{conversation['id']}/reply"
        reply = client.post(url, json={"text": "Risposta"}, headers=org.headers("agent"))
        assert reply.status_code in (200, 201), reply.text
        ids.append(reply.json()["id"])
    assert len(ids) == count
    return ids


def _due_now(rt, message_ids: list[int]) -> None:
    with unit_of_work(rt.sessions) as session:
        due = datetime.now(UTC) - timedelta(minutes=1)
        session.execute(update(OutboxItem).where(OutboxItem.message_id.in_(message_ids)).values(due_at=due))


def test_a_callback_answering_the_same_id_every_time_jams_nobody(client, rt):
    same_id = SameIdCallback()
    normal = CallbackServer()
    try:
        jammer, other = make_org(rt), make_org(rt)
        prefix = uuid.uuid4().hex[:8]
        jammed = _replies(client, jammer, same_id.url, 6, f"j{prefix}")  # due first: they come before the others
        _due_now(rt, jammed)
        others = _replies(client, other, normal.url, 2, f"o{prefix}")
        kind = f"test.isolation.{prefix}"
        ran: list[int] = []
        jobs.job_handler(kind)(lambda ctx: ran.append(ctx.id) or {})
        with unit_of_work(rt.sessions) as session:
            due = datetime.now(UTC) - timedelta(seconds=1)
            job_id = jobs.schedule(session, kind, due, tenant_id=other.tenant_id).id

        for _ in range(5):  # a pass may leave work for the next one; a failing pass raises
            worker.run_once(rt, reprocess=False)
            with unit_of_work(rt.sessions) as session:
                ours = OutboxItem.message_id.in_(jammed + others)
                statuses = list(session.scalars(select(OutboxItem.status).where(ours)))
            if set(statuses) == {"sent"} and ran:
                break

        assert same_id.received == 6, "each reply was sent once"
        with unit_of_work(rt.sessions) as session:
            rows = session.scalars(select(OutboxItem).where(OutboxItem.message_id.in_(jammed + others)))
            items = {i.message_id: i for i in rows}
            messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(jammed + others)))}
            assert {items[i].status for i in jammed + others} == {"sent"}
            assert {messages[i].delivery_status for i in jammed + others} == {"sent"}
            # The answer is recorded on every row; the message column holds it once, the others say it was a duplicate.
            assert {items[i].provider_message_id for i in jammed} == {"cb"}
            holders = [i for i in jammed if messages[i].provider_message_id == "cb"]
            assert len(holders) == 1
            others_of_jammer = [i for i in jammed if i not in holders]
            assert all(messages[i].content_attributes.get("provider_id_duplicate") == "cb" for i in others_of_jammer)
            assert session.get(Job, job_id).status == "done"
        assert ran == [job_id], "the other tenant's job ran"
        assert len(normal.received) == 2
    finally:
        same_id.close()
        normal.close()


def test_a_failing_routing_pass_of_one_tenant_does_not_stop_the_others(rt, monkeypatch):
    from raccordo.routing.services import routing, routing_pass

    calls: list[int] = []
    real = routing_pass.dispatch

    def dispatch(runtime, tenant_id, now=None):
        calls.append(tenant_id)
        if tenant_id == broken:
            raise RuntimeError("this tenant's pass fails")
        return real(runtime, tenant_id, now)

    first, second = make_org(rt), make_org(rt)
    broken = first.tenant_id
    for org in (first, second):
        with unit_of_work(rt.sessions) as session:
            routing.request_routing(session, org.tenant_id, "test")
    monkeypatch.setattr(routing_pass, "dispatch", dispatch)
    routing_pass.route_due(rt)
    assert calls.count(broken) == 1, "a failing tenant is tried once per worker pass, not in a loop"
    assert second.tenant_id in calls
    assert routing_pass.tenants_due(rt).count(second.tenant_id) == 0
