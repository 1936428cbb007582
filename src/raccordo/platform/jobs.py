"""Durable timers and background jobs: rows in ``jobs`` with a ``due_at``, run by a worker.

Contract:

- ``schedule`` adds a pending job in the caller's transaction, so the timer exists if and
  only if the change that needs it commits; a tenant's job also emits ``job.scheduled``,
  which wakes the workers after the commit. With a ``dedupe_key`` there is one row per
  key: scheduling again moves the pending run (new time, new payload); a finished,
  failed or cancelled row is reused as a new pending run. ``cancel`` stops it.
- ``claim_due`` marks due jobs ``running`` with a lease (``claimed_until``) in its own
  transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers never
  claim the same row). A job whose lease expired (its worker died) is claimed again.
- ``run_job`` runs the handler and records the outcome **in the handler's own
  transaction**: the job becomes ``done`` together with the handler's database changes,
  or neither happens. The final update only applies while the job is still this run's
  (still ``running`` with the lease this run took), so a job cancelled or rescheduled
  meanwhile, or taken over by another worker after the lease expired, rolls the stale
  run back. A failing handler is retried with backoff (5 s, 20 s, 80 s, ... capped at
  one hour) up to its ``max_attempts``, then ``failed``; an unknown kind fails at once.

Handlers MUST be idempotent. The database effects of one run commit at most once, but a
handler may be *called* again: after a worker dies mid-run, when a run outlives its
lease, or when it is retried after an error. Anything a handler does outside the
transaction (HTTP calls, emails) can therefore happen more than once; use the job id or
the payload as an idempotency key there, and re-check the state you act on (e.g. "is
this conversation still snoozed?") instead of assuming it.

Written here rather than taken from a task queue (taskiq, arq, Celery): their queues
live in the broker, while a timer here must commit atomically with the business change
that sets it and survive a broker loss; queue libraries that use the database
(procrastinate, pgqueuer) need PostgreSQL, and the embedded default is SQLite.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from raccordo.platform.events import emit
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Job

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
# Modules that register the built-in handlers; imported before the first lookup.
BUILTIN_HANDLER_MODULES = (
    "raccordo.record.services.snooze",
    "raccordo.routing.services.sla",
    "raccordo.desk.services.agenda_due",
    "raccordo.channels.services.raw_retention",
    "raccordo.channels.services.inboxes",
)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts``: 5 s, 20 s, 80 s, ... capped at one hour."""
    return timedelta(seconds=min(3600, 5 * 4 ** max(0, attempts - 1)))


@dataclass
class JobContext:
    """What a handler gets: the runtime, the run's session, and a snapshot of the job.

    Do not modify the ``jobs`` row through ``session``; return a result instead.
    """

    rt: Runtime
    session: Session
    id: int
    kind: str
    payload: dict[str, Any]
    tenant_id: int | None
    attempt: int
    now: datetime
    _run_again_at: datetime | None = field(default=None, repr=False)

    def run_again_at(self, when: datetime) -> None:
        """Keep the job pending until ``when`` instead of marking it done (e.g. not due yet)."""
        self._run_again_at = when


Handler = Callable[[JobContext], "dict[str, Any] | None"]


@dataclass(frozen=True)
class _Registered:
    handler: Handler
    max_attempts: int


_HANDLERS: dict[str, _Registered] = {}
_builtins_loaded = False


def job_handler(kind: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Callable[[Handler], Handler]:
    """Register the handler of a job kind. It must be idempotent (see the module docstring)."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def register(handler: Handler) -> Handler:
        existing = _HANDLERS.get(kind)
        if existing is not None and _name(existing.handler) != _name(handler):
            raise ValueError(f"a handler for job kind {kind!r} is already registered: {existing.handler!r}")
        _HANDLERS[kind] = _Registered(handler, max_attempts)
        return handler

    return register


def _name(handler: Handler) -> tuple[str, str]:
    return getattr(handler, "__module__", ""), getattr(handler, "__qualname__", repr(handler))


def handler_for(kind: str) -> _Registered | None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN_HANDLER_MODULES:
            importlib.import_module(module)
        _builtins_loaded = True
    return _HANDLERS.get(kind)


# --- scheduling (in the caller's transaction) --------------------------------------------------


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    return when.astimezone(UTC)


def _by_key(session: Session, dedupe_key: str) -> Job | None:
    query = select(Job).where(Job.dedupe_key == dedupe_key).with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _insert_if_absent(session: Session, values: dict[str, Any]) -> None:
    """Insert the keyed row unless a concurrent transaction already did (then its row is used)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Job).values(**values).on_conflict_do_nothing(index_elements=[Job.dedupe_key]))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(Job).values(**values).on_conflict_do_nothing(index_elements=[Job.dedupe_key]))
    else:  # other databases: a savepoint around a plain insert
        from sqlalchemy.exc import IntegrityError

        try:
            with session.begin_nested():
                session.add(Job(**values))
        except IntegrityError:
            pass


