"""Admin pages for the agent desktop's shared content: answer templates and wrap-up codes.
Plain forms posted with the CSRF token; the services check every value and their errors are
shown, translated, next to the field they name (see ``admin_pages`` for the conventions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds
from raccordo.desk.domain.templates import KNOWN_VARIABLES, LANGUAGES
from raccordo.desk.services import templates, wrapup
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import AnswerTemplate, RoutingQueue, WrapUpCode
from raccordo.platform.web.forms import FormDep, field_errors, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.records import get_owned

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _admin(me: Me) -> None:
    me.require(Permission.MANAGE_CONTENT)



# --- answer templates ------------------------------------------------------------------------------


def _template_values(form: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(form.get("name") or "").strip(),
        "shortcut": str(form.get("shortcut") or "").strip(),
        "body": str(form.get("body") or ""),
        "bodies": {key: str(form.get(f"body_{key}") or "") for key in variant_keys()},
        "active": str(form.get("active") or "") in ("1", "on", "true"),
    }


def variant_keys() -> list[str]:
    """The other versions the form offers: per language, then per installed channel (and language)."""
    return [*LANGUAGES, *(f"{channel}{suffix}" for channel in channel_kinds() for suffix in ("", *(f":{language}" for language in LANGUAGES)))]


def _templates_page(request: Request, me: Me, template: AnswerTemplate | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        rows = templates.list_templates(session, me.actor)
        if template is not None and values is None:
            values = {"name": template.name, "shortcut": template.shortcut, "body": template.body, "bodies": dict(template.bodies or {}), "active": template.active}
        values = values or {"name": "", "shortcut": "", "body": "", "bodies": {}, "active": True}
        return render(request, "admin/templates.html", base_context(
            me, nav="templates", templates=rows, template=template, v=values, errors=errors, languages=LANGUAGES, variables=KNOWN_VARIABLES, channels=channel_kinds(),
            saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/templates")
def templates_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _templates_page(request, me, None, None, {})


@router.get("/admin/templates/{template_id}")
def template_edit_page(template_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        template = get_owned(session, AnswerTemplate, me.actor.tenant_id, template_id)
    return _templates_page(request, me, template, None, {})


def _save_template(request: Request, me: Me, form: dict[str, Any], template_id: int | None) -> Response:
    _admin(me)
    values = _template_values(form)
    try:
        with unit_of_work(runtime(request).sessions) as session:
            if template_id is None:
                saved_id = templates.create_template(session, me.actor, values).id
            else:
                saved_id = templates.update_template(session, me.actor, template_id, values).id
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = field_errors(exc, me.lang)
        if "bodies" in errors:
            key = (exc.field or "").partition(".")[2]
            errors["body_" + key if key else "body"] = errors.pop("bodies")
        current = None
        if template_id is not None:
            with unit_of_work(runtime(request).sessions) as session:
                current = get_owned(session, AnswerTemplate, me.actor.tenant_id, template_id)
        return _templates_page(request, me, current, values, errors, 422)
    return saved_redirect(f"/admin/templates/{saved_id}")


@router.post("/admin/templates")
def template_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_template(request, me, form, None)


@router.post("/admin/templates/{template_id}")
def template_update(template_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, AnswerTemplate, me.actor.tenant_id, template_id)
    return _save_template(request, me, form, template_id)


@router.post("/admin/templates/{template_id}/delete")
def template_delete(template_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        templates.delete_template(session, me.actor, template_id)
    return saved_redirect("/admin/templates")


# --- wrap-up codes ---------------------------------------------------------------------------------


def _codes_page(request: Request, me: Me, code: WrapUpCode | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        rows = wrapup.list_codes(session, me.actor)
        queues = [q.name for q in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == me.actor.tenant_id, RoutingQueue.requires_wrap_up.is_(True)).order_by(RoutingQueue.name))]
    if code is not None and values is None:
        values = {"code": code.code, "label": code.label, "active": code.active}
    values = values or {"code": "", "label": "", "active": True}
    return render(request, "admin/wrapup.html", base_context(
        me, nav="wrapup", codes=rows, code=code, v=values, errors=errors, requiring=queues, saved=request.query_params.get("saved"),
    ), status_code=status)


@router.get("/admin/wrap-up-codes")
def codes_page(request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    return _codes_page(request, me, None, None, {})


@router.get("/admin/wrap-up-codes/{code_id}")
def code_edit_page(code_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        code = get_owned(session, WrapUpCode, me.actor.tenant_id, code_id)
    return _codes_page(request, me, code, None, {})


def _save_code(request: Request, me: Me, form: dict[str, Any], code_id: int | None) -> Response:
    _admin(me)
    values = {"code": str(form.get("code") or "").strip(), "label": str(form.get("label") or "").strip(), "active": str(form.get("active") or "") in ("1", "on", "true")}
    try:
        with unit_of_work(runtime(request).sessions) as session:
            if code_id is None:
                saved_id = wrapup.create_code(session, me.actor, values).id
            else:
                saved_id = wrapup.update_code(session, me.actor, code_id, values).id
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        current = None
        if code_id is not None:
            with unit_of_work(runtime(request).sessions) as session:
                current = get_owned(session, WrapUpCode, me.actor.tenant_id, code_id)
        return _codes_page(request, me, current, values, field_errors(exc, me.lang), 422)
    return saved_redirect(f"/admin/wrap-up-codes/{saved_id}")


@router.post("/admin/wrap-up-codes")
def code_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_code(request, me, form, None)


@router.post("/admin/wrap-up-codes/{code_id}")
def code_update(code_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        get_owned(session, WrapUpCode, me.actor.tenant_id, code_id)
    return _save_code(request, me, form, code_id)


@router.post("/admin/wrap-up-codes/{code_id}/delete")
def code_delete(code_id: int, request: Request, me: Me = MeDep) -> Response:
    _admin(me)
    with unit_of_work(runtime(request).sessions) as session:
        wrapup.delete_code(session, me.actor, code_id)
    return saved_redirect("/admin/wrap-up-codes")
