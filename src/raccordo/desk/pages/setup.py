"""Admin setup pages: side-panel apps (users and teams are in ``accounts.pages.admin``, inboxes in
``channels.pages.inboxes``). Plain forms posted with the CSRF token; the same
services as the API check every value and their errors are shown, translated, next to the field
they name (see ``admin_pages`` for the conventions). Secrets are write-only: a password field is
never filled back, a generated secret (an inbox's HMAC secret, an app's signing secret) is shown
once, on the page that answers the form that created it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.services import inboxes
from raccordo.desk.domain.side_panel import SHAREABLE, app_origin
from raccordo.desk.services import side_panel_apps
from raccordo.platform.errors import Forbidden, NotFound, RaccordoError
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import SidePanelApp
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.records import get_owned
from raccordo.routing.services import admin as routing_admin

router = APIRouter(route_class=PageRoute, include_in_schema=False)




def _errors(exc: RaccordoError, lang: str, fields: set[str]) -> dict[str, str]:
    """A service error next to its form field: ``settings.imap_port`` and ``secrets.imap_password``
    go to that field, ``settings.allowed_origins.2`` to ``allowed_origins``; anything else on top."""
    parts = (exc.field or "").split(".")
    if parts[0] in ("settings", "secrets") and len(parts) > 1:
        parts = parts[1:]
    name = parts[0]
    if name == "colors" and len(parts) > 1:
        name = f"color_{parts[1]}"
    return {name if name in fields else "_form": error_message(exc, lang)}


# --- side-panel apps -------------------------------------------------------------------------------


APP_FIELDS = {"name", "url", "position", "share", "inbox_ids", "queue_ids"}


def _apps_page(request: Request, me: Me, *, app: SidePanelApp | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200, secret: str | None = None) -> Response:
    with unit_of_work(runtime(request).sessions) as session:
        apps = side_panel_apps.list_apps(session, me.actor)
        if app is not None:
            app = get_owned(session, SidePanelApp, me.actor.tenant_id, app.id)
            if values is None:
                values = {"name": app.name, "url": app.url, "active": app.active, "position": app.position, "share": list(app.share or []), "inbox_ids": list(app.inbox_ids or []), "queue_ids": list(app.queue_ids or [])}
        values = values or {"name": "", "url": "", "active": True, "position": 0, "share": list(side_panel_apps.DEFAULT_SHARE), "inbox_ids": [], "queue_ids": []}
        return render(request, "admin/setup_apps.html", base_context(
            me, nav="admin-apps", apps=apps, app=app, v=values, errors=errors, shareable=SHAREABLE, origins={a.id: app_origin(a.url) for a in apps},
            all_inboxes=inboxes.list_inboxes(session, me.actor), queues=routing_admin.list_queues(session, me.actor), secret=secret, saved=request.query_params.get("saved"),
        ), status_code=status)


@router.get("/admin/apps")
def apps_page(request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    return _apps_page(request, me, app=None, values=None, errors={})


@router.get("/admin/apps/{app_id}")
def app_edit_page(app_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    with unit_of_work(runtime(request).sessions) as session:
        app = side_panel_apps.get_app(session, me.actor, app_id)
    return _apps_page(request, me, app=app, values=None, errors={})


def _save_app(request: Request, me: Me, form: dict[str, Any], app_id: int | None) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    rt = runtime(request)
    reader = FormReader(form, me.lang)
    raw_share = form.get("share") or []
    values = {
        "name": str(form.get("name") or "").strip(), "url": str(form.get("url") or "").strip(), "active": reader.checked("active"),
        "position": reader.integer("position", 0, 1000, 0), "share": raw_share if isinstance(raw_share, list) else [raw_share],
        "inbox_ids": reader.ids("inbox_ids"), "queue_ids": reader.ids("queue_ids"),
    }
    app = None
    try:
        if app_id is not None:
            with unit_of_work(rt.sessions) as session:
                app = side_panel_apps.get_app(session, me.actor, app_id)
        reader.done()
        with unit_of_work(rt.sessions) as session:
            if app_id is None:
                created, secret = side_panel_apps.create_app(session, rt.secretbox, me.actor, values)
                saved_id = created.id
            else:
                side_panel_apps.update_app(session, me.actor, app_id, values)
                saved_id, secret = app_id, None
    except FormErrors as exc:
        return _apps_page(request, me, app=app, values=values, errors=exc.errors, status=422)
    except NotFound as exc:
        if app_id is not None and exc.params.get("id") == app_id:
            raise
        return _apps_page(request, me, app=app, values=values, errors=_errors(exc, me.lang, APP_FIELDS), status=422)
    except Forbidden:
        raise
    except RaccordoError as exc:
        return _apps_page(request, me, app=app, values=values, errors=_errors(exc, me.lang, APP_FIELDS), status=422)
    if secret is None:
        return saved_redirect(f"/admin/apps/{saved_id}")
    with unit_of_work(rt.sessions) as session:
        app = side_panel_apps.get_app(session, me.actor, saved_id)
    return _apps_page(request, me, app=app, values=None, errors={}, status=201, secret=secret)


@router.post("/admin/apps")
def app_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_app(request, me, form, None)


@router.post("/admin/apps/{app_id}")
def app_update(app_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return _save_app(request, me, form, app_id)


@router.post("/admin/apps/{app_id}/rotate-secret")
def app_rotate(app_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    rt = runtime(request)
    with unit_of_work(rt.sessions) as session:
        secret = side_panel_apps.rotate_secret(session, rt.secretbox, me.actor, app_id)
        app = side_panel_apps.get_app(session, me.actor, app_id)
    return _apps_page(request, me, app=app, values=None, errors={}, secret=secret)


@router.post("/admin/apps/{app_id}/delete")
def app_delete(app_id: int, request: Request, me: Me = MeDep) -> Response:
    me.require(Permission.MANAGE_INBOXES)
    with unit_of_work(runtime(request).sessions) as session:
        side_panel_apps.delete_app(session, me.actor, app_id)
    return saved_redirect("/admin/apps")
