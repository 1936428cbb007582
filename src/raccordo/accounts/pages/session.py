"""Who is logged in, for the pages: the API's session and CSRF check
(``accounts.services.authentication``, which takes only the session cookie here) read into ``Me``
(the actor and what the templates show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import CSRF_HEADER, credentials, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.accounts.services import authentication
from raccordo.platform.errors import Forbidden, Unauthorized
from raccordo.platform.hours import DEFAULT_TIMEZONE
from raccordo.platform.web.forms import form_data
from raccordo.platform.web.pages import CsrfFailed, LoginRequired


@dataclass
class Me:
    """The logged-in user as the pages need them."""

    actor: Actor
    name: str
    email: str
    csrf: str
    tenant_name: str
    timezone: str = DEFAULT_TIMEZONE  # the organization's: every time on the desktop is shown in it
    # The desktop's language, the user's. A field, not a property: the page kernel's ``PageUser``
    # and ``AdminUser`` protocols declare it as an attribute.
    lang: str = field(init=False)

    def __post_init__(self) -> None:
        self.lang = self.actor.language or "en"

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def can_supervise(self) -> bool:
        return can(self.actor.role, Permission.VIEW_LIVE)

    @property
    def can_admin(self) -> bool:
        return can(self.actor.role, Permission.MANAGE_ROUTING)

    def require(self, permission: Permission) -> None:
        if not can(self.actor.role, permission):
            raise Forbidden("ui.error.forbidden_page")


def _resolve_me(request: Request, csrf_sent: str) -> Me:
    found = authentication.page_session(
        runtime(request).sessions, credentials(request, csrf_sent=csrf_sent, allow_bearer=False)
    )
    request.state.language = found.actor.language
    return Me(found.actor, found.name, found.email, found.csrf_token, found.tenant_name, found.timezone)


def find_session(request: Request) -> Me | None:
    """The logged-in user of a safe request (the login page sends them on), None without one."""
    try:
        return _resolve_me(request, "")
    except (Unauthorized, Forbidden):
        return None


async def current_me(request: Request, form: dict[str, Any] = Depends(form_data)) -> Me:
    """The API's authentication (``accounts.services.authentication``), read into ``Me``: no or an
    ended session redirects to the login page, a missing or wrong CSRF token (the header htmx
    sends, or the plain form's ``csrf_token`` field) answers the 403 page."""
    sent = request.headers.get(CSRF_HEADER) or str(form.get("csrf_token") or "")
    try:
        return await run_in_threadpool(_resolve_me, request, sent)
    except Unauthorized:
        raise LoginRequired() from None
    except Forbidden:
        raise CsrfFailed() from None


MeDep = Depends(current_me)
