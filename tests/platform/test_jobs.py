"""Durable timers: dedupe, due times, leases, retries, exclusive claims, and snooze end as the first real timer."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from raccordo.bootstrap import worker
from raccordo.platform import jobs
from raccordo.platform.events import event_message, wakeups
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event, Job
from raccordo.record.models import Conversation
from raccordo.record.services.snooze import SNOOZE_END, snooze_key
from tests.helpers import create_api_inbox, customer_message, post_inbound


def _kind(name: str) -> str:
    """A job kind of this test only, so claims never touch other tests' jobs."""
    return f"t.{name}.{uuid.uuid4().hex[:10]}"


def _job(rt, job_id: int) -> Job:
    with unit_of_work(rt.sessions) as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job


def _schedule(rt, kind, due_at, payload=None, **kwargs) -> int:
    with unit_of_work(rt.sessions) as session:
        return jobs.schedule(session, kind, due_at, payload or {}, **kwargs).id


def test_same_dedupe_key_gives_one_job_rescheduled_and_reused(rt):
    kind, key = _kind("dedupe"), f"dedupe:{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    first = _schedule(rt, kind, now + timedelta(hours=1), {"n": 1}, dedupe_key=key)
    second = _schedule(rt, kind, now + timedelta(hours=2), {"n": 2}, dedupe_key=key)
    assert first == second
    with unit_of_work(rt.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.dedupe_key == key)) == 1
    job = _job(rt, first)
    assert job.status == "pending" and job.payload == {"n": 2}
    assert abs((job.due_at - (now + timedelta(hours=2))).total_seconds()) < 1, "the pending run moves to the new time"
    assert jobs.claim_due(rt, now=now + timedelta(minutes=90), kinds=[kind]) == [], "the old time no longer fires"

    with unit_of_work(rt.sessions) as session:
        assert jobs.cancel(session, key) is True
    assert _job(rt, first).status == "cancelled"
    assert jobs.claim_due(rt, now=now + timedelta(days=1), kinds=[kind]) == [], "a cancelled job never runs"
    with unit_of_work(rt.sessions) as session:
        assert jobs.cancel(session, key) is False, "nothing left to cancel"

    # A finished job is reused as a new pending run.
    ran = []
    jobs.job_handler(kind)(lambda ctx: ran.append(ctx.payload) or {"ok": True})
    again = _schedule(rt, kind, now - timedelta(seconds=1), {"n": 3}, dedupe_key=key)
    assert again == first
    assert jobs.run_due(rt, kinds=[kind]) == 1 and ran == [{"n": 3}]
    done = _job(rt, first)
    assert done.status == "done" and done.result == {"ok": True} and done.finished_at is not None
    _schedule(rt, kind, now - timedelta(seconds=1), {"n": 4}, dedupe_key=key)
    reused = _job(rt, first)
    assert reused.status == "pending" and reused.attempts == 0 and reused.result == {} and reused.finished_at is None
    assert jobs.run_due(rt, kinds=[kind]) == 1 and ran == [{"n": 3}, {"n": 4}]


def test_claim_respects_due_at_and_expired_leases_are_reclaimed(rt):
    kind = _kind("lease")
    now = datetime.now(UTC)
    job_id = _schedule(rt, kind, now + timedelta(hours=1))
    assert jobs.claim_due(rt, now=now, kinds=[kind]) == [], "not due yet"
    later = now + timedelta(hours=1, seconds=1)
    assert jobs.claim_due(rt, now=later, kinds=[kind]) == [job_id]
    claimed = _job(rt, job_id)
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    assert claimed.status == "running" and claimed.attempts == 1 and claimed.claimed_until == later + lease
    # The worker "dies" here. While its lease lasts nobody else takes the job ...
    assert jobs.claim_due(rt, now=later + lease - timedelta(seconds=1), kinds=[kind]) == []
    # ... and once it expired the job is claimed again.
    assert jobs.claim_due(rt, now=later + lease + timedelta(seconds=1), kinds=[kind]) == [job_id]
    assert _job(rt, job_id).attempts == 2
    calls = []
    jobs.job_handler(kind)(lambda ctx: calls.append(ctx.attempt))
    assert jobs.run_job(rt, job_id) == "done" and calls == [2]
    assert jobs.run_job(rt, job_id) == "skipped" and calls == [2], "a finished job does not run again"


