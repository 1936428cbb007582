"""Admin inbox pages: an inbox's channel settings (the form the channel declares), the connection
check, business hours. Plain forms posted with the CSRF token; the same inbox service as the API
checks every value and its errors are shown, translated, next to the field they name. Secrets are
write-only: a password field is never filled back; a generated secret the integrator must copy
(the channel's ``settings_form.shown_once``) is shown once, on the page that answers the creation.

Every field, label, hint and choice comes from ``Channel.settings_form``; a channel that declares
no field gets its settings as one JSON text. Nothing here knows a channel by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import Channel, Feature, InboxConfig, channel_kinds, get_channel
from raccordo.channels.domain.settings_form import FieldKind, Label, SettingsField, SettingsForm, drop_path, write_path
from raccordo.channels.services import inbox_admin
from raccordo.channels.services.inboxes import webhook_url
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import translate
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, hours_fields, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import register_templates, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
register_templates(Path(__file__).resolve().parents[1] / "templates")

# The form of a channel that declares no field: its whole settings as JSON.
GENERIC_FORM = SettingsForm(
    fields=(
        SettingsField(
            "settings_json",
            Label("Settings (JSON)", "Impostazioni (JSON)"),
            FieldKind.JSON,
            hint=Label("As the channel's documentation describes", "Come descrive la documentazione del canale"),
        ),
    )
)


def channel_form(channel: str) -> SettingsForm:
    implementation = get_channel(channel)
    form = implementation.settings_form if implementation is not None else GENERIC_FORM
    return form if form.fields else GENERIC_FORM


def _errors(exc: RaccordoError, lang: str, form: SettingsForm) -> dict[str, str]:
    """A service error next to its form field (``settings.colors.primary`` is the field whose path
    that is); ``name`` and business hours to theirs; anything else on top of the form."""
    if (exc.key or "").startswith("hours."):
        return {"business_hours": error_message(exc, lang)}
    if exc.field == "name":
        return {"name": error_message(exc, lang)}
    return {form.field_for_error(exc.field) or "_form": error_message(exc, lang)}


def _form_values(settings: dict[str, Any], form: SettingsForm) -> dict[str, Any]:
    """What the form's fields show for stored settings (secrets: never)."""
    if form is GENERIC_FORM:
        return {"settings_json": json.dumps(settings, ensure_ascii=False, indent=1) if settings else ""}
    values = form.shown_values(settings)
    for item in form.fields:
        value = values[item.name]
        if item.kind == FieldKind.LINES:
            values[item.name] = "\n".join(value or [])
        elif item.kind == FieldKind.JSON:
            values[item.name] = json.dumps(value, ensure_ascii=False, indent=1) if value else ""
    return values