def schedule(
    session: Session,
    kind: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    *,
    tenant_id: int | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """A pending job of ``kind`` due at ``due_at``; with ``dedupe_key``, the one row for that key."""
    due_at = _aware(due_at)
    payload = dict(payload or {})
    job: Job | None
    if dedupe_key is None:
        job = Job(kind=kind, due_at=due_at, payload=payload, tenant_id=tenant_id, status=PENDING, attempts=0, result={})
        session.add(job)
        session.flush()
        _announce(session, job)
        return job
    job = _by_key(session, dedupe_key)
    if job is None:
        _insert_if_absent(
            session,
            {
                "kind": kind,
                "due_at": due_at,
                "payload": payload,
                "tenant_id": tenant_id,
                "dedupe_key": dedupe_key,
                "status": PENDING,
                "attempts": 0,
                "result": {},
                "created_at": datetime.now(UTC),
            },
        )
        job = _by_key(session, dedupe_key)
        assert job is not None
    # A pending run moves; a running one is superseded (its stale run rolls back); a finished one runs again.
    job.kind, job.due_at, job.payload, job.tenant_id = kind, due_at, payload, tenant_id
    job.status, job.attempts, job.claimed_until, job.last_error = PENDING, 0, None, None
    job.result, job.finished_at = {}, None
    session.flush()
    _announce(session, job)
    return job


def _announce(session: Session, job: Job) -> None:
    """A ``job.scheduled`` event: after commit it wakes the workers (``events.wakeups``).

    Jobs without a tenant have no event stream; workers find them on their next poll.
    """
    if job.tenant_id is not None:
        emit(
            session,
            job.tenant_id,
            "job.scheduled",
            {"job_id": job.id, "kind": job.kind, "due_at": job.due_at.isoformat()},
        )


def cancel(session: Session, dedupe_key: str) -> bool:
    """Cancel the pending (or running) job with this key. True when there was one to cancel."""
    job = _by_key(session, dedupe_key)
    if job is None or job.status not in (PENDING, RUNNING):
        return False
    job.status, job.claimed_until, job.finished_at = CANCELLED, None, datetime.now(UTC)
    session.flush()
    return True


# --- running (each step its own transaction) ----------------------------------------------------


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.delivery_lease_seconds)