def test_failing_handler_retries_with_backoff_then_fails(rt):
    kind = _kind("fail")
    calls = []

    @jobs.job_handler(kind, max_attempts=3)
    def always_fails(ctx):
        calls.append(ctx.attempt)
        raise RuntimeError(f"provider down (attempt {ctx.attempt})")

    job_id = _schedule(rt, kind, datetime.now(UTC) - timedelta(seconds=1))
    expected_waits = [5, 20]
    for attempt in (1, 2):
        now = datetime.now(UTC) + timedelta(hours=attempt - 1)
        ids = jobs.claim_due(rt, now=now, kinds=[kind])
        assert ids == [job_id]
        before = datetime.now(UTC)
        assert jobs.run_job(rt, job_id) == "retrying"
        job = _job(rt, job_id)
        assert job.status == "pending" and job.attempts == attempt and job.claimed_until is None
        assert f"provider down (attempt {attempt})" in job.last_error
        wait = (job.due_at - before).total_seconds()
        assert expected_waits[attempt - 1] - 1 <= wait <= expected_waits[attempt - 1] + 2, wait
        assert jobs.claim_due(rt, now=before, kinds=[kind]) == [], "not before the backoff"
    assert jobs.claim_due(rt, now=datetime.now(UTC) + timedelta(hours=5), kinds=[kind]) == [job_id]
    assert jobs.run_job(rt, job_id) == "failed"
    job = _job(rt, job_id)
    assert (
        job.status == "failed" and job.attempts == 3 and job.finished_at is not None and "attempt 3" in job.last_error
    )
    assert calls == [1, 2, 3]
    assert jobs.claim_due(rt, now=datetime.now(UTC) + timedelta(days=30), kinds=[kind]) == [], (
        "a failed job stays failed"
    )


def test_unknown_kind_fails_with_a_clear_error(rt):
    kind = _kind("unknown")
    job_id = _schedule(rt, kind, datetime.now(UTC) - timedelta(seconds=1))
    assert jobs.run_due(rt, kinds=[kind]) == 1
    job = _job(rt, job_id)
    assert job.status == "failed" and f"no handler is registered for job kind {kind!r}" in job.last_error


def test_handler_effects_and_done_commit_together_and_a_cancelled_run_is_rolled_back(rt, org):
    kind = _kind("atomic")

    @jobs.job_handler(kind)
    def writes_an_event(ctx):
        from raccordo.platform.events import emit

        emit(ctx.session, org.tenant_id, kind, {"job": ctx.id})
        return {"wrote": True}

    def events() -> int:
        with unit_of_work(rt.sessions) as session:
            return session.scalar(
                select(func.count()).select_from(Event).where(Event.tenant_id == org.tenant_id, Event.kind == kind)
            )

    key = f"atomic:{uuid.uuid4().hex}"
    job_id = _schedule(rt, kind, datetime.now(UTC) - timedelta(seconds=1), dedupe_key=key)
    assert jobs.claim_due(rt, kinds=[kind]) == [job_id]
    with unit_of_work(rt.sessions) as session:
        jobs.cancel(session, key)  # cancelled after the claim, before the run
    assert jobs.run_job(rt, job_id) == "skipped"
    assert _job(rt, job_id).status == "cancelled" and events() == 0, "a cancelled run must leave no effect"

    _schedule(rt, kind, datetime.now(UTC) - timedelta(seconds=1), dedupe_key=key)
    assert jobs.run_due(rt, kinds=[kind]) == 1
    assert _job(rt, job_id).status == "done" and events() == 1


