"""Admin pages for users and roles, and for teams: plain forms posted with the CSRF token, checked
by the same services as the API (``accounts.services.accounts``), whose errors are shown,
translated, next to the field they name. A user's teams are edited on the user's page too. A
password field is never filled back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission, Role, can_grant
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.accounts.services import accounts
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.i18n import LANGUAGES, translate
from raccordo.platform.store.db import unit_of_work
from raccordo.accounts.models import Team, TeamMember, User
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import register_templates, render
from raccordo.record.services.records import get_owned

register_templates(Path(__file__).parents[1] / "templates")

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _errors(exc: RaccordoError, lang: str, fields: set[str]) -> dict[str, str]:
    """A service error next to the form field it names, or on top of the form."""
    name = (exc.field or "").split(".")[0]
    return {name if name in fields else "_form": error_message(exc, lang)}


# --- users -----------------------------------------------------------------------------------------


def _users_admin(me: Me) -> None:
    me.require(Permission.MANAGE_USERS)


def _grantable(me: Me) -> list[str]:
    return [r.value for r in Role if can_grant(me.role, r)]


def _teams_of(session: Any, tenant_id: int) -> tuple[list[Team], dict[int, set[int]]]:
    teams = list(session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.name)))
    members: dict[int, set[int]] = {}
    for team_id, user_id in session.execute(select(TeamMember.team_id, TeamMember.user_id).join(Team, Team.id == TeamMember.team_id).where(Team.tenant_id == tenant_id)).all():
        members.setdefault(user_id, set()).add(team_id)
    return teams, members


def _users_page(request: Request, me: Me, *, user: User | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        users = accounts.list_users(session, me.actor)
        teams, memberships = _teams_of(session, me.actor.tenant_id)
        team_names = {t.id: t.name for t in teams}
        if user is not None:
            user = get_owned(session, User, me.actor.tenant_id, user.id)
            if values is None:
                values = {"name": user.name, "email": user.email, "role": user.role, "language": user.language, "active": user.active, "team_ids": sorted(memberships.get(user.id, set()))}
        values = values or {"name": "", "email": "", "role": "agent", "language": "it", "active": True, "team_ids": []}
        return render(request, "admin/setup_users.html", base_context(
            me, nav="admin-users", users=users, user=user, v=values, errors=errors, roles=[r.value for r in Role], grantable=_grantable(me), languages=LANGUAGES,
            teams=teams, memberships=memberships, team_names=team_names, editable=user is None or can_grant(me.role, Role(user.role)), saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/users")
def users_page(request: Request, me: Me = MeDep) -> Response:
    _users_admin(me)
    return _users_page(request, me, user=None, values=None, errors={})


@router.get("/admin/users/{user_id}")
def user_edit_page(user_id: int, request: Request, me: Me = MeDep) -> Response:
    _users_admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        user = get_owned(session, User, me.actor.tenant_id, user_id)
    return _users_page(request, me, user=user, values=None, errors={})


def _set_user_teams(session: Any, me: Me, user_id: int, team_ids: list[int]) -> None:
    """Add the user to these teams and remove them from the others (the teams' other members stay)."""
    teams, memberships = _teams_of(session, me.actor.tenant_id)
    wanted = set(team_ids)
    for team_id in wanted:
        get_owned(session, Team, me.actor.tenant_id, team_id)
    for team in teams:
        members = {m.user_id for m in team.members}
        if (team.id in wanted) != (user_id in members):
            accounts.set_team_members(session, me.actor, team.id, sorted(members ^ {user_id}))


USER_FIELDS = {"name", "email", "role", "language", "password", "active", "team_ids"}


@router.post("/admin/users")
def user_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _users_admin(me)
    reader = FormReader(form, me.lang)
    values = {"name": reader.text("name", required=True) or "", "email": reader.text("email", required=True) or "", "role": reader.text("role") or "agent",
              "language": reader.text("language") or "it", "active": True, "team_ids": reader.ids("team_ids")}
    password = str(form.get("password") or "") or None
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            user = accounts.create_user(session, me.actor, email=values["email"], name=values["name"], role=values["role"], password=password, language=values["language"])
            _set_user_teams(session, me, user.id, values["team_ids"])
            user_id = user.id
    except FormErrors as exc:
        return _users_page(request, me, user=None, values=values, errors=exc.errors, status=422)
    except Forbidden as exc:
        return _users_page(request, me, user=None, values=values, errors={"role": error_message(exc, me.lang)}, status=403)
    except NotFound:
        raise
    except RaccordoError as exc:
        errors = {"email": error_message(exc, me.lang)} if exc.key == "identity.email_invalid" else _errors(exc, me.lang, USER_FIELDS)
        return _users_page(request, me, user=None, values=values, errors=errors, status=422)
    return saved_redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}")