def claim_due(
    rt: Runtime, limit: int = 20, now: datetime | None = None, *, kinds: Collection[str] | None = None
) -> list[int]:
    """Mark up to ``limit`` due jobs running under a lease and return their ids (oldest due first)."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        query = (
            select(Job)
            .where(
                or_(
                    and_(Job.status == PENDING, Job.due_at <= now),
                    and_(Job.status == RUNNING, Job.claimed_until < now),
                )
            )
            .order_by(Job.due_at, Job.id)
            .limit(limit)
        )
        if kinds is not None:
            query = query.where(Job.kind.in_(list(kinds)))
        if rt.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        jobs = list(session.scalars(query))
        for job in jobs:
            job.status, job.claimed_until, job.attempts = RUNNING, now + _lease(rt), job.attempts + 1
        return [job.id for job in jobs]


def release(rt: Runtime, job_ids: Collection[int]) -> None:
    """Give back claimed jobs that were not started (a worker stopping cleanly)."""
    if not job_ids:
        return
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id.in_(list(job_ids)), Job.status == RUNNING)
            .values(status=PENDING, claimed_until=None, attempts=Job.attempts - 1)
        )


class _Superseded(Exception):
    """The job was cancelled, rescheduled or taken over while this run was in progress."""


def _finish_if_ours(session: Session, job_id: int, token: datetime, **values: Any) -> None:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.claimed_until == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _Superseded


def _start(rt: Runtime, job_id: int) -> tuple[datetime, int, str, dict[str, Any], int | None] | None:
    """Renew the lease for this run (so a batch claim does not eat into it) and read the job."""
    with unit_of_work(rt.sessions) as session:
        query = select(Job).where(Job.id == job_id)
        if rt.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        job = session.scalars(query).one_or_none()
        if job is None or job.status != RUNNING:
            return None
        token = datetime.now(UTC) + _lease(rt)
        if job.claimed_until is not None and job.claimed_until > token:
            token = job.claimed_until
        job.claimed_until = token
        return token, job.attempts, job.kind, dict(job.payload or {}), job.tenant_id


def run_job(rt: Runtime, job_id: int) -> str:
    """Run one claimed job. Returns done, retrying, failed, rescheduled or skipped (not ours any more)."""
    started = _start(rt, job_id)
    if started is None:
        return "skipped"
    token, attempt, kind, payload, tenant_id = started
    registered = handler_for(kind)
    if registered is None:
        return _record_failure(rt, job_id, token, f"no handler is registered for job kind {kind!r}", permanent=True)
    if attempt > registered.max_attempts:  # the worker died mid-run on each of its attempts
        return _record_failure(
            rt, job_id, token, f"gave up after {attempt - 1} attempts that never finished", permanent=True
        )
    now = datetime.now(UTC)
    try:
        with unit_of_work(rt.sessions) as session:
            context = JobContext(rt, session, job_id, kind, payload, tenant_id, attempt, now)
            result = registered.handler(context) or {}
            session.flush()
            if context._run_again_at is not None:
                _finish_if_ours(
                    session,
                    job_id,
                    token,
                    status=PENDING,
                    due_at=_aware(context._run_again_at),
                    claimed_until=None,
                    attempts=0,
                    result=dict(result),
                )
                return "rescheduled"
            _finish_if_ours(
                session,
                job_id,
                token,
                status=DONE,
                result=dict(result),
                last_error=None,
                claimed_until=None,
                finished_at=datetime.now(UTC),
            )
            return "done"
    except _Superseded:
        log.info(
            "job %s (%s) was cancelled, rescheduled or taken over while running; its run was rolled back", job_id, kind
        )
        return "skipped"
    except Exception as exc:  # a failing handler must not stop the worker; the row keeps the error
        log.exception("job %s (%s) failed on attempt %s", job_id, kind, attempt)
        permanent = attempt >= registered.max_attempts
        return _record_failure(rt, job_id, token, f"{type(exc).__name__}: {exc}", permanent=permanent)


def run_job_isolated(rt: Runtime, job_id: int) -> str:
    """``run_job``, where an error outside the handler (claiming, recording) is logged and never reaches the loop.

    The job keeps its lease; when it expires the job is claimed again, and after ``max_attempts``
    claims it fails."""
    try:
        return run_job(rt, job_id)
    except Exception:
        log.exception("job %s: run step failed", job_id)
        return "error"


def _record_failure(rt: Runtime, job_id: int, token: datetime, error: str, *, permanent: bool) -> str:
    now = datetime.now(UTC)
    try:
        with unit_of_work(rt.sessions) as session:
            if permanent:
                _finish_if_ours(
                    session, job_id, token, status=FAILED, last_error=error[:4000], claimed_until=None, finished_at=now
                )
                return "failed"
            attempts = session.scalar(select(Job.attempts).where(Job.id == job_id)) or 1
            _finish_if_ours(
                session,
                job_id,
                token,
                status=PENDING,
                last_error=error[:4000],
                claimed_until=None,
                due_at=now + backoff(attempts),
            )
            return "retrying"
    except _Superseded:
        return "skipped"


def run_due(rt: Runtime, limit: int = 20, now: datetime | None = None, *, kinds: Collection[str] | None = None) -> int:
    """Claim and run one batch of due jobs. Returns how many were claimed."""
    ids = claim_due(rt, limit, now, kinds=kinds)
    for job_id in ids:
        run_job_isolated(rt, job_id)
    return len(ids)
