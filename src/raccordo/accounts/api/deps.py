"""Request dependencies: the runtime, and the one authentication of the API and the pages (session
cookie + CSRF token, or Bearer token); logging in and out."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import LoginSession, User
from raccordo.accounts.services import accounts, profile
from raccordo.platform.errors import Forbidden, Unauthorized
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

SESSION_COOKIE = "raccordo_session"
CSRF_COOKIE = "raccordo_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@contextmanager
def transaction(request: Request) -> Iterator[Session]:
    with unit_of_work(runtime(request).sessions) as session:
        yield session


def cookie_secure(request: Request) -> bool:
    """Secure cookies when configured, or when the request came over HTTPS (directly, or through a
    trusted proxy's X-Forwarded-Proto: see ``RACCORDO_TRUSTED_PROXIES``)."""
    return runtime(request).settings.cookie_secure or request.url.scheme == "https"


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Authenticated:
    """Who sent a request: the user, and the login session when it came with the session cookie
    (None for a Bearer token)."""

    user: User
    login_session: LoginSession | None

    def actor(self, request: Request) -> Actor:
        user = self.user
        return Actor(
            tenant_id=user.tenant_id,
            user_id=user.id,
            role=Role(user.role),
            language=user.language,
            client_address=client_address(request),
        )


def authenticate(request: Request, session: Session, *, csrf_sent: str, allow_bearer: bool = True) -> Authenticated:
    """The one session and CSRF check of the API and the pages (the pages wrap it into ``Me``).

    A Bearer token (API only: a browser never sends one by itself, so it needs no CSRF token)
    names its user. Otherwise the session cookie must name a live session (``auth.required``
    without one, ``auth.session_expired`` when it ended), and every unsafe method must carry that
    session's CSRF token (``csrf_sent``: the ``X-CSRF-Token`` header, or the pages' form field),
    compared in constant time (``auth.csrf_failed``)."""
    authorization = request.headers.get("authorization", "") if allow_bearer else ""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("auth.bad_scheme")
        user = accounts.token_user(session, token.strip())
        if user is None:
            raise Unauthorized("auth.token_invalid")
        found = Authenticated(user, None)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthorized("auth.required")
        row = accounts.session_user(session, cookie)
        if row is None:
            raise Unauthorized("auth.session_expired")
        found = Authenticated(*row)
        if request.method not in _SAFE and not (
            csrf_sent and hmac.compare_digest(csrf_sent.encode(), found.login_session.csrf_token.encode())
        ):  # type: ignore[union-attr]
            raise Forbidden("auth.csrf_failed")
    request.state.language = found.user.language
    return found


def current_actor(request: Request) -> Actor:
    with unit_of_work(runtime(request).sessions) as session:
        return authenticate(request, session, csrf_sent=request.headers.get(CSRF_HEADER, "")).actor(request)


ActorDep = Depends(current_actor)


# --- opening and closing a login session (the API's and the login page's) --------------------------


def log_in(request: Request, *, email: str, password: str, tenant: str | None) -> accounts.NewSession:
    """The one login of the API and the login page: the same limits, the same answers."""
    settings = runtime(request).settings
    return profile.log_in(
        runtime(request).sessions,
        email=email,
        password=password,
        tenant_slug=tenant or None,
        client_address=client_address(request),
        max_failures=settings.login_max_failures,
        window_seconds=settings.login_window_seconds,
        session_hours=settings.session_hours,
        account_max_failures=settings.login_account_max_failures,
    )


def set_session_cookies(request: Request, response: Response, new: accounts.NewSession) -> None:
    max_age = runtime(request).settings.session_hours * 3600
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        new.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=cookie_secure(request),
        path="/",
    )


def log_out(request: Request, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        profile.log_out(runtime(request).sessions, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