def user_update(user_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _users_admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        user = get_owned(session, User, me.actor.tenant_id, user_id)
        email = user.email
    reader = FormReader(form, me.lang)
    values = {"name": reader.text("name", required=True) or "", "email": email, "role": reader.text("role") or "", "language": reader.text("language") or "it",
              "active": reader.checked("active"), "team_ids": reader.ids("team_ids")}
    password = str(form.get("password") or "") or None
    try:
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            current = get_owned(session, User, me.actor.tenant_id, user_id)
            accounts.update_user(session, me.actor, user_id, name=values["name"], role=values["role"] if values["role"] != current.role else None, language=values["language"],
                                 active=values["active"] if values["active"] != current.active else None, password=password)
            _set_user_teams(session, me, user_id, values["team_ids"])
    except FormErrors as exc:
        return _users_page(request, me, user=user, values=values, errors=exc.errors, status=422)
    except Forbidden as exc:
        return _users_page(request, me, user=user, values=values, errors={"role": error_message(exc, me.lang)}, status=403)
    except NotFound as exc:
        if exc.params.get("id") == user_id:
            raise
        return _users_page(request, me, user=user, values=values, errors=_errors(exc, me.lang, USER_FIELDS), status=422)
    except RaccordoError as exc:
        return _users_page(request, me, user=user, values=values, errors=_errors(exc, me.lang, USER_FIELDS), status=422)
    return saved_redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/active")
def user_active(user_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    """Deactivate or reactivate from the list (the last owner and oneself cannot be deactivated)."""
    _users_admin(me)
    active = str(form.get("active") or "") == "1"
    try:
        with unit_of_work(runtime(request).sessions) as session:
            accounts.update_user(session, me.actor, user_id, active=active)
    except NotFound:
        raise
    except RaccordoError as exc:
        return _users_page(request, me, user=None, values=None, errors={"_form": error_message(exc, me.lang)}, status=exc.status)
    return saved_redirect("/admin/users")


# --- teams -----------------------------------------------------------------------------------------


def _teams_admin(me: Me) -> None:
    me.require(Permission.MANAGE_TEAMS)


def _teams_page(request: Request, me: Me, *, team: Team | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        teams = list(session.scalars(select(Team).where(Team.tenant_id == me.actor.tenant_id).order_by(Team.name)))
        counts = {t.id: len(t.members) for t in teams}
        users = [u for u in accounts.list_users(session, me.actor) if u.active]
        if team is not None:
            team = get_owned(session, Team, me.actor.tenant_id, team.id)
            if values is None:
                values = {"name": team.name, "description": team.description or "", "member_ids": sorted(m.user_id for m in team.members)}
        values = values or {"name": "", "description": "", "member_ids": []}
        return render(request, "admin/setup_teams.html", base_context(
            me, nav="admin-teams", teams=teams, counts=counts, users=users, team=team, v=values, errors=errors, saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/teams")
def teams_page(request: Request, me: Me = MeDep) -> Response:
    _teams_admin(me)
    return _teams_page(request, me, team=None, values=None, errors={})


@router.get("/admin/teams/{team_id}")
def team_edit_page(team_id: int, request: Request, me: Me = MeDep) -> Response:
    _teams_admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        team = get_owned(session, Team, me.actor.tenant_id, team_id)
    return _teams_page(request, me, team=team, values=None, errors={})


def _save_team(request: Request, me: Me, form: dict[str, Any], team_id: int | None) -> Response:
    _teams_admin(me)
    reader = FormReader(form, me.lang)
    values = {"name": reader.text("name", required=True) or "", "description": str(form.get("description") or "").strip(), "member_ids": reader.ids("member_ids")}
    if len(values["name"]) > 200:
        reader.errors["name"] = translate("ui.setup.error.too_long", me.lang, limit=200)
    team = None
    try:
        if team_id is not None:
            with unit_of_work(runtime(request).sessions) as session:
                team = get_owned(session, Team, me.actor.tenant_id, team_id)
        reader.done()
        with unit_of_work(runtime(request).sessions) as session:
            if team_id is None:
                saved_id = accounts.create_team(session, me.actor, values["name"], values["description"], values["member_ids"]).id
            else:
                accounts.update_team(session, me.actor, team_id, name=values["name"], description=values["description"])
                accounts.set_team_members(session, me.actor, team_id, values["member_ids"])
                saved_id = team_id
    except FormErrors as exc:
        return _teams_page(request, me, team=team, values=values, errors=exc.errors, status=422)
    except (NotFound, Forbidden) as exc:
        if team_id is not None and isinstance(exc, NotFound) and exc.params.get("id") == team_id:
            raise
        if isinstance(exc, Forbidden):
            raise
        return _teams_page(request, me, team=team, values=values, errors={"member_ids": error_message(exc, me.lang)}, status=422)
    except RaccordoError as exc:
        return _teams_page(request, me, team=team, values=values, errors=_errors(exc, me.lang, {"name", "description", "member_ids"}), status=422)
    return saved_redirect(f"/admin/teams/{saved_id}")


@router.post("/admin/teams")
def team_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_team(request, me, form, None)


@router.post("/admin/teams/{team_id}")
def team_update(team_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_team(request, me, form, team_id)


@router.post("/admin/teams/{team_id}/delete")
def team_delete(team_id: int, request: Request, me: Me = MeDep) -> Response:
    _teams_admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        accounts.delete_team(session, me.actor, team_id)
    return saved_redirect("/admin/teams")
