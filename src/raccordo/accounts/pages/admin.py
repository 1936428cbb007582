"""Admin pages for users and roles, and for teams: each an ``AdminResource``
(platform/web/admin.py) whose use cases are ``accounts.services.admin``; the services check every
value and their errors are shown, translated, next to the field they name. A user's teams are
edited on the user's page too. A password field is never filled back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission, Role, can_grant
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import admin
from raccordo.platform.errors import NotFound, RaccordoError
from raccordo.platform.i18n import LANGUAGES, translate
from raccordo.platform.web.admin import AdminResource, Values
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, saved_redirect
from raccordo.platform.web.pages import PageRoute
from raccordo.platform.web.templating import register_templates

register_templates(Path(__file__).parents[1] / "templates")

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


def _errors(exc: RaccordoError, lang: str, fields: set[str]) -> dict[str, str]:
    """A service error next to the form field it names, or on top of the form."""
    name = (exc.field or "").split(".")[0]
    return {name if name in fields else "_form": error_message(exc, lang)}


# --- users -----------------------------------------------------------------------------------------


USER_FIELDS = {"name", "email", "role", "language", "password", "active", "team_ids"}


def _users_admin(me: Me) -> None:
    me.require(Permission.MANAGE_USERS)


def _users_page(request: Request, me: Me, user_id: int | None) -> Values:
    data = admin.users_view(_sessions(request), me.actor, user_id)
    row = data.get("row")
    return data | {
        "roles": [r.value for r in Role],
        "grantable": [r.value for r in Role if can_grant(me.role, r)],
        "languages": LANGUAGES,
        "editable": row is None or can_grant(me.role, Role(row.role)),
    }


def _read_user(reader: FormReader) -> Values:
    """The posted user; on an edit the email is not posted (it is the user's identity) and an
    empty role keeps the stored one."""
    return {
        "name": reader.text("name", required=True) or "",
        "email": reader.text("email") or "",
        "role": reader.text("role") or "",
        "language": reader.text("language") or "it",
        "active": reader.checked("active"),
        "team_ids": reader.ids("team_ids"),
        "password": str(reader.form.get("password") or "") or None,
    }


def _create_user(request: Request, me: Me, values: Values) -> int:
    password = values.pop("password")
    if not values["email"]:
        raise FormErrors({"email": translate("ui.error.required", me.lang)})
    return admin.create_user(_sessions(request), me.actor, values | {"role": values["role"] or "agent"}, password)


def _user_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    if exc.key == "identity.email_invalid":
        return {"email": error_message(exc, lang)}
    return _errors(exc, lang, USER_FIELDS)


users = AdminResource(
    path="/admin/users",
    kind="users",
    template="admin/setup_users.html",
    nav="admin-users",
    guard=_users_admin,
    row_name="user",
    page=_users_page,
    read=_read_user,
    create=_create_user,
    update=lambda request, me, user_id, values: admin.update_user(
        _sessions(request), me.actor, user_id, values, values.pop("password")
    ),
    defaults={"name": "", "email": "", "role": "agent", "language": "it", "active": True, "team_ids": []},
    errors_of=_user_errors,
    forbidden_field="role",
)


@router.post("/admin/users/{user_id}/active")
def user_active(user_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    """Deactivate or reactivate from the list (the last owner and oneself cannot be deactivated)."""
    _users_admin(me)
    try:
        admin.set_user_active(_sessions(request), me.actor, user_id, str(form.get("active") or "") == "1")
    except NotFound:
        raise
    except RaccordoError as exc:
        return users.render(request, me, None, None, {"_form": error_message(exc, me.lang)}, exc.status)
    return saved_redirect("/admin/users")


users.mount(router, MeDep)


# --- teams -----------------------------------------------------------------------------------------


TEAM_FIELDS = {"name", "description", "member_ids"}


def _teams_admin(me: Me) -> None:
    me.require(Permission.MANAGE_TEAMS)


def _read_team(reader: FormReader) -> Values:
    values = {
        "name": reader.text("name", required=True) or "",
        "description": str(reader.form.get("description") or "").strip(),
        "member_ids": reader.ids("member_ids"),
    }
    if len(values["name"]) > 200:
        reader.errors["name"] = translate("ui.setup.error.too_long", reader.lang, limit=200)
    return values


def _team_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    """A member that is not (or no longer) a user of the tenant is the members field's error."""
    if isinstance(exc, NotFound):
        return {"member_ids": error_message(exc, lang)}
    return _errors(exc, lang, TEAM_FIELDS)


teams = AdminResource(
    path="/admin/teams",
    kind="teams",
    template="admin/setup_teams.html",
    nav="admin-teams",
    guard=_teams_admin,
    row_name="team",
    page=lambda request, me, team_id: admin.teams_view(_sessions(request), me.actor, team_id),
    read=_read_team,
    create=lambda request, me, values: admin.save_team(_sessions(request), me.actor, None, values),
    update=lambda request, me, team_id, values: admin.save_team(_sessions(request), me.actor, team_id, values),
    delete=lambda request, me, team_id: admin.delete_team(_sessions(request), me.actor, team_id),
    defaults={"name": "", "description": "", "member_ids": []},
    errors_of=_team_errors,
)
teams.mount(router, MeDep)
