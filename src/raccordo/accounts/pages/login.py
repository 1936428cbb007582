"""The login and logout pages: a login form with its own CSRF cookie, the session cookies set
on success, and a safe ``next`` target (a path on this site only)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import CSRF_COOKIE, SESSION_COOKIE, client_address, cookie_secure, runtime
from raccordo.accounts.pages.session import Me, MeDep, find_session
from raccordo.accounts.services import accounts
from raccordo.platform.errors import RaccordoError
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.web.forms import FormDep
from raccordo.platform.web.pages import PageRoute, page_language
from raccordo.platform.web.templating import render

LOGIN_CSRF_COOKIE = "raccordo_login_csrf"

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/inbox"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    if await run_in_threadpool(find_session, request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next, {}, status=200)


def _login_form(request: Request, next_url: str | None, errors: dict[str, str], *, status: int, email: str = "", tenant: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"lang": page_language(request), "login_csrf": token, "next": _safe_next(next_url), "errors": errors, "email": email, "tenant": tenant}, status_code=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=cookie_secure(request), path="/login")
    return response


@router.post("/login")
def login_submit(request: Request, form: dict[str, Any] = FormDep) -> Response:
    settings = runtime(request).settings
    lang = page_language(request)
    email, tenant = str(form.get("email") or "").strip(), str(form.get("tenant") or "").strip()
    sent, expected = str(form.get("login_csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_form(request, form.get("next"), {"_form": translate("ui.login.expired_form", lang)}, status=403, email=email, tenant=tenant)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            new = accounts.login(
                session, email=email, password=str(form.get("password") or ""), tenant_slug=tenant or None, client_address=client_address(request),
                max_failures=settings.login_max_failures, window_seconds=settings.login_window_seconds, session_hours=settings.session_hours,
            )
    except RaccordoError as exc:
        request.state.language = lang
        return _login_form(request, form.get("next"), {"_form": translate(exc.key, lang, **exc.params)}, status=exc.status, email=email, tenant=tenant)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    max_age = settings.session_hours * 3600
    response.set_cookie(SESSION_COOKIE, new.token, max_age=max_age, httponly=True, samesite="lax", secure=cookie_secure(request), path="/")
    response.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, samesite="strict", secure=cookie_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, me: Me = MeDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with unit_of_work(runtime(request).sessions) as session:
            accounts.logout(session, token)
    response = RedirectResponse("/login", status_code=303)
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
