"""The page kernel: the route class every server-rendered page uses (a missing login redirects to
``/login``, a missing CSRF token, a forbidden action, another tenant's id or any service error
answer an HTML error page, never JSON), and the context every template gets.

An htmx request gets the error as a fragment aimed at the page's error region (``HX-Retarget:
#page-error``): htmx swaps no 4xx answer into its own target, so without it a deleted row or a
forbidden action would fail silently; desktop.js swaps an error answer that names a target."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from markupsafe import escape

from raccordo.platform.errors import RaccordoError, TooManyRequests
from raccordo.platform.i18n import pick_language, translate
from raccordo.platform.web.forms import error_message
from raccordo.platform.web.templating import render


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


class PageUser(Protocol):
    """What a page template needs of the logged-in user (``accounts`` provides it); read only."""

    @property
    def lang(self) -> str: ...

    @property
    def csrf(self) -> str: ...

    @property
    def timezone(self) -> str: ...


def page_language(request: Request) -> str:
    return getattr(request.state, "language", None) or pick_language(request.headers.get("accept-language"))


ERROR_REGION = "#page-error"


def error_page(request: Request, status: int, message: str) -> Response:
    lang = page_language(request)
    if request.headers.get("hx-request"):
        body = f'<p class="error" role="alert" data-status="{status}">{escape(message)}</p>'
        return HTMLResponse(body, status_code=status, headers={"HX-Retarget": ERROR_REGION, "HX-Reswap": "innerHTML"})
    title = translate(
        {403: "ui.error.forbidden_title", 404: "ui.error.not_found_title"}.get(status, "ui.error.title"), lang
    )
    return render(
        request, "error.html", {"lang": lang, "status": status, "title": title, "message": message}, status_code=status
    )


class PageRoute(APIRoute):
    """Routes answering HTML on errors: login redirects, 403 and 404 pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                if request.headers.get("hx-request"):
                    return Response(status_code=204, headers={"HX-Redirect": "/login"})
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            except CsrfFailed:
                return error_page(request, 403, translate("ui.error.csrf", page_language(request)))
            except RaccordoError as exc:
                response = error_page(request, exc.status, error_message(exc, page_language(request)))
                if isinstance(exc, TooManyRequests):
                    response.headers["Retry-After"] = str(exc.retry_after)
                return response

        return handler


def base_context(me: PageUser, **values: Any) -> dict[str, Any]:
    return {"me": me, "lang": me.lang, "csrf_token": me.csrf, "zone": ZoneInfo(me.timezone), **values}
