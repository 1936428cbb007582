"""Who is logged in, for the pages: the session cookie read into ``Me`` (the actor and what the
templates show), and the CSRF check on every unsafe request. The API's bearer/cookie check is
``accounts.api.deps``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import SESSION_COOKIE, client_address, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, Role, can
from raccordo.accounts.services import accounts
from raccordo.platform.errors import Forbidden
from raccordo.platform.hours import DEFAULT_TIMEZONE, tenant_zone
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Tenant
from raccordo.platform.web.forms import SAFE_METHODS, form_data
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

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def lang(self) -> str:
        return self.actor.language or "en"

    @property
    def can_supervise(self) -> bool:
        return can(self.actor.role, Permission.VIEW_LIVE)

    @property
    def can_admin(self) -> bool:
        return can(self.actor.role, Permission.MANAGE_ROUTING)

    def require(self, permission: Permission) -> None:
        if not can(self.actor.role, permission):
            raise Forbidden("ui.error.forbidden_page")


def find_session(request: Request) -> Me | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with unit_of_work(runtime(request).sessions) as session:
        found = accounts.session_user(session, cookie)
        if found is None:
            return None
        user, login_session = found
        tenant = session.get_one(Tenant, user.tenant_id)
        actor = Actor(tenant_id=user.tenant_id, user_id=user.id, role=Role(user.role), language=user.language, client_address=client_address(request))
        return Me(actor, user.name, user.email, login_session.csrf_token, tenant.name, tenant_zone(tenant.settings).key)


async def current_me(request: Request, form: dict[str, Any] = Depends(form_data)) -> Me:
    me = await run_in_threadpool(find_session, request)
    if me is None:
        raise LoginRequired()
    request.state.language = me.lang
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent, me.csrf):
            raise CsrfFailed()
    return me



MeDep = Depends(current_me)
