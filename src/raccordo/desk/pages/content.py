"""Admin pages for the agent desktop's shared content: answer templates, wrap-up codes and the
side-panel apps. Each is an ``AdminResource`` (platform/web/admin.py): this module reads the
form and names the use cases of ``desk.services.content``; the services check every value and
their errors are shown, translated, next to the field they name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds
from raccordo.desk.domain.side_panel import SHAREABLE
from raccordo.desk.domain.templates import KNOWN_VARIABLES, LANGUAGES
from raccordo.desk.services import content
from raccordo.desk.services.side_panel_apps import DEFAULT_SHARE
from raccordo.platform.errors import RaccordoError
from raccordo.platform.web.admin import AdminResource, Values
from raccordo.platform.web.forms import FormReader, error_message
from raccordo.platform.web.pages import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _content_admin(me: Me) -> None:
    me.require(Permission.MANAGE_CONTENT)


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


# --- answer templates ------------------------------------------------------------------------------


def variant_keys() -> list[str]:
    """The other versions the form offers: per language, then per installed channel (and language)."""
    return [
        *LANGUAGES,
        *(
            f"{channel}{suffix}"
            for channel in channel_kinds()
            for suffix in ("", *(f":{language}" for language in LANGUAGES))
        ),
    ]


def _template_values(reader: FormReader) -> Values:
    form = reader.form
    return {
        "name": str(form.get("name") or "").strip(),
        "shortcut": str(form.get("shortcut") or "").strip(),
        "body": str(form.get("body") or ""),
        "bodies": {key: str(form.get(f"body_{key}") or "") for key in variant_keys()},
        "active": reader.checked("active"),
    }


def _template_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    """A variant's error goes next to that variant's text box (``bodies.it`` to ``body_it``)."""
    field, _, key = (exc.field or "_form").partition(".")
    if field == "bodies":
        field = f"body_{key}" if key else "body"
    return {field: error_message(exc, lang)}


answer_templates = AdminResource(
    path="/admin/templates",
    kind="answer_templates",
    template="admin/templates.html",
    nav="templates",
    guard=_content_admin,
    row_name="template",
    page=lambda request, me, template_id: content.templates_view(_sessions(request), me.actor, template_id),
    read=_template_values,
    create=lambda request, me, values: content.save_template(_sessions(request), me.actor, None, values),
    update=lambda request, me, template_id, values: content.save_template(
        _sessions(request), me.actor, template_id, values
    ),
    delete=lambda request, me, template_id: content.delete_template(_sessions(request), me.actor, template_id),
    defaults={"name": "", "shortcut": "", "body": "", "bodies": {}, "active": True},
    view=lambda _: {"languages": LANGUAGES, "variables": KNOWN_VARIABLES, "channels": channel_kinds()},
    errors_of=_template_errors,
)


# --- wrap-up codes ---------------------------------------------------------------------------------

wrap_up_codes = AdminResource(
    path="/admin/wrap-up-codes",
    kind="wrap_up_codes",
    template="admin/wrapup.html",
    nav="wrapup",
    guard=_content_admin,
    row_name="code",
    page=lambda request, me, code_id: content.codes_view(_sessions(request), me.actor, code_id),
    read=lambda reader: {
        "code": (reader.text("code") or ""),
        "label": (reader.text("label") or ""),
        "active": reader.checked("active"),
    },
    create=lambda request, me, values: content.save_code(_sessions(request), me.actor, None, values),
    update=lambda request, me, code_id, values: content.save_code(_sessions(request), me.actor, code_id, values),
    delete=lambda request, me, code_id: content.delete_code(_sessions(request), me.actor, code_id),
    defaults={"code": "", "label": "", "active": True},
)


# --- side-panel apps -------------------------------------------------------------------------------

APP_FIELDS = {"name", "url", "position", "share", "inbox_ids", "queue_ids"}


def _apps_admin(me: Me) -> None:
    me.require(Permission.MANAGE_INBOXES)


def _app_values(reader: FormReader) -> Values:
    raw_share = reader.form.get("share") or []
    return {
        "name": str(reader.form.get("name") or "").strip(),
        "url": str(reader.form.get("url") or "").strip(),
        "active": reader.checked("active"),
        "position": reader.integer("position", 0, 1000, 0),
        "share": raw_share if isinstance(raw_share, list) else [raw_share],
        "inbox_ids": reader.ids("inbox_ids"),
        "queue_ids": reader.ids("queue_ids"),
    }


def _app_errors(exc: RaccordoError, lang: str) -> dict[str, str]:
    name = (exc.field or "").split(".")[0]
    return {name if name in APP_FIELDS else "_form": error_message(exc, lang)}


def _create_app(request: Request, me: Me, values: Values) -> Response:
    """The new app's page, 201, with its signing secret shown this once."""
    app, secret = content.create_app(_sessions(request), runtime(request).secretbox, me.actor, values)
    return apps.render(request, me, app.id, status=201, secret=secret)


apps = AdminResource(
    path="/admin/apps",
    kind="side_panel_apps",
    template="admin/setup_apps.html",
    nav="admin-apps",
    guard=_apps_admin,
    row_name="app",
    page=lambda request, me, app_id: content.apps_view(_sessions(request), me.actor, app_id),
    read=_app_values,
    create=_create_app,
    update=lambda request, me, app_id, values: content.update_app(_sessions(request), me.actor, app_id, values).id,
    delete=lambda request, me, app_id: content.delete_app(_sessions(request), me.actor, app_id),
    defaults={
        "name": "",
        "url": "",
        "active": True,
        "position": 0,
        "share": list(DEFAULT_SHARE),
        "inbox_ids": [],
        "queue_ids": [],
    },
    view=lambda _: {"shareable": SHAREABLE},
    errors_of=_app_errors,
)


@router.post("/admin/apps/{app_id}/rotate-secret")
def app_rotate(app_id: int, request: Request, me: Me = MeDep) -> Response:
    _apps_admin(me)
    secret = content.rotate_app_secret(_sessions(request), runtime(request).secretbox, me.actor, app_id)
    return apps.render(request, me, app_id, secret=secret)


for resource in (answer_templates, wrap_up_codes, apps):
    resource.mount(router, MeDep)
