"""The signed-in user's own profile: name, language of the desktop, password.

Every role has it (agents included): the language switch of the issue is per user, and the
password change asks for the current password (``accounts.services.users.change_own_password``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from raccordo.accounts.api.deps import SESSION_COOKIE, runtime
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import profile
from raccordo.platform.errors import RaccordoError
from raccordo.platform.i18n import LANGUAGES
from raccordo.platform.web.forms import FormDep, field_errors
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _page(
    request: Request,
    me: Me,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or {"name": me.name, "language": me.lang}
    return render(
        request,
        "profile.html",
        base_context(
            me,
            nav="profile",
            v=values,
            errors=errors or {},
            languages=LANGUAGES,
            saved=request.query_params.get("saved"),
        ),
        status_code=status,
    )


@router.get("/me")
def profile_page(request: Request, me: Me = MeDep) -> Response:
    return _page(request, me)


@router.post("/me")
def profile_save(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    values = {"name": str(form.get("name") or "").strip(), "language": str(form.get("language") or "")}
    try:
        profile.update_profile(runtime(request).sessions, me.actor, name=values["name"], language=values["language"])
    except RaccordoError as exc:
        return _page(request, me, values=values, errors=field_errors(exc, me.lang), status=422)
    return RedirectResponse("/me?saved=profile", status_code=303)


@router.post("/me/password")
def password_save(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    try:
        profile.change_own_password(
            runtime(request).sessions,
            me.actor,
            current_password=str(form.get("current_password") or ""),
            new_password=str(form.get("new_password") or ""),
            keep_login_session=request.cookies.get(SESSION_COOKIE),
        )
    except RaccordoError as exc:
        return _page(request, me, errors=field_errors(exc, me.lang), status=exc.status if exc.status == 429 else 422)
    return RedirectResponse("/me?saved=password", status_code=303)
