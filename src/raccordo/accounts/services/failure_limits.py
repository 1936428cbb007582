"""The counters of failed password checks (logins, and one's own password change): refusing
once a key has too many failures in its window, and counting a failure so that it lasts."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.models import LoginAttempt
from raccordo.platform.errors import TooManyRequests

PASSWORD_CHANGE_FAILURES = 5
PASSWORD_CHANGE_WINDOW = timedelta(minutes=15)


def enforce(session: Session, keys: list[tuple[str, int]], window: timedelta, now: datetime) -> None:
    """``login.rate_limited`` (with the seconds until the oldest failure leaves the window) when
    any key has its allowed number of failures already."""
    since = now - window
    for key, allowed in keys:
        failures = (
            session.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(LoginAttempt.key == key, LoginAttempt.attempted_at > since)
            )
            or 0
        )
        if failures >= allowed:
            oldest = session.scalar(
                select(func.min(LoginAttempt.attempted_at)).where(
                    LoginAttempt.key == key, LoginAttempt.attempted_at > since
                )
            )
            retry = int(((oldest or now) + window - now).total_seconds()) + 1
            raise TooManyRequests("login.rate_limited", retry_after=max(1, retry))


def record_failures(session: Session, keys: list[str], now: datetime, window: timedelta) -> None:
    """Counts a failure under each key, committed at once (the caller raises, and the failure must
    count anyway); rows older than every window are dropped, so the table stays small."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - max(window, PASSWORD_CHANGE_WINDOW)))
    session.add_all(LoginAttempt(key=key, attempted_at=now) for key in keys)
    session.commit()


def clear(session: Session, key: str) -> None:
    """A success forgets the key's failures."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))


def account_keys(tenant_slug: str, email: str, address: str) -> tuple[str, str]:
    """The counters of one account (organization + email): from every address, and from this one.
    The email is digested: the table then holds no address book, and any length fits the column."""
    account = f"acct:{tenant_slug}:{hashlib.sha256(email.encode()).hexdigest()[:32]}"
    return account, f"{account}|addr:{address}"