def test_concurrent_claimers_never_run_a_job_twice(rt):
    kind = _kind("race")
    executions: Counter[int] = Counter()
    lock = threading.Lock()

    @jobs.job_handler(kind)
    def count(ctx):
        with lock:
            executions[ctx.id] += 1
        time.sleep(0.002)

    past = datetime.now(UTC) - timedelta(seconds=1)
    with unit_of_work(rt.sessions) as session:
        ids = {jobs.schedule(session, kind, past, {"i": i}).id for i in range(60)}
    errors: list[BaseException] = []
    claims: list[list[int]] = []
    start = threading.Barrier(6)

    def claimer() -> None:
        try:
            start.wait(timeout=10)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                claimed = jobs.claim_due(rt, limit=4, kinds=[kind])
                with lock:
                    claims.append(claimed)
                if not claimed:
                    return
                for job_id in claimed:
                    jobs.run_job(rt, job_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "claimers did not finish"
    assert not errors, errors
    claimed_ids = [job_id for batch in claims for job_id in batch]
    assert sorted(claimed_ids) == sorted(ids), "every job claimed exactly once"
    assert set(executions) == ids and set(executions.values()) == {1}, executions
    with unit_of_work(rt.sessions) as session:
        statuses = Counter(session.scalars(select(Job.status).where(Job.kind == kind)))
    assert statuses == {"done": 60}


# --- snooze end -------------------------------------------------------------------------------


def _conversation(client, org, message_id):
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message(message_id, email=f"{message_id}@example.com"))
    return client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]


def _system_status_changes(client, org, conversation_id):
    timeline = client.get(f"/api/v1/conversations/{conversation_id}/timeline", headers=org.headers()).json()
    return [e for e in timeline if e["kind"] == "status.changed" and e["actor_type"] == "system"]


def _wait_until(moment: datetime) -> None:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    assert remaining < 5, "bounded wait"
    if remaining > 0:
        time.sleep(remaining + 0.05)


def test_snooze_end_reopens_the_conversation_once(client, rt, org):
    conversation = _conversation(client, org, f"snz-{uuid.uuid4().hex[:6]}")
    url = f"/api/v1/conversations/{conversation['id']}"
    # A minute ahead, so a busy machine cannot reach it before the "before its time" check; the
    # deadline is then moved into the past, as the clock would, instead of sleeping a minute.
    until = datetime.now(UTC) + timedelta(seconds=60)
    response = client.patch(
        url, json={"status": "snoozed", "snoozed_until": until.isoformat()}, headers=org.headers("agent")
    )
    assert response.status_code == 200 and response.json()["status"] == "snoozed", response.text
    job = _job(rt, _job_id(rt, conversation["id"]))
    assert job.kind == SNOOZE_END and job.status == "pending" and job.tenant_id == org.tenant_id
    assert abs((job.due_at - until).total_seconds()) < 0.01
    with unit_of_work(rt.sessions) as session:
        scheduled = session.scalars(
            select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "job.scheduled")
        ).all()
        assert [e.payload["job_id"] for e in scheduled] == [job.id], "scheduling announces itself so workers wake up"
        assert {"type": "wake"} in wakeups([event_message(e) for e in scheduled])

    worker.run_once(rt, reprocess=False)  # before its time: nothing happens
    assert client.get(url, headers=org.headers()).json()["status"] == "snoozed"

    _time_passes(rt, conversation["id"], job.id)
    worker.run_once(rt, reprocess=False)
    body = client.get(url, headers=org.headers()).json()
    assert body["status"] == "open" and body["snoozed_until"] is None
    changes = _system_status_changes(client, org, conversation["id"])
    assert len(changes) == 1 and changes[0]["data"]["from"] == "snoozed" and changes[0]["data"]["to"] == "open"
    assert _job(rt, job.id).status == "done"
    with unit_of_work(rt.sessions) as session:
        updates = session.scalars(
            select(Event)
            .where(Event.conversation_id == conversation["id"], Event.kind == "conversation.updated")
            .order_by(Event.id)
        ).all()
        assert updates[-1].payload["status"] == "open", "the reopening is published to agents"

    worker.run_once(rt, reprocess=False)  # running again changes nothing
    assert len(_system_status_changes(client, org, conversation["id"])) == 1
    assert client.get(url, headers=org.headers()).json()["status"] == "open"


