"""Retention of raw inbound payloads.

Processed and ignored raw payloads (and rejection rows) older than
``RACCORDO_RAW_RETENTION_DAYS`` (a tenant may set its own, ``set_raw_retention``) are deleted by
the ``inbound.purge_raw`` job (every 6 hours, kept scheduled by the workers) and by
``raccordo purge-raw``. Pending and failed payloads are never purged: they still need work or a look.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, select
from sqlalchemy.orm import Session

from raccordo.accounts.models import Tenant
from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.platform import jobs
from raccordo.platform.errors import InvalidInput
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Job

PURGE_JOB = "inbound.purge_raw"
PURGE_EVERY = timedelta(hours=6)
_PURGED_STATUSES = ("processed", "ignored")


def retention_days(tenant_settings: dict[str, Any] | None, default: int) -> int:
    """Days a tenant keeps processed raw payloads: its own setting, else the global default; 0 keeps them."""
    value = (tenant_settings or {}).get("raw_retention_days")
    return int(value) if isinstance(value, int) and value >= 0 else default


def _deleted(session: Session, statement: Delete) -> int:
    """How many rows a DELETE removed (a DELETE's result is a cursor result, which counts them)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount or 0


def purge_raw_in(session: Session, default_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete processed/ignored raw payloads and rejection rows past each tenant's retention."""
    now = now or datetime.now(UTC)
    counts = {"raw_inbound": 0, "inbound_rejections": 0}
    for tenant_id, tenant_settings in session.execute(select(Tenant.id, Tenant.settings)).all():
        days = retention_days(tenant_settings, default_days)
        if days <= 0:
            continue
        cutoff = now - timedelta(days=days)
        counts["raw_inbound"] += _deleted(
            session,
            delete(RawInbound).where(
                RawInbound.tenant_id == tenant_id,
                RawInbound.status.in_(_PURGED_STATUSES),
                RawInbound.processed_at < cutoff,
            ),
        )
        counts["inbound_rejections"] += _deleted(
            session,
            delete(InboundRejection).where(
                InboundRejection.tenant_id == tenant_id, InboundRejection.received_at < cutoff
            ),
        )
    return counts


def purge_raw(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """``purge_raw_in`` in its own transaction (``raccordo purge-raw``)."""
    with unit_of_work(rt.sessions) as session:
        return purge_raw_in(session, rt.settings.raw_retention_days, now)


def set_raw_retention(session: Session, tenant_id: int, days: int | None) -> None:
    """A tenant's own retention in days (0 keeps everything), or ``None`` for the global default."""
    if days is not None and days < 0:
        raise InvalidInput("inbound.retention_days_invalid", field="days")
    tenant = session.get_one(Tenant, tenant_id)
    settings = {k: v for k, v in (tenant.settings or {}).items() if k != "raw_retention_days"}
    tenant.settings = settings if days is None else {**settings, "raw_retention_days": days}


@jobs.job_handler(PURGE_JOB)
def _purge_job(ctx: jobs.JobContext) -> dict[str, Any]:
    counts = purge_raw_in(ctx.session, ctx.rt.settings.raw_retention_days, ctx.now)
    ctx.run_again_at(ctx.now + PURGE_EVERY)
    return counts


def ensure_purge_job(rt: Runtime) -> None:
    """Keep one pending retention job (workers call it when they start)."""
    with unit_of_work(rt.sessions) as session:
        status = session.scalar(select(Job.status).where(Job.dedupe_key == PURGE_JOB))
        if status not in (jobs.PENDING, jobs.RUNNING):
            jobs.schedule(session, PURGE_JOB, datetime.now(UTC), dedupe_key=PURGE_JOB)
