"""Admin setup pages: inboxes (each channel's settings, the connection check, business hours);
users and teams are in ``accounts.pages.admin``, side-panel apps in ``desk.pages.content``. Plain forms posted with the CSRF token; the same
services as the API check every value and their errors are shown, translated, next to the field
they name (see ``admin_pages`` for the conventions). Secrets are write-only: a password field is
never filled back, a generated secret (an inbox's HMAC secret, an app's signing secret) is shown
once, on the page that answers the form that created it.

The settings form of a channel is described by ``CHANNEL_FORMS`` (one entry per channel kind,
field names as the channel module's ``validate_settings`` takes them); a channel installed without
an entry gets its settings as a JSON text, so adding a channel never needs this module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from raccordo.accounts.api.deps import runtime
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.pages.session import Me, MeDep
from raccordo.channels.base import channel_kinds, get_channel
from raccordo.channels.services import inboxes
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound, RaccordoError
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Inbox
from raccordo.platform.web.forms import FormDep, FormErrors, FormReader, error_message, hours_fields, saved_redirect
from raccordo.platform.web.pages import PageRoute, base_context
from raccordo.platform.web.templating import render
from raccordo.record.services.records import get_owned

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


# --- channel settings forms ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, email, url, port, security, secret, lines, textarea, color, json
    required: bool = False


SECURITY = ("tls", "starttls", "none")
CHANNEL_FORMS: dict[str, tuple[Field, ...]] = {
    "email": (
        Field("address", "email", True), Field("from_name", "text"),
        Field("imap_host", "text"), Field("imap_port", "port"), Field("imap_security", "security"), Field("imap_username", "text"), Field("imap_password", "secret"), Field("imap_folder", "text"),
        Field("smtp_host", "text"), Field("smtp_port", "port"), Field("smtp_security", "security"), Field("smtp_username", "text"), Field("smtp_password", "secret"),
    ),
    "widget": (Field("allowed_origins", "lines", True), Field("title", "text"), Field("greeting", "textarea"), Field("color_primary", "color"), Field("color_on_primary", "color"), Field("prechat_fields", "json")),
    "api": (Field("callback_url", "url"),),
}
GENERIC_FORM = (Field("settings_json", "json"),)
# Secrets a channel generates that the integrator must copy: shown once after creating the inbox.
SHOWN_ONCE = ("hmac_secret",)


def channel_form(channel: str) -> tuple[Field, ...]:
    return CHANNEL_FORMS.get(channel, GENERIC_FORM)


def _form_values(settings: dict[str, Any], channel: str) -> dict[str, Any]:
    """What the form's fields show for stored settings (secrets: never)."""
    values: dict[str, Any] = {}
    for field in channel_form(channel):
        if field.kind == "secret":
            values[field.name] = ""
        elif field.kind == "lines":
            values[field.name] = "\n".join(settings.get(field.name) or [])
        elif field.kind == "color":
            values[field.name] = (settings.get("colors") or {}).get(field.name.removeprefix("color_"), "")
        elif field.kind == "json":
            value = settings if field.name == "settings_json" else settings.get(field.name)
            values[field.name] = json.dumps(value, ensure_ascii=False, indent=1) if value else ""
        else:
            value = settings.get(field.name)
            values[field.name] = "" if value is None else value
    return values


