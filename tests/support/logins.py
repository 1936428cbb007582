"""Logins for the authentication tests: failed attempts in a row (each must be refused with 401),
a user added with a chosen email and password (the same email may be in several organizations),
and the login use case called without HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.services import login_sessions, users
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

WRONG_PASSWORD = "a wrong guess!"


def fail_logins(attempt: Callable[[str, str], int], times: int, email: str | None = None) -> None:
    """``times`` logins with a wrong password through ``attempt(email, password) -> status``, each
    refused with 401: all as ``email``, or without one as a new unknown email each time (so that
    only the client address's limit counts them)."""
    for index in range(times):
        who = email or f"guess-{index}-{uuid.uuid4().hex[:6]}@example.com"
        status = attempt(who, WRONG_PASSWORD)
        assert status == 401, f"attempt {index + 1} of {times} as {who}: {status}, not 401"


def add_agent(rt: Runtime, tenant_id: int, email: str, password: str | None, name: str = "Shared") -> int:
    """An agent of the organization ``tenant_id`` (None: no password yet); its id."""
    with unit_of_work(rt.sessions) as session:
        user = users.create_user(
            session, system_actor(tenant_id), email=email, name=name, role="agent", password=password, language="en"
        )
        return user.id


def log_in_directly(
    rt: Runtime, email: str, password: str, client_address: str, account_max_failures: int = 50
) -> None:
    """The login use case itself, without HTTP (5 failures per account and address, a 15-minute
    window); it raises what a refused login raises."""
    with unit_of_work(rt.sessions) as session:
        login_sessions.login(
            session,
            email=email,
            password=password,
            tenant_slug=None,
            client_address=client_address,
            max_failures=5,
            window_seconds=900,
            session_hours=1,
            account_max_failures=account_max_failures,
        )