def _time_passes(rt, conversation_id: int, job_id: int) -> None:
    """The snooze's deadline and its timer one second in the past."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with unit_of_work(rt.sessions) as session:
        session.get_one(Conversation, conversation_id).snoozed_until = past
        session.get_one(Job, job_id).due_at = past


def _job_id(rt, conversation_id: int) -> int:
    with unit_of_work(rt.sessions) as session:
        return session.scalars(select(Job.id).where(Job.dedupe_key == snooze_key(conversation_id))).one()


def test_unsnoozing_cancels_the_timer_and_snoozing_again_moves_it(client, rt, org):
    conversation = _conversation(client, org, f"snz-{uuid.uuid4().hex[:6]}")
    url = f"/api/v1/conversations/{conversation['id']}"
    until = datetime.now(UTC) + timedelta(seconds=1)
    client.patch(url, json={"status": "snoozed", "snoozed_until": until.isoformat()}, headers=org.headers("agent"))
    job_id = _job_id(rt, conversation["id"])
    assert client.patch(url, json={"status": "pending"}, headers=org.headers("agent")).json()["status"] == "pending"
    assert _job(rt, job_id).status == "cancelled"
    _wait_until(until)
    worker.run_once(rt, reprocess=False)
    assert client.get(url, headers=org.headers()).json()["status"] == "pending", "a cancelled snooze must not reopen"
    assert _system_status_changes(client, org, conversation["id"]) == []

    # Snoozed again: the same timer row, pending at the new time.
    later = datetime.now(UTC) + timedelta(hours=3)
    client.patch(url, json={"status": "snoozed", "snoozed_until": later.isoformat()}, headers=org.headers("agent"))
    job = _job(rt, job_id)
    assert job.status == "pending" and abs((job.due_at - later).total_seconds()) < 0.01
    client.patch(url, json={"status": "open"}, headers=org.headers("agent"))
    assert _job(rt, job_id).status == "cancelled"


def test_stale_snooze_timer_does_nothing(client, rt, org):
    """A timer firing for a conversation that is no longer snoozed (e.g. the customer wrote) leaves it alone."""
    conversation = _conversation(client, org, f"snz-{uuid.uuid4().hex[:6]}")
    url = f"/api/v1/conversations/{conversation['id']}"
    client.patch(
        url,
        json={"status": "snoozed", "snoozed_until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        headers=org.headers("agent"),
    )
    with unit_of_work(rt.sessions) as session:
        from raccordo.record.models import Conversation

        row = session.get(Conversation, conversation["id"])
        row.status, row.snoozed_until = "open", None  # what ingest does when the customer writes
    job_id = _job_id(rt, conversation["id"])
    claimed = jobs.claim_due(rt, now=datetime.now(UTC) + timedelta(hours=2), kinds=[SNOOZE_END])
    assert claimed.count(job_id) == 1
    outcomes = {other: jobs.run_job(rt, other) for other in claimed}  # other tests' snoozes are not due: they wait
    assert outcomes[job_id] == "done"
    assert _job(rt, job_id).result["reopened"] is False
    assert _system_status_changes(client, org, conversation["id"]) == []


def test_snooze_timer_fired_early_waits_for_its_time(client, rt, org):
    """A worker whose clock runs ahead (or a stale due time) must not reopen early: the job waits."""
    conversation = _conversation(client, org, f"snz-{uuid.uuid4().hex[:6]}")
    url = f"/api/v1/conversations/{conversation['id']}"
    until = datetime.now(UTC) + timedelta(hours=1)
    client.patch(url, json={"status": "snoozed", "snoozed_until": until.isoformat()}, headers=org.headers("agent"))
    job_id = _job_id(rt, conversation["id"])
    claimed = jobs.claim_due(rt, now=until + timedelta(seconds=1), kinds=[SNOOZE_END])
    assert job_id in claimed
    outcomes = {other: jobs.run_job(rt, other) for other in claimed}  # other tests' snoozes: not due either
    assert outcomes[job_id] == "rescheduled"
    job = _job(rt, job_id)
    assert job.status == "pending" and abs((job.due_at - until).total_seconds()) < 0.01
    assert client.get(url, headers=org.headers()).json()["status"] == "snoozed"
