"""Signing in and out, and who sent a request: the one session and CSRF check of the API and the
pages. Each use case opens its own unit of work and answers plain data; the entrypoints only read
the request (``accounts.api.deps``) and set or clear the cookies."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import LoginSession, Tenant, User
from raccordo.accounts.services import login_sessions, tokens
from raccordo.platform.errors import Forbidden, Unauthorized
from raccordo.platform.hours import tenant_zone
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class Credentials:
    """What a request offers to say who sent it, as the entrypoint read it."""

    authorization: str  # the Authorization header; "" without one, or where a Bearer token is not taken
    session_token: str | None  # the session cookie
    csrf_sent: str  # the X-CSRF-Token header, or the pages' form field
    changes_state: bool  # not GET, HEAD or OPTIONS: the login session's CSRF token must come with it
    client_address: str | None


@dataclass(frozen=True)
class SignedIn:
    """Who sent a request. A login session (the cookie) gives its id and CSRF token; a Bearer
    token neither."""

    actor: Actor
    name: str
    email: str
    login_session_id: int | None
    csrf_token: str | None


@dataclass(frozen=True)
class PageSession:
    """The signed-in user of a page (always a login session's), with their organization's name and
    time zone (every time on the desktop is shown in it)."""

    actor: Actor
    name: str
    email: str
    login_session_id: int
    csrf_token: str
    tenant_name: str
    timezone: str


@dataclass(frozen=True)
class Opened:
    """A new login session: the cookie's token (shown this once), its CSRF token, the user's columns."""

    token: str
    csrf_token: str
    user: Any
    expires_at: datetime


def _check(session: Session, credentials: Credentials) -> tuple[User, LoginSession | None]:
    """A Bearer token (API only: a browser never sends one by itself, so it needs no CSRF token)
    names its user. Otherwise the session cookie must name a live session (``auth.required``
    without one, ``auth.session_expired`` when it ended), and every request that changes state must
    carry that session's CSRF token, compared in constant time (``auth.csrf_failed``)."""
    if credentials.authorization:
        scheme, _, token = credentials.authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("auth.bad_scheme")
        user = tokens.token_user(session, token.strip())
        if user is None:
            raise Unauthorized("auth.token_invalid")
        return user, None
    if not credentials.session_token:
        raise Unauthorized("auth.required")
    found = login_sessions.session_user(session, credentials.session_token)
    if found is None:
        raise Unauthorized("auth.session_expired")
    user, login_session = found
    sent = credentials.csrf_sent
    if credentials.changes_state and not (
        sent and hmac.compare_digest(sent.encode(), login_session.csrf_token.encode())
    ):
        raise Forbidden("auth.csrf_failed")
    return user, login_session


def _actor(user: User, credentials: Credentials) -> Actor:
    return Actor(
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=Role(user.role),
        language=user.language,
        client_address=credentials.client_address,
    )


def authenticate(sessions: Sessions, credentials: Credentials) -> SignedIn:
    """The API's check (``_check``): the user who sent the request."""
    with unit_of_work(sessions) as session:
        user, login_session = _check(session, credentials)
        return SignedIn(
            _actor(user, credentials),
            user.name,
            user.email,
            login_session.id if login_session else None,
            login_session.csrf_token if login_session else None,
        )


def page_session(sessions: Sessions, credentials: Credentials) -> PageSession:
    """The pages' check: the same one (``_check``), for a login session only (a page is for a
    browser, so it is given no Authorization header), read with the organization."""
    with unit_of_work(sessions) as session:
        user, login_session = _check(session, credentials)
        if login_session is None:
            raise Unauthorized("auth.required")
        tenant = session.get_one(Tenant, user.tenant_id)
        return PageSession(
            _actor(user, credentials),
            user.name,
            user.email,
            login_session.id,
            login_session.csrf_token,
            tenant.name,
            tenant_zone(tenant.settings).key,
        )


def log_in(
    sessions: Sessions,
    *,
    email: str,
    password: str,
    tenant_slug: str | None,
    client_address: str | None,
    max_failures: int,
    window_seconds: int,
    session_hours: int,
    account_max_failures: int,
) -> Opened:
    """A new login session (``login_sessions.login``: its limits and answers), committed; a refused
    login's failures are committed by ``login_sessions.login`` before it raises, so they count anyway."""
    with unit_of_work(sessions) as session:
        new = login_sessions.login(
            session,
            email=email,
            password=password,
            tenant_slug=tenant_slug,
            client_address=client_address,
            max_failures=max_failures,
            window_seconds=window_seconds,
            session_hours=session_hours,
            account_max_failures=account_max_failures,
        )
        session.flush()
        return Opened(new.token, new.csrf_token, plain(new.user), new.expires_at)


def log_out(sessions: Sessions, token: str) -> None:
    with unit_of_work(sessions) as session:
        login_sessions.logout(session, token)
