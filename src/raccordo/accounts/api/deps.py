"""Request dependencies: the runtime, and the one authentication of the API and the pages (session
cookie + CSRF token, or Bearer token; decided by ``accounts.services.authentication``); logging in
and out, with the cookies that carry the login session."""

from __future__ import annotations

from fastapi import Depends, Request, Response

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.services import authentication
from raccordo.platform.runtime import Runtime

SESSION_COOKIE = "raccordo_session"
CSRF_COOKIE = "raccordo_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def cookie_secure(request: Request) -> bool:
    """Secure cookies when configured, or when the request came over HTTPS (directly, or through a
    trusted proxy's X-Forwarded-Proto: see ``RACCORDO_TRUSTED_PROXIES``)."""
    return runtime(request).settings.cookie_secure or request.url.scheme == "https"


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def credentials(request: Request, *, csrf_sent: str, allow_bearer: bool = True) -> authentication.Credentials:
    """What the request offers to say who sent it (``csrf_sent``: the ``X-CSRF-Token`` header, or
    the pages' form field); a page passes ``allow_bearer=False`` (a page is for a browser)."""
    return authentication.Credentials(
        authorization=request.headers.get("authorization", "") if allow_bearer else "",
        session_token=request.cookies.get(SESSION_COOKIE),
        csrf_sent=csrf_sent,
        changes_state=request.method not in _SAFE,
        client_address=client_address(request),
    )


def authenticate(request: Request, *, csrf_sent: str) -> authentication.SignedIn:
    """The API's session and CSRF check (``authentication.authenticate``); the pages make the same
    check in ``accounts.pages.session``. The answers follow the user's language from here on."""
    found = authentication.authenticate(runtime(request).sessions, credentials(request, csrf_sent=csrf_sent))
    request.state.language = found.actor.language
    return found


def current_actor(request: Request) -> Actor:
    return authenticate(request, csrf_sent=request.headers.get(CSRF_HEADER, "")).actor


ActorDep = Depends(current_actor)


# --- opening and closing a login session (the API's and the login page's) --------------------------


def log_in(request: Request, *, email: str, password: str, tenant: str | None) -> authentication.Opened:
    """The one login of the API and the login page: the same limits, the same answers."""
    settings = runtime(request).settings
    return authentication.log_in(
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


def set_session_cookies(request: Request, response: Response, new: authentication.Opened) -> None:
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
        authentication.log_out(runtime(request).sessions, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
