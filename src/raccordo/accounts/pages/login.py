"""The login and logout pages: a login form with its own CSRF cookie, the session cookies set
on success, and a safe ``next`` target (a path on this site only)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import cookie_secure, log_in, log_out, set_session_cookies
from raccordo.accounts.pages.session import Me, MeDep, find_session
from raccordo.platform.errors import RaccordoError
from raccordo.platform.i18n import translate
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
async def login_page(request: Request, next: str | None = None) -> Response:
    if await run_in_threadpool(find_session, request):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next, {}, status=200)


def _login_form(
    request: Request, next_url: str | None, errors: dict[str, str], *, status: int, email: str = "", tenant: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "lang": page_language(request),
            "login_csrf": token,
            "next": _safe_next(next_url),
            "errors": errors,
            "email": email,
            "tenant": tenant,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/login",
    )
    return response


@router.post("/login")
def login_submit(request: Request, form: dict[str, Any] = FormDep) -> Response:
    lang = page_language(request)
    email, tenant = str(form.get("email") or "").strip(), str(form.get("tenant") or "").strip()
    sent, expected = str(form.get("login_csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_form(
            request,
            form.get("next"),
            {"_form": translate("ui.login.expired_form", lang)},
            status=403,
            email=email,
            tenant=tenant,
        )
    try:
        new = log_in(request, email=email, password=str(form.get("password") or ""), tenant=tenant)
    except RaccordoError as exc:
        request.state.language = lang
        response = _login_form(
            request,
            form.get("next"),
            {"_form": translate(exc.key, lang, **exc.params)},
            status=exc.status,
            email=email,
            tenant=tenant,
        )
        if "retry_after" in exc.params:
            response.headers["Retry-After"] = str(exc.params["retry_after"])
        return response
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    set_session_cookies(request, response, new)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, me: Me = MeDep) -> Response:
    response: Response = RedirectResponse("/login", status_code=303)
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    log_out(request, response)
    return response
