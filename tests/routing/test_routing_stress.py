"""Routing under stress: several real `raccordo worker` processes route one tenant at once.

The spec: "A stress test with several worker processes on PostgreSQL routing at once keeps
every invariant (checked from the database afterwards)." Here WORKERS processes run
routing passes (``services.routing_pass.route_due`` in their loop, woken through Redis by every
commit of this process and of each other) while threads of this process drive the tenant
for LOAD_SECONDS (longer, up to MAX_LOAD_SECONDS, until every routing event kind has
happened): customers write on three API inboxes and an email inbox (new conversations and
follow-ups), agents accept, decline or ignore offers, resolve, set
pending and transfer their conversations back to a queue, go away and come back, and a
supervisor moves or closes waiting conversations. Three queues: one offering with a short
offer timeout, ageing, skill relaxation and overflow; one assigning directly; one for
email, where some agents are exclusive (an email takes the whole agent).

Checked from the database:

1. Every SNAPSHOT_EVERY seconds, in one REPEATABLE READ transaction (SQLite: one
   transaction, writers are serialized): each queue item is held by at most one agent and
   agrees with its conversation (offered: nobody assigned; assigned: the conversation's
   assignee); per agent and channel, open/pending conversations assigned plus pending
   offers never exceed the capacity, and an exclusive channel's conversation is the
   agent's only one; the load the routing service computes (``load_agents``) is that same
   count. Nothing here assigns by hand (no transfer to a user, no reopening of an assigned
   conversation), so nothing may exceed capacity on purpose.
2. Whenever a snapshot is *settled* (no routing request pending and the tenant's next
   timed pass in the future: a pass would change nothing now), and again after the load
   stops: no waiting item is eligible for any online agent with room
   (``domain.routing.eligible`` / ``reserved_for`` with the agents of ``load_agents``).
3. The ``routing_events`` history, replayed per conversation in id order (one
   conversation's writers all lock its queue item before they record, so id order is
   commit order): an offer or a routing assignment only from waiting, accept/decline/expiry
   only by the agent holding the offer; the replay ends in each item's final row.
4. Priority: when a pass offered or assigned item L of queue Q to agent A at time t, no
   item H of the same queue and channel that stayed waiting through that pass had a
   higher effective priority at t while A was eligible for it (A's skills against H's
   relaxed requirements, A not cooling down after declining H). A's room for H follows
   from A getting L in the same pass (same channel, load only grows within a pass). H
   must have entered the queue ENTRY_MARGIN seconds before t, so the pass certainly saw it
   (an insert committed during the pass's read is not in the pass's snapshot).

It runs on PostgreSQL, or on a SQLite file when the suite is told to use SQLite only
(RACCORDO_TEST_DATABASES=sqlite). Redis must be reachable (it carries the wake-ups).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from raccordo.bootstrap.worker import bus_publisher
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.migrate import upgrade
from raccordo.routing.models import QueueItem
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database
from tests.support.routing_invariants import check_history, check_snapshot, routing_event_kinds, take_snapshot
from tests.support.routing_load import Load, setup_tenant
from tests.support.routing_workers import REDIS_URL, SECRET, BusThread, Workers

START_REDIS = "start it with: redis-server --daemonize yes (or set RACCORDO_TEST_REDIS_URL)"

WORKERS = 3
LOAD_SECONDS = 20.0
# On a busy machine agents react late and offers expire before anyone accepts or declines: the load
# then goes on (up to this long in all) until every routing event kind below has happened.
MAX_LOAD_SECONDS = 60.0
EXERCISED_KINDS = (
    "offered",
    "accepted",
    "declined",
    "offer_expired",
    "assigned",
    "resolved",
    "transferred",
    "overflowed",
)
SETTLE_SECONDS = 15.0  # at most, after the load, to find settled snapshots
SETTLED_CHECKS_AFTER_LOAD = 3
SNAPSHOT_EVERY = 0.25
MAX_VIOLATIONS = 25


# --- the test ------------------------------------------------------------------------------------


def _require_redis() -> None:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); {START_REDIS}", pytrace=False)


@pytest.mark.slow
def test_worker_processes_routing_at_once_keep_every_invariant(tmp_path: Path) -> None:
    _require_redis()
    started = time.monotonic()
    if "postgresql" in BACKENDS:
        database_name, database_url = create_postgres_database()
    else:
        database_name, database_url = None, f"sqlite:///{tmp_path / 'raccordo.db'}"
    rt: Runtime | None = None
    workers = Workers(tmp_path, database_url)
    bus: BusThread | None = None
    load: Load | None = None
    try:
        upgrade(database_url)
        rt = Runtime.build(Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=SECRET))
        tenant = setup_tenant(rt)
        violations: dict[str, int] = {}  # problem -> in how many snapshots
        snapshots = settled = settled_during_load = settled_after = 0

        def inspect() -> bool:
            nonlocal snapshots, settled
            snap = take_snapshot(rt, tenant.tenant_id)
            snapshots += 1
            settled += snap.settled
            for problem in check_snapshot(snap, tenant):
                if problem in violations or len(violations) < MAX_VIOLATIONS:
                    violations[problem] = violations.get(problem, 0) + 1
            return snap.settled

        try:
            bus = BusThread(REDIS_URL)
            rt.publisher = bus_publisher(bus.bus)
            workers.start(WORKERS)
            workers.wait_started(timeout=40)
            load_started = time.monotonic()
            load = Load(rt, tenant, load_started + LOAD_SECONDS)
            load.start()
            for _ in range(int(MAX_LOAD_SECONDS / SNAPSHOT_EVERY) + 10):
                if not load.running():
                    break
                inspect()
                workers.check_alive()
                if load.deadline - time.monotonic() < 1 and load_started + MAX_LOAD_SECONDS > load.deadline:
                    missing = [kind for kind in EXERCISED_KINDS if not routing_event_kinds(rt, tenant)[kind]]
                    if missing:
                        load.deadline = min(load.deadline + 5, load_started + MAX_LOAD_SECONDS)
                time.sleep(SNAPSHOT_EVERY)
            load.join()
            settled_during_load = settled

            # Quiescence: everyone back online, no more input; the workers settle the tenant.
            for actor in tenant.agents.values():
                load.set_presence(actor, "online")
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline and settled_after < SETTLED_CHECKS_AFTER_LOAD:
                if inspect():
                    settled_after += 1
                    time.sleep(0.5)
                else:
                    time.sleep(0.1)
            workers.check_alive()
        finally:
            if load is not None:
                load.join()
            codes = workers.stop()
            if bus is not None:
                rt.publisher = None
                bus.close()
        # With the workers stopped, the history is final.
        history_problems, kinds, pairs = check_history(rt, tenant)
        with unit_of_work(rt.sessions) as session:
            statuses = Counter(session.scalars(select(QueueItem.status).where(QueueItem.tenant_id == tenant.tenant_id)))
    finally:
        workers.stop()
        if rt is not None:
            rt.close()
        if database_name is not None:
            drop_postgres_database(database_name)

    assert load is not None
    logs = workers.logs()
    summary = (
        f"{WORKERS} workers, {time.monotonic() - started:.1f} s; snapshots {snapshots} "
        f"({settled_during_load} settled during the load, {settled_after} after); "
        f"actions {dict(sorted(load.counts.items()))}; routing events {dict(sorted(kinds.items()))}; "
        f"items {dict(statuses)}; priority pairs compared {pairs}"
    )
    print(summary)
    problems = (
        [f"driving: {error}" for error in load.errors[:MAX_VIOLATIONS]]
        + [f"snapshot: {problem} (in {count} snapshots)" for problem, count in violations.items()]
        + [f"history: {problem}" for problem in history_problems[:MAX_VIOLATIONS]]
    )
    assert not problems, "\n".join(problems) + "\n" + summary
    assert settled_after >= 1, (
        f"the workers never settled the tenant in {SETTLE_SECONDS} s after the load\n{summary}\n{logs}"
    )
    # The run must have exercised what the invariants are about.
    for kind in EXERCISED_KINDS:
        assert kinds[kind] > 0, f"no {kind!r} routing event: the load did not exercise it\n{summary}"
    assert pairs > 0, f"no decision passed over a waiting item: the priority check compared nothing\n{summary}"
    assert codes == [0] * WORKERS, f"worker exit codes {codes}\n{logs}"
    assert "worker pass failed" not in logs, logs
    assert SECRET not in logs, "secrets must never be logged"
