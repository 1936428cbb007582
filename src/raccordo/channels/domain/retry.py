"""Reading a provider's "wait before retrying" answer. Pure.

Every HTTP provider says it the same way (RFC 9110 §10.2.3 ``Retry-After``: seconds, or an HTTP
date); channels pass the result to ``DeliveryError(retry_after=...)`` so the outbox waits at least
that long instead of hammering a provider that is rate limiting us.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value; ``None`` when absent or unreadable (never negative)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