def _read_settings(
    reader: FormReader, form: SettingsForm, current: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(settings, secrets, what to show back) from the posted form; settings the form does not
    show are kept as they are, an empty secret field keeps the stored secret."""
    settings = json.loads(json.dumps(current))  # a deep copy: nested settings (colors) are edited in place
    secrets_: dict[str, str] = {}
    shown: dict[str, Any] = {}
    for item in form.fields:
        raw = str(reader.form.get(item.name) or "")
        shown[item.name] = "" if item.secret else raw
        text = raw.strip()
        if item.secret:
            if text:
                secrets_[item.name] = raw
            continue
        if item.kind == FieldKind.BOOLEAN:
            shown[item.name] = reader.checked(item.name)
            write_path(settings, item.where, reader.checked(item.name))
            continue
        if item.required and not text:
            reader.errors[item.name] = translate("ui.error.required", reader.lang)
            continue
        if form is GENERIC_FORM:
            parsed = reader.json(item.name, dict, None)
            settings = parsed if parsed is not None else ({} if not text else settings)
            continue
        value: Any = text or None
        if item.kind in (FieldKind.PORT, FieldKind.INTEGER):
            value = reader.integer(item.name, *((1, 65535) if item.kind == FieldKind.PORT else (-(2**53), 2**53)))
        elif item.kind == FieldKind.LINES:
            value = [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
        elif item.kind == FieldKind.JSON:
            value = reader.json(item.name, list if item.json_list else dict, None)
            if value is None and not text:
                value = [] if item.json_list else {}
            elif value is None:
                continue  # the reader recorded the error
        if value is None:
            drop_path(settings, item.where)
        else:
            write_path(settings, item.where, value)
    return settings, secrets_, shown


# --- pages -----------------------------------------------------------------------------------------


def _inbox_admin(me: Me) -> None:
    me.require(Permission.MANAGE_INBOXES)


def _inbox_page(
    request: Request,
    me: Me,
    *,
    inbox: Any,
    channel: str | None,
    values: dict[str, Any] | None,
    errors: dict[str, str],
    status: int = 200,
    shown_secrets: dict[str, tuple[Label, str]] | None = None,
    checks: list[dict[str, Any]] | None = None,
) -> Response:
    rows, inbox = inbox_admin.inboxes_view(runtime(request).sessions, me.actor, inbox.id if inbox is not None else None)
    if inbox is not None:
        channel = inbox.channel
    form = channel_form(channel) if channel else None
    if inbox is not None and values is None and form is not None:
        values = {
            "name": inbox.name,
            "active": inbox.active,
            "hours": inbox.business_hours or None,
            **_form_values(dict(inbox.settings or {}), form),
        }
    values = values or (
        {"name": "", "active": True, "hours": None, **_form_values({}, form)} if form is not None else {}
    )
    implementation = get_channel(channel) if channel else None
    snippet, webhook = None, ""
    if inbox is not None and implementation is not None:
        config = InboxConfig(inbox.id, inbox.identifier, dict(inbox.settings or {}), {})
        snippet = implementation.embed_snippet(config, str(request.base_url).rstrip("/"))
    # Where the provider posts: a provisioning channel registers it on save, others have it pasted at the provider.
    webhook = (
        webhook_url(runtime(request).settings.resolved_public_url, inbox.channel, inbox.identifier)
        if inbox is not None and implementation is not None and implementation.supports(Feature.WEBHOOK)
        else ""
    )
    return render(
        request,
        "admin/setup_inboxes.html",
        base_context(
            me,
            nav="admin-inboxes",
            inboxes=rows,
            inbox=inbox,
            channel=channel,
            channels=channel_kinds(),
            fields=form.fields if form else (),
            v=values,
            errors=errors,
            days=DAYS,
            hours=hours_fields(values.get("hours")),
            shown_secrets=shown_secrets or {},
            checks=checks,
            snippet=snippet or "",
            webhook=webhook,
            extra_pages=implementation.admin_pages(inbox.id) if inbox is not None and implementation else [],
            can_check=implementation is not None and implementation.supports(Feature.CONNECTION_CHECK),
            saved=request.query_params.get("saved"),
        ),
        status_code=status,
    )


@router.get("/admin/inboxes")
def inboxes_page(request: Request, channel: str | None = None, me: Me = MeDep) -> Response:
    _inbox_admin(me)
    if channel is not None and channel not in channel_kinds():
        channel = None
    return _inbox_page(request, me, inbox=None, channel=channel, values=None, errors={})


# Before the routes with an {inbox_id}, which would otherwise take "check" for an id.
@router.post("/admin/inboxes/check")
async def inbox_check_new(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return await _check(request, me, form, None)


@router.get("/admin/inboxes/{inbox_id}")
def inbox_edit_page(inbox_id: int, request: Request, me: Me = MeDep) -> Response:
    _inbox_admin(me)
    return _inbox_page(
        request,
        me,
        inbox=inbox_admin.get_inbox(runtime(request).sessions, me.actor, inbox_id),
        channel=None,
        values=None,
        errors={},
    )


def _inbox_form(
    me: Me, form: dict[str, Any], channel: str, current: dict[str, Any]
) -> tuple[FormReader, dict[str, Any], dict[str, str], dict[str, Any]]:
    reader = FormReader(form, me.lang)
    name = reader.text("name", required=True)
    settings, secrets_, shown = _read_settings(reader, channel_form(channel), current)
    hours = reader.hours()
    values = {"name": name or "", "active": reader.checked("active"), "hours": hours, **shown}
    return reader, settings, secrets_, values | {"_hours": hours}


@router.post("/admin/inboxes")
def inbox_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _inbox_admin(me)
    channel = str(form.get("channel") or "")
    if channel not in channel_kinds():
        return _inbox_page(
            request,
            me,
            inbox=None,
            channel=None,
            values=None,
            errors={
                "_form": translate("inbox.channel_unknown", me.lang, value=channel, known=", ".join(channel_kinds()))
            },
            status=422,
        )
    reader, settings, secrets_, values = _inbox_form(me, form, channel, {})
    rt = runtime(request)
    try:
        reader.done()
        inbox, all_secrets = inbox_admin.create_inbox(
            rt.sessions,
            rt.secretbox,
            me.actor,
            name=values["name"],
            channel=channel,
            settings=settings,
            secrets_=secrets_,
            business_hours=values["_hours"],
        )
    except FormErrors as exc:
        return _inbox_page(request, me, inbox=None, channel=channel, values=values, errors=exc.errors, status=422)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _inbox_page(
            request,
            me,
            inbox=None,
            channel=channel,
            values=values,
            errors=_errors(exc, me.lang, channel_form(channel)),
            status=422,
        )
    shown = {
        item.name: (item.label, all_secrets[item.name])
        for item in channel_form(channel).shown_once
        if all_secrets.get(item.name)
    }
    if not shown:
        return saved_redirect(f"/admin/inboxes/{inbox.id}")
    return _inbox_page(request, me, inbox=inbox, channel=None, values=None, errors={}, status=201, shown_secrets=shown)


@router.post("/admin/inboxes/{inbox_id}")
def inbox_update(inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _inbox_admin(me)
    rt = runtime(request)
    inbox = inbox_admin.get_inbox(rt.sessions, me.actor, inbox_id)
    current = dict(inbox.settings or {})
    reader, settings, secrets_, values = _inbox_form(me, form, inbox.channel, current)
    try:
        reader.done()
        inbox_admin.update_inbox(
            rt.sessions,
            rt.secretbox,
            me.actor,
            inbox_id,
            name=values["name"],
            settings=settings,
            secrets_=secrets_,
            business_hours=values["_hours"] or {},
            active=values["active"],
        )
    except FormErrors as exc:
        return _inbox_page(request, me, inbox=inbox, channel=None, values=values, errors=exc.errors, status=422)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return _inbox_page(
            request,
            me,
            inbox=inbox,
            channel=None,
            values=values,
            errors=_errors(exc, me.lang, channel_form(inbox.channel)),
            status=422,
        )
    return saved_redirect(f"/admin/inboxes/{inbox_id}")


async def _check(request: Request, me: Me, form: dict[str, Any], inbox_id: int | None) -> Response:
    """Try the settings as typed (not saved) against the provider; each failing step is shown next to its field."""
    _inbox_admin(me)
    rt = runtime(request)

    def prepare() -> tuple[Channel, InboxConfig, Any, str, dict[str, Any]]:
        inbox = inbox_admin.get_inbox(rt.sessions, me.actor, inbox_id) if inbox_id is not None else None
        channel = inbox.channel if inbox is not None else str(form.get("channel") or "")
        if channel not in channel_kinds():
            raise InvalidInput(
                "inbox.channel_unknown", field="channel", value=channel, known=", ".join(channel_kinds())
            )
        reader, settings, secrets_, values = _inbox_form(me, form, channel, dict(inbox.settings or {}) if inbox else {})
        reader.done()
        implementation, config = inbox_admin.check_config(
            rt.sessions,
            rt.secretbox,
            me.actor,
            inbox_id=inbox_id,
            channel=channel,
            settings=settings,
            secrets_=secrets_,
        )
        return implementation, config, inbox, channel, values

    try:
        implementation, config, inbox, channel, values = await run_in_threadpool(prepare)
    except FormErrors as exc:
        return await run_in_threadpool(_check_failed, request, me, form, inbox_id, exc.errors)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return await run_in_threadpool(_check_failed, request, me, form, inbox_id, None, exc)
    results = await run_in_threadpool(implementation.check, config)
    checks = [
        {"step": r.step, "ok": r.ok, "message": translate(r.key, me.lang, **r.params) if r.key else ""} for r in results
    ]
    settings_form = channel_form(channel)
    errors: dict[str, str] = {}
    for r in results:
        if not r.ok:
            errors.setdefault(
                settings_form.field_for_error(r.setting) or "_form",
                translate(r.key, me.lang, **r.params) if r.key else r.step,
            )
    return await run_in_threadpool(
        lambda: _inbox_page(
            request,
            me,
            inbox=inbox,
            channel=channel,
            values=values,
            errors=errors,
            status=422 if errors else 200,
            checks=checks,
        )
    )


def _check_failed(
    request: Request,
    me: Me,
    form: dict[str, Any],
    inbox_id: int | None,
    errors: dict[str, str] | None,
    exc: RaccordoError | None = None,
) -> Response:
    inbox = inbox_admin.get_inbox(runtime(request).sessions, me.actor, inbox_id) if inbox_id is not None else None
    channel = inbox.channel if inbox is not None else str(form.get("channel") or "")
    if channel not in channel_kinds():
        return _inbox_page(
            request,
            me,
            inbox=None,
            channel=None,
            values=None,
            errors={"_form": error_message(exc, me.lang) if exc else ""},
            status=422,
        )
    _, _, _, values = _inbox_form(me, form, channel, dict(inbox.settings or {}) if inbox else {})
    if exc is not None:
        errors = _errors(exc, me.lang, channel_form(channel))
    return _inbox_page(request, me, inbox=inbox, channel=channel, values=values, errors=errors or {}, status=422)


@router.post("/admin/inboxes/{inbox_id}/check")
async def inbox_check_saved(
    inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep
) -> Response:
    return await _check(request, me, form, inbox_id)
