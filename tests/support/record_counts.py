"""Counting a tenant's rows of one model, for the demo and export tests."""

from __future__ import annotations

from sqlalchemy import func, select


def count_rows(session, model, tenant_id: int, *conditions) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *conditions)) or 0
