"""The per-process configuration cache (``platform.config_cache``): what a message reads per tenant
(routing rules, SLA policies, the inbox and its tenant) is cached, and a change is used at once by
the process that made it, within ``RACCORDO_CONFIG_CACHE_SECONDS`` by any other, and never hidden
from the transaction that made it; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import event, select, update

from raccordo.platform import config_cache
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import TenantConfigVersion
from raccordo.routing.models import QueueItem, RoutingQueue, RoutingRule
from raccordo.routing.services import routing
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.routing import ok


def _post(client, inbox, org):
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    ok(post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", "Buongiorno", email=email)))
    contacts = client.get("/api/v1/contacts", params={"q": email}, headers=org.headers()).json()
    return client.get(f"/api/v1/contacts/{contacts[0]['id']}/conversations", headers=org.headers()).json()[0]["id"]


def _queued(rt, conversation_id):
    with unit_of_work(rt.sessions) as session:
        return session.scalar(select(QueueItem.queue_id).where(QueueItem.conversation_id == conversation_id))


def _version(rt, tenant_id):
    with unit_of_work(rt.sessions) as session:
        return session.scalar(select(TenantConfigVersion.version).where(TenantConfigVersion.tenant_id == tenant_id))


def test_a_rule_saved_in_this_process_routes_the_next_message_and_the_cache_saves_the_reads(client, rt, org):
    admin = org.headers("admin")
    inbox = create_api_inbox(client, org.headers())
    first = _post(client, inbox, org)  # caches "no rules" and the inbox for this tenant
    assert _queued(rt, first) is None
    before = _version(rt, org.tenant_id)
    queue = ok(client.post("/api/v1/queues", json={"name": "Supporto"}, headers=admin), 201)
    rule = ok(
        client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin),
        201,
    )
    assert _version(rt, org.tenant_id) != before, "saving a rule changes the tenant's configuration version"
    second = _post(client, inbox, org)
    assert _queued(rt, second) == queue["id"], "the rule saved a moment ago routes the next message"

    # A message whose configuration is cached reads neither the inbox, the rules nor the SLA policies.
    seen: list[str] = []

    def note(_connection, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(rt.engine, "before_cursor_execute", note)
    try:
        ok(post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", email="y@example.com")))
    finally:
        event.remove(rt.engine, "before_cursor_execute", note)
    reads = [s for s in seen if "routing_rules" in s or "sla_policies" in s or "FROM inboxes" in s]
    assert seen and not reads, reads

    ok(client.patch(f"/api/v1/routing-rules/{rule['id']}", json={"active": False}, headers=admin))
    assert _queued(rt, _post(client, inbox, org)) is None, "a deactivated rule stops routing at once"


def test_a_change_by_another_process_is_used_within_the_configured_seconds(client, rt, org):
    admin = org.headers("admin")
    inbox = create_api_inbox(client, org.headers())
    queue = ok(client.post("/api/v1/queues", json={"name": "Supporto"}, headers=admin), 201)
    ok(client.post("/api/v1/routing-rules", json={"name": "Tutto", "queue_id": queue["id"]}, headers=admin), 201)
    assert _queued(rt, _post(client, inbox, org)) == queue["id"]
    # Another process deactivates the rule: its session hook writes the row and a new version; this
    # process learns of it only through the version (plain statements: no hook of this process runs).
    with rt.engine.begin() as connection:
        connection.execute(update(RoutingRule).where(RoutingRule.tenant_id == org.tenant_id).values(active=False))
        connection.execute(
            update(TenantConfigVersion).where(TenantConfigVersion.tenant_id == org.tenant_id).values(version=-1)
        )
    changed_at = time.monotonic()
    bound = rt.settings.config_cache_seconds
    while True:
        with unit_of_work(rt.sessions) as session:
            if not routing.active_rules(session, org.tenant_id):
                break
        assert time.monotonic() - changed_at < bound + 5, f"still routing by the old rule after {bound}s"
        time.sleep(0.05)
    assert _queued(rt, _post(client, inbox, org)) is None


def test_the_transaction_that_changes_a_rule_reads_its_own_change(rt, org):
    with unit_of_work(rt.sessions) as session:
        assert routing.active_rules(session, org.tenant_id) == []  # cached: no rules
    with unit_of_work(rt.sessions) as session:
        queue = _queue(org.tenant_id)
        session.add(queue)
        session.flush()
        session.add(RoutingRule(tenant_id=org.tenant_id, name="Tutto", queue_id=queue.id))
        assert [r.name for r in routing.active_rules(session, org.tenant_id)] == ["Tutto"], "unflushed change"
        session.flush()
        assert [r.name for r in routing.active_rules(session, org.tenant_id)] == ["Tutto"], "flushed change"
    with unit_of_work(rt.sessions) as session:
        assert [r.name for r in routing.active_rules(session, org.tenant_id)] == ["Tutto"], "committed change"


def test_a_deactivated_inbox_is_refused_at_once(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    _post(client, inbox, org)  # the inbox is cached
    inboxes = client.get("/api/v1/inboxes", headers=org.headers()).json()
    inbox_id = next(i["id"] for i in inboxes if i["identifier"] == inbox.identifier)
    ok(client.patch(f"/api/v1/inboxes/{inbox_id}", json={"active": False}, headers=org.headers()))
    response = post_inbound(client, inbox, customer_message(f"m-{uuid.uuid4().hex[:8]}", email="x@example.com"))
    assert response.status_code == 404, response.text


def test_cached_rows_are_detached_and_survive_a_rollback(rt, org):
    with unit_of_work(rt.sessions) as session:
        session.add(routing_queue := _queue(org.tenant_id))
        session.flush()
        session.add(RoutingRule(tenant_id=org.tenant_id, name="Tutto", queue_id=routing_queue.id))
    session = rt.sessions()
    try:
        rules = routing.active_rules(session, org.tenant_id)
        session.rollback()  # a retried ingest rolls back: the cached rows must stay readable
    finally:
        session.close()
    assert [r.name for r in rules] == ["Tutto"]
    with unit_of_work(rt.sessions) as session:
        again = routing.active_rules(session, org.tenant_id)
        assert again is rules and rules[0] not in session
    assert config_cache.owner(session, ("channels.inbox", "never-seen")) is None


def _queue(tenant_id):
    return RoutingQueue(tenant_id=tenant_id, name=f"Coda {uuid.uuid4().hex[:6]}")


def test_a_change_made_in_a_savepoint_is_published_by_the_real_commit(rt, org):
    with unit_of_work(rt.sessions) as session:
        assert routing.active_rules(session, org.tenant_id) == []  # cached: no rules
    before = _version(rt, org.tenant_id)
    seen_inside: list[str] = []
    with unit_of_work(rt.sessions) as session:
        with session.begin_nested():  # released: SQLAlchemy runs the commit hooks for it too
            session.add(queue := _queue(org.tenant_id))
            session.flush()
            session.add(RoutingRule(tenant_id=org.tenant_id, name="Tutto", queue_id=queue.id))
        # Another thread of this process, between the release and the real commit, caches the old
        # rules (PostgreSQL: on SQLite it would wait for this transaction's write lock).
        if rt.engine.dialect.name == "postgresql":
            reader = threading.Thread(target=lambda: seen_inside.extend(_rule_names(rt, org.tenant_id)))
            reader.start()
            reader.join(30)
            assert not reader.is_alive()
    assert seen_inside == []
    assert _version(rt, org.tenant_id) != before
    assert _rule_names(rt, org.tenant_id) == ["Tutto"], "the real commit drops what was cached meanwhile"


def _rule_names(rt, tenant_id):
    with unit_of_work(rt.sessions) as session:
        return [r.name for r in routing.active_rules(session, tenant_id)]