def _read_settings(reader: FormReader, channel: str, current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(settings, secrets, what to show back) from the posted form; settings the form does not
    show are kept as they are, an empty secret field keeps the stored secret."""
    settings = dict(current)
    secrets_: dict[str, str] = {}
    shown: dict[str, Any] = {}
    colors = dict(current.get("colors") or {})
    for field in channel_form(channel):
        raw = str(reader.form.get(field.name) or "")
        shown[field.name] = "" if field.kind == "secret" else raw
        text = raw.strip()
        if field.required and not text:
            reader.errors[field.name] = translate("ui.error.required", reader.lang)
            continue
        if field.kind == "secret":
            if text:
                secrets_[field.name] = raw
        elif field.kind == "port":
            value = reader.integer(field.name, 1, 65535)
            if value is None:
                settings.pop(field.name, None)
            else:
                settings[field.name] = value
        elif field.kind == "lines":
            settings[field.name] = [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
        elif field.kind == "color":
            if text:
                colors[field.name.removeprefix("color_")] = text
        elif field.kind == "json":
            parsed = reader.json(field.name, dict if field.name == "settings_json" else list, None)
            if field.name == "settings_json":
                settings = parsed if parsed is not None else ({} if not text else settings)
            elif parsed is not None or not text:
                settings[field.name] = parsed or []
        elif text:
            settings[field.name] = text
        else:
            settings.pop(field.name, None)
    if colors:
        settings["colors"] = colors
    return settings, secrets_, shown


# --- inboxes ---------------------------------------------------------------------------------------


def _inbox_admin(me: Me) -> None:
    me.require(Permission.MANAGE_INBOXES)


def _inbox_page(request: Request, me: Me, *, inbox: Inbox | None, channel: str | None, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200,
                shown_secrets: dict[str, str] | None = None, checks: list[dict[str, Any]] | None = None) -> Response:
    rt = runtime(request)
    with unit_of_work(rt.sessions) as session:
        rows = inboxes.list_inboxes(session, me.actor)
        if inbox is not None:
            inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox.id)
            channel = inbox.channel
            if values is None:
                values = {"name": inbox.name, "active": inbox.active, "hours": inbox.business_hours or None, **_form_values(dict(inbox.settings or {}), inbox.channel)}
        values = values or ({"name": "", "active": True, "hours": None, **_form_values({}, channel)} if channel else {})
        base = str(request.base_url).rstrip("/")
        snippet = f'<script src="{base}/widget/widget.js" data-inbox="{inbox.identifier}" async></script>' if inbox is not None and inbox.channel == "widget" else ""
        return render(request, "admin/setup_inboxes.html", base_context(
            me, nav="admin-inboxes", inboxes=rows, inbox=inbox, channel=channel, channels=channel_kinds(), fields=channel_form(channel) if channel else (), v=values, errors=errors,
            security=SECURITY, days=DAYS, hours=hours_fields(values.get("hours")), shown_secrets=shown_secrets or {}, checks=checks, snippet=snippet,
            can_check=bool(channel and _has_check(channel)),
            saved=request.query_params.get("saved"),
        ), status_code=status)


def _has_check(channel: str) -> bool:
    from raccordo.channels.base import Channel

    implementation = get_channel(channel)
    return implementation is not None and type(implementation).check is not Channel.check


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
    with unit_of_work(runtime(request).sessions) as session:
        inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox_id)
    return _inbox_page(request, me, inbox=inbox, channel=None, values=None, errors={})


def _inbox_form(me: Me, form: dict[str, Any], channel: str, current: dict[str, Any]) -> tuple[FormReader, dict[str, Any], dict[str, str], dict[str, Any]]:
    reader = FormReader(form, me.lang)
    name = reader.text("name", required=True)
    settings, secrets_, shown = _read_settings(reader, channel, current)
    hours = reader.hours()
    values = {"name": name or "", "active": reader.checked("active"), "hours": hours, **shown}
    return reader, settings, secrets_, values | {"_hours": hours}


@router.post("/admin/inboxes")
def inbox_create(request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _inbox_admin(me)
    channel = str(form.get("channel") or "")
    if channel not in channel_kinds():
        return _inbox_page(request, me, inbox=None, channel=None, values=None, errors={"_form": translate("inbox.channel_unknown", me.lang, value=channel, known=", ".join(channel_kinds()))}, status=422)
    reader, settings, secrets_, values = _inbox_form(me, form, channel, {})
    fields = {f.name for f in channel_form(channel)} | {"name", "business_hours"}
    rt = runtime(request)
    try:
        reader.done()
        with unit_of_work(rt.sessions) as session:
            inbox, all_secrets = inboxes.create_inbox(session, rt.secretbox, me.actor, name=values["name"], channel=channel, settings=settings, secrets_=secrets_, business_hours=values["_hours"])
            inbox_id = inbox.id
    except FormErrors as exc:
        return _inbox_page(request, me, inbox=None, channel=channel, values=values, errors=exc.errors, status=422)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = {"business_hours": error_message(exc, me.lang)} if (exc.key or "").startswith("hours.") else _errors(exc, me.lang, fields)
        return _inbox_page(request, me, inbox=None, channel=channel, values=values, errors=errors, status=422)
    shown = {k: v for k, v in all_secrets.items() if k in SHOWN_ONCE}
    with unit_of_work(rt.sessions) as session:
        inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox_id)
    if not shown:
        return saved_redirect(f"/admin/inboxes/{inbox_id}")
    return _inbox_page(request, me, inbox=inbox, channel=None, values=None, errors={}, status=201, shown_secrets=shown)


@router.post("/admin/inboxes/{inbox_id}")
def inbox_update(inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    _inbox_admin(me)
    rt = runtime(request)
    with unit_of_work(rt.sessions) as session:
        inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox_id)
        current = dict(inbox.settings or {})
    reader, settings, secrets_, values = _inbox_form(me, form, inbox.channel, current)
    fields = {f.name for f in channel_form(inbox.channel)} | {"name", "business_hours"}
    try:
        reader.done()
        with unit_of_work(rt.sessions) as session:
            inboxes.update_inbox(session, rt.secretbox, me.actor, inbox_id, name=values["name"], settings=settings, secrets_=secrets_, business_hours=values["_hours"] or {}, active=values["active"])
    except FormErrors as exc:
        return _inbox_page(request, me, inbox=inbox, channel=None, values=values, errors=exc.errors, status=422)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        errors = {"business_hours": error_message(exc, me.lang)} if (exc.key or "").startswith("hours.") else _errors(exc, me.lang, fields)
        return _inbox_page(request, me, inbox=inbox, channel=None, values=values, errors=errors, status=422)
    return saved_redirect(f"/admin/inboxes/{inbox_id}")


async def _check(request: Request, me: Me, form: dict[str, Any], inbox_id: int | None) -> Response:
    """Try the settings as typed (not saved) against the provider; each failing step is shown next to its field."""
    _inbox_admin(me)
    rt = runtime(request)

    def prepare() -> tuple[Any, Any, Inbox | None, str, dict[str, Any], FormReader, dict[str, Any]]:
        with unit_of_work(rt.sessions) as session:
            inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox_id) if inbox_id is not None else None
            channel = inbox.channel if inbox is not None else str(form.get("channel") or "")
            if channel not in channel_kinds():
                raise InvalidInput("inbox.channel_unknown", field="channel", value=channel, known=", ".join(channel_kinds()))
            reader, settings, secrets_, values = _inbox_form(me, form, channel, dict(inbox.settings or {}) if inbox else {})
            reader.done()
            implementation, config = inboxes.check_config(session, rt.secretbox, me.actor, inbox_id=inbox_id, channel=channel, settings=settings, secrets_=secrets_)
            return implementation, config, inbox, channel, values, reader, settings

    try:
        implementation, config, inbox, channel, values, _, _ = await run_in_threadpool(prepare)
    except FormErrors as exc:
        return await run_in_threadpool(_check_failed, request, me, form, inbox_id, exc.errors)
    except (NotFound, Forbidden):
        raise
    except RaccordoError as exc:
        return await run_in_threadpool(_check_failed, request, me, form, inbox_id, None, exc)
    results = await run_in_threadpool(implementation.check, config)
    checks = [{"step": r.step, "ok": r.ok, "message": translate(r.key, me.lang, **r.params) if r.key else ""} for r in results]
    fields = {f.name for f in channel_form(channel)}
    errors: dict[str, str] = {}
    for r in results:
        if not r.ok:
            field = (r.setting or "").split(".")[-1]
            key = field if field in fields else "_form"
            errors.setdefault(key, translate(r.key, me.lang, **r.params) if r.key else r.step)
    return await run_in_threadpool(lambda: _inbox_page(request, me, inbox=inbox, channel=channel, values=values, errors=errors, status=422 if errors else 200, checks=checks))


def _check_failed(request: Request, me: Me, form: dict[str, Any], inbox_id: int | None, errors: dict[str, str] | None, exc: RaccordoError | None = None) -> Response:
    inbox = None
    if inbox_id is not None:
        with unit_of_work(runtime(request).sessions) as session:
            inbox = get_owned(session, Inbox, me.actor.tenant_id, inbox_id)
    channel = inbox.channel if inbox is not None else str(form.get("channel") or "")
    if channel not in channel_kinds():
        return _inbox_page(request, me, inbox=None, channel=None, values=None, errors={"_form": error_message(exc, me.lang) if exc else ""}, status=422)
    _, _, _, values = _inbox_form(me, form, channel, dict(inbox.settings or {}) if inbox else {})
    if exc is not None:
        errors = _errors(exc, me.lang, {f.name for f in channel_form(channel)} | {"name"})
    return _inbox_page(request, me, inbox=inbox, channel=channel, values=values, errors=errors or {}, status=422)


@router.post("/admin/inboxes/{inbox_id}/check")
async def inbox_check_saved(inbox_id: int, request: Request, me: Me = MeDep, form: dict[str, Any] = FormDep) -> Response:
    return await _check(request, me, form, inbox_id)
