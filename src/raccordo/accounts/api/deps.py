"""Request dependencies: the runtime, the authenticated actor (session cookie or Bearer token), CSRF."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
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


def current_actor(request: Request) -> Actor:
    rt = runtime(request)
    authorization = request.headers.get("authorization", "")
    with unit_of_work(rt.sessions) as session:
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized("auth.bad_scheme")
            user = accounts.token_user(session, token.strip())
            if user is None:
                raise Unauthorized("auth.token_invalid")
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            if not cookie:
                raise Unauthorized("auth.required")
            found = accounts.session_user(session, cookie)
            if found is None:
                raise Unauthorized("auth.session_expired")
            user, login_session = found
            if request.method not in _SAFE:
                sent = request.headers.get(CSRF_HEADER, "")
                if not sent or not hmac.compare_digest(sent, login_session.csrf_token):
                    raise Forbidden("auth.csrf_failed")
        request.state.language = user.language
        return Actor(tenant_id=user.tenant_id, user_id=user.id, role=Role(user.role), language=user.language, client_address=client_address(request))


ActorDep = Depends(current_actor)
